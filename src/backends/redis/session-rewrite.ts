/** src/store/session-rewrite.ts in Redis: SCAN of REDIS_AUTH_DB, compare-and-set by one script. */
import { readFileSync } from 'node:fs';
import type { SessionRecordRewriter, StoredSession } from '../../store/session-rewrite.js';
import { orUnavailable } from '../unavailable.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';
import { scanKeys } from './scan.js';

interface RewriteCommands {
  replaceSession(key: string, expected: string, next: string): Promise<number>;
}

export class RedisSessionRewriter implements SessionRecordRewriter {
  private readonly commands: RewriteCommands;

  /** `client` is the REDIS_AUTH_DB connection. */
  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    if ((client as unknown as Partial<RewriteCommands>).replaceSession === undefined) {
      client.defineCommand('replaceSession', {
        numberOfKeys: 1,
        lua: readFileSync(new URL('./scripts/replaceSession-1.lua', import.meta.url), 'utf8'),
      });
    }
    this.commands = client as unknown as RewriteCommands;
  }

  list(): Promise<StoredSession[]> {
    return orUnavailable('redis', async () => {
      // Every master on a cluster.
      const unique = (await scanKeys(this.client, this.keys.authPattern())).filter((key) => this.keys.isSessionKey(key));
      const values = await Promise.all(unique.map((key) => this.client.get(key)));
      return unique.flatMap((key, i) => {
        const raw = values[i];
        return typeof raw === 'string' ? [{ clientKey: this.keys.clientKeyOf(key), raw }] : [];
      });
    });
  }

  replace(clientKey: string, expected: string, next: string): Promise<boolean> {
    return orUnavailable('redis', async () => (await this.commands.replaceSession(this.keys.session(clientKey), expected, next)) === 1);
  }
}
