/**
 * SPEC §9 on Redis: the record and its log entry written by one script (storeMessage-4.lua), the
 * consumer's reads, bookmarks, deletion that keeps duplicate detection, and the webhook
 * dispatcher's state. Key names: keys.ts; the atomic steps: scripts/.
 *
 * On a Redis Cluster (keys.cluster) the two multi-slot steps are split into one-slot scripts:
 * storing (checkDeleted-1, storeRecord-2 with its "unlogged" marker, appendLog-2,
 * forgetUnlogged-1; log-repair.ts finishes what a crash interrupted) and deleting
 * (rememberDeleted-1, deleteRecord-2, then ZREM). Every answer stays the same.
 */
import { decodeMessage, encodeMessage, type MessageRecord, type TtlSeconds } from '../../store/store.js';
import type { Bookmarks, ConsumerStores, MessageLog, StoredEntry, WebhookState } from '../../store/message-log.js';
import { orUnavailable } from '../unavailable.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';
import { script, scriptsOn, type ScriptRunner, type Scripts } from './scripts.js';
import { RedisMessageStore } from './store.js';
import { NO_REPLICATION_WAIT, type ReplicationWait } from './replication-wait.js';
import { SeenLogHead, unloggedMarker } from './log-repair.js';

const BACKEND = 'redis';
const PURGE_BATCH = 500;

/** SPEC §2: the client key of the session that sent a record. */
function senderKey(record: Pick<MessageRecord, 'user_id' | 'device_id'>): string {
  return `${record.user_id}${record.device_id}`;
}

/** The MessageStore of Redis with the log: SET NX and the entry in one script. */
export class RedisLoggedMessageStore extends RedisMessageStore {
  private readonly storeMessage: ScriptRunner;
  private readonly touchRecord: ScriptRunner;
  private readonly scripts: Scripts;

  constructor(
    client: RedisClient,
    private readonly keyNames: RedisKeys,
    /** The deleted-ids set of a session lives as long as the session: renewed by each submit. */
    private readonly sessionTtlSeconds: TtlSeconds,
    /** SPEC §13 REDIS_WAIT_REPLICAS: `delivered` and `duplicate` are answered once replicas hold the record. */
    private readonly replication: ReplicationWait = NO_REPLICATION_WAIT,
    /** Cluster: the log head this process has seen, which each marker carries (log-repair.ts says why). */
    private readonly seenLogHead: SeenLogHead = new SeenLogHead(),
  ) {
    super(client, keyNames);
    this.scripts = scriptsOn(client);
    this.storeMessage = script(this.scripts, 'storeMessage');
    this.touchRecord = script(this.scripts, 'touchRecord');
  }

  /** Redis has the record and its entry when the reply arrives: only then may `delivered` be answered. */
  override putIfAbsent(record: MessageRecord, ttl: TtlSeconds): Promise<boolean> {
    const keys = this.keyNames;
    const key = keys.message(record.id);
    // SPEC §13 WAIT, on every master written (on a cluster the log's master is another one), and for
    // a duplicate too once its record is part of the connection's replicated writes (touchRecord-1).
    const written = keys.cluster ? [key, keys.logEntries] : [key];
    return orUnavailable(BACKEND, () =>
      this.replication.replicated(written, () => (keys.cluster ? this.putInSteps(record, ttl) : this.putInOne(record, ttl)), {
        found: (stored) => !stored,
        confirm: () => this.touchRecord([key], []),
      }),
    );
  }

  /** One Redis or Sentinel: storeMessage-4.lua. */
  private async putInOne(record: MessageRecord, ttl: TtlSeconds): Promise<boolean> {
    const keys = this.keyNames;
    const reply = await this.storeMessage(
      [keys.message(record.id), keys.logEntries, keys.logSequence, keys.deletedInSession(senderKey(record))],
      [record.id, encodeMessage(record), ttl, this.sessionTtlSeconds],
    );
    return Number(reply) > 0;
  }

  /**
   * Cluster: storeMessage-4.lua's steps, each in its own slot, in an order a crash cannot turn
   * into a wrong answer. Until appendLog-2 has answered, nothing is answered: a crash before it
   * leaves the record with its marker, the device's retry gets `duplicate`, and the repair
   * (log-repair.ts) writes the missing entry.
   */
  private putInSteps(record: MessageRecord, ttl: TtlSeconds): Promise<boolean> {
    const keys = this.keyNames;
    const id = record.id;
    return orUnavailable(BACKEND, async () => {
      const deleted = await script(this.scripts, 'checkDeleted')([keys.deletedInSession(senderKey(record))], [id, this.sessionTtlSeconds]);
      if (Number(deleted) === 1) return false;
      // Taken before the record is set: this attempt's own entry will be above it (log-repair.ts).
      const marker = unloggedMarker(Date.now(), this.seenLogHead);
      const stored = await script(this.scripts, 'storeRecord')([keys.message(id), keys.unlogged(id)], [encodeMessage(record), ttl, marker]);
      if (Number(stored) !== 1) return false;
      await this.appendEntry(id);
      await this.forgetMarker(id, marker);
      return true;
    });
  }

  /** Step 3 (appendLog-2.lua "stored"). Its own method so a test can stand a crash in for it. */
  protected async appendEntry(id: string): Promise<void> {
    const keys = this.keyNames;
    this.seenLogHead.saw(Number(await script(this.scripts, 'appendLog')([keys.logEntries, keys.logSequence], [id, 'stored'])));
  }

  /** Step 4 (forgetUnlogged-1.lua). Its own method so a test can stand a crash in for it. */
  protected async forgetMarker(id: string, marker: string): Promise<void> {
    await script(this.scripts, 'forgetUnlogged')([this.keyNames.unlogged(id)], [marker]);
  }
}

export class RedisMessageLog implements MessageLog {
  private readonly deleteScript: ScriptRunner;
  private readonly scripts: Scripts;

  constructor(
    private readonly client: RedisClient,
    /** REDIS_AUTH_DB: how long the sender's session lives decides how long a deleted id is remembered. */
    private readonly sessions: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    this.scripts = scriptsOn(client);
    this.deleteScript = script(this.scripts, 'deleteMessage');
  }

  head(): Promise<number> {
    return orUnavailable(BACKEND, async () => Number((await this.client.get(this.keys.logSequence)) ?? 0));
  }

  entriesAfter(sequence: number, limit: number): Promise<StoredEntry[]> {
    return orUnavailable(BACKEND, async () => {
      const flat = await this.client.zrangebyscore(this.keys.logEntries, `(${sequence}`, '+inf', 'WITHSCORES', 'LIMIT', 0, limit);
      const entries: StoredEntry[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ id: flat[i]!, sequence: Number(flat[i + 1]) });
      return entries;
    });
  }

  records(ids: readonly string[]): Promise<Array<MessageRecord | null>> {
    return orUnavailable(BACKEND, async () => {
      // One GET per key rather than MGET: one key per command keeps the reads cluster-ready.
      const values = await Promise.all(ids.map((id) => this.client.get(this.keys.message(id))));
      return values.map((json) => (json === null ? null : decodeMessage(json)));
    });
  }

  countAfter(sequence: number): Promise<number> {
    return orUnavailable(BACKEND, () => this.client.zcount(this.keys.logEntries, `(${sequence}`, '+inf'));
  }

  deleteMessage(id: string): Promise<boolean> {
    const keys = this.keys;
    return orUnavailable(BACKEND, async () => {
      const json = await this.client.get(keys.message(id));
      const record = json === null ? null : decodeMessage(json);
      if (record === null) {
        // No record (or not one of ours): its entry, if any, goes; nothing is remembered.
        await this.client.zrem(keys.logEntries, id);
        return false;
      }
      const sender = senderKey(record);
      const remaining = await this.sessions.pttl(keys.session(sender));
      if (keys.cluster) {
        // deleteMessage-3.lua's steps, remembering first: a crash after it leaves a record the
        // consumer's retry deletes, never a deleted id that duplicate detection forgot.
        if (remaining !== -2) await script(this.scripts, 'rememberDeleted')([keys.deletedInSession(sender)], [id, remaining]);
        const deleted = Number(await script(this.scripts, 'deleteRecord')([keys.message(id), keys.unlogged(id)], []));
        await this.client.zrem(keys.logEntries, id);
        return deleted === 1;
      }
      const reply = await this.deleteScript([keys.message(id), keys.logEntries, keys.deletedInSession(sender)], [id, remaining]);
      return Number(reply) === 1;
    });
  }

  purge(): Promise<number> {
    return orUnavailable(BACKEND, async () => {
      let removed = 0;
      for (;;) {
        const flat = await this.client.zrange(this.keys.logEntries, '0', String(PURGE_BATCH - 1), 'WITHSCORES');
        if (flat.length === 0) return removed;
        const ids: string[] = [];
        const scores: number[] = [];
        for (let i = 0; i + 1 < flat.length; i += 2) {
          ids.push(flat[i]!);
          scores.push(Number(flat[i + 1]));
        }
        const exists = await Promise.all(ids.map((id) => this.client.exists(this.keys.message(id))));
        const firstLive = exists.findIndex((n) => n === 1);
        const dead = firstLive === -1 ? ids.length : firstLive;
        if (dead === 0) return removed;
        // By score: an id stored again meanwhile has a new, higher score and stays.
        removed += await this.client.zremrangebyscore(this.keys.logEntries, '-inf', scores[dead - 1]!);
        if (firstLive !== -1) return removed;
      }
    });
  }
}

export class RedisBookmarks implements Bookmarks {
  private readonly advanceScript: ScriptRunner;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    this.advanceScript = script(scriptsOn(client), 'advanceBookmark');
  }

  get(name: string): Promise<number | null> {
    return orUnavailable(BACKEND, async () => {
      const value = await this.client.hget(this.keys.consumers, name);
      return value === null ? null : Number(value);
    });
  }

  list(): Promise<Array<{ name: string; sequence: number }>> {
    return orUnavailable(BACKEND, async () =>
      Object.entries(await this.client.hgetall(this.keys.consumers))
        .map(([name, value]) => ({ name, sequence: Number(value) }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    );
  }

  advance(name: string, sequence: number): Promise<'moved' | 'same' | 'backwards'> {
    return orUnavailable(BACKEND, async () => {
      const reply = Number(await this.advanceScript([this.keys.consumers], [name, sequence]));
      return reply === 1 ? 'moved' : reply === 0 ? 'same' : 'backwards';
    });
  }
}

export class RedisWebhookState implements WebhookState {
  private readonly claimScript: ScriptRunner;
  private readonly releaseScript: ScriptRunner;
  private readonly advanceScript: ScriptRunner;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    const scripts = scriptsOn(client);
    this.claimScript = script(scripts, 'claimLease');
    this.releaseScript = script(scripts, 'releaseLease');
    this.advanceScript = script(scripts, 'advanceWebhook');
  }

  claim(owner: string, leaseMs: number): Promise<boolean> {
    return orUnavailable(BACKEND, async () => Number(await this.claimScript([this.keys.webhookLease], [owner, leaseMs])) === 1);
  }

  release(owner: string): Promise<void> {
    return orUnavailable(BACKEND, async () => void (await this.releaseScript([this.keys.webhookLease], [owner])));
  }

  delivered(): Promise<number> {
    return orUnavailable(BACKEND, async () => Number((await this.client.get(this.keys.webhookDelivered)) ?? 0));
  }

  advance(owner: string, sequence: number): Promise<boolean> {
    return orUnavailable(
      BACKEND,
      async () => Number(await this.advanceScript([this.keys.webhookLease, this.keys.webhookDelivered], [owner, sequence])) === 1,
    );
  }
}

/** The consumer side of Redis: messages connection for the log, sessions connection for session lifetimes. */
export function redisConsumerStores(messages: RedisClient, sessions: RedisClient, keys: RedisKeys): ConsumerStores {
  return {
    log: new RedisMessageLog(messages, sessions, keys),
    bookmarks: new RedisBookmarks(messages, keys),
    webhook: new RedisWebhookState(messages, keys),
  };
}
