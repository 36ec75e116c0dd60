/** src/store/installation-secret.ts in the embedded file: one row per secret, first writer wins. */
import type { InstallationSecretStore } from '../../store/installation-secret.js';
import { orUnavailable } from '../unavailable.js';
import type { WriteBatcher } from './write-batch.js';

/** Created with the rest of the schema by openEmbeddedDatabase. */
export const INSTALLATION_SECRETS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS installation_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
`;

export class SqliteInstallationSecrets implements InstallationSecretStore {
  private readonly insert;
  private readonly read;

  constructor(private readonly writes: WriteBatcher) {
    this.insert = writes.db.prepare<[string, string]>(`INSERT INTO installation_secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING`);
    this.read = writes.db.prepare<[string], { value: string }>(`SELECT value FROM installation_secrets WHERE name = ?`);
  }

  getOrCreate(name: string, candidate: string): Promise<string> {
    return orUnavailable('sqlite', () =>
      this.writes.run(() => {
        this.insert.run(name, candidate);
        return this.read.get(name)?.value ?? candidate;
      }),
    );
  }
}
