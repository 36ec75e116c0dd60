/** src/store/installation-secret.ts in Redis: `SET NX`, then whatever won is read back. */
import type { InstallationSecretStore } from '../../store/installation-secret.js';
import { orUnavailable } from '../unavailable.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';

export class RedisInstallationSecrets implements InstallationSecretStore {
  /** `client` is the REDIS_AUTH_DB connection. */
  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  getOrCreate(name: string, candidate: string): Promise<string> {
    return orUnavailable('redis', async () => {
      const key = this.keys.installationSecret(name);
      await this.client.set(key, candidate, 'NX');
      return (await this.client.get(key)) ?? candidate;
    });
  }
}
