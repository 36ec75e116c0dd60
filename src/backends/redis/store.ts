/**
 * Sessions and messages in Redis (SPEC §4, §6, §7), the same records as the embedded store.
 * Each method is one command on one key (keys.ts); set-if-absent is `SET … NX`, so the
 * atomicity SPEC §4 and §6 ask for is Redis's own.
 */
import {
  decodeMessage,
  decodeSession,
  encodeMessage,
  encodeSession,
  type MessageRecord,
  type MessageStore,
  type SessionRecord,
  type SessionStore,
  type TtlSeconds,
} from '../../store/store.js';
import { orUnavailable } from '../unavailable.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';
import { scanKeys } from './scan.js';

const BACKEND = 'redis';

/** `SET key value NX`, with `EX ttl` when the record expires: true when this call wrote it. */
async function setIfAbsent(client: RedisClient, key: string, value: string, ttl: TtlSeconds): Promise<boolean> {
  const reply = ttl > 0 ? await client.set(key, value, 'EX', ttl, 'NX') : await client.set(key, value, 'NX');
  return reply === 'OK';
}

/** In REDIS_AUTH_DB. */
export class RedisSessionStore implements SessionStore {
  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  create(key: string, record: SessionRecord, ttl: TtlSeconds): Promise<boolean> {
    return orUnavailable(BACKEND, () => setIfAbsent(this.client, this.keys.session(key), encodeSession(record), ttl));
  }

  get(key: string): Promise<SessionRecord | null> {
    return orUnavailable(BACKEND, async () => {
      const json = await this.client.get(this.keys.session(key));
      return json === null ? null : decodeSession(json);
    });
  }

  renew(key: string, ttl: TtlSeconds): Promise<void> {
    return orUnavailable(BACKEND, async () => {
      // TTL 0 means never: a session made while a TTL was configured loses its expiry, as in SQLite.
      if (ttl > 0) await this.client.expire(this.keys.session(key), ttl);
      else await this.client.persist(this.keys.session(key));
    });
  }

  delete(key: string): Promise<boolean> {
    return orUnavailable(BACKEND, async () => (await this.client.del(this.keys.session(key))) === 1);
  }
}

/** In REDIS_MAIN_DB. */
export class RedisMessageStore implements MessageStore {
  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /** Redis has the record when its reply arrives: only then may the protocol answer `delivered`. */
  putIfAbsent(record: MessageRecord, ttl: TtlSeconds): Promise<boolean> {
    return orUnavailable(BACKEND, () => setIfAbsent(this.client, this.keys.message(record.id), encodeMessage(record), ttl));
  }

  get(id: string): Promise<MessageRecord | null> {
    return orUnavailable(BACKEND, async () => {
      const json = await this.client.get(this.keys.message(id));
      return json === null ? null : decodeMessage(json);
    });
  }

  /** SCAN (of every master, on a cluster) for message-shaped keys only, so other data sharing the database is never listed. */
  list(limit: number): Promise<MessageRecord[]> {
    return orUnavailable(BACKEND, async () => {
      const found = await scanKeys(this.client, this.keys.messagePattern, limit);
      // One GET per key rather than MGET: one key per command keeps the store cluster-ready.
      const values = await Promise.all(found.map((key) => this.client.get(key)));
      return values.flatMap((json) => {
        const record = json === null ? null : decodeMessage(json);
        return record === null ? [] : [record];
      });
    });
  }
}
