/**
 * Replicated acknowledgements (SPEC §13): with REDIS_WAIT_REPLICAS > 0, `delivered` and a new
 * session's public key are answered only once `WAIT` says that many replicas hold the write.
 * Not reached within REDIS_WAIT_TIMEOUT_MS = BackendUnavailableError, so 503 with Retry-After
 * like any outage. The write is not undone: the client's retry finds it and is answered
 * `duplicate` / `already auth`.
 *
 * Why it is built this way:
 * - WAIT counts replicas that acknowledged the last write *of the connection it runs on*, so it
 *   must run on the connection the write ran on (on Cluster: the owning master's connection,
 *   which WriteConnections names). A reconnect between the write and the WAIT's reply would make
 *   WAIT count from a fresh connection, which has written nothing: that case is an outage too.
 * - WAIT blocks its connection until it returns: every command behind it waits. So WAITs are
 *   coalesced per connection: one WAIT covers every write whose reply had arrived when it was
 *   sent; writes that finish while it runs share the next one. At most one WAIT runs and one
 *   is queued per connection, however many submits are in flight.
 * - A duplicate confirms a record too, so it waits as well (the message store makes the
 *   connection's replication offset cover the existing record first: scripts/touchRecord-1.lua).
 * - A new session's key pair may come from the durable key pool (key-pool.ts): its LPOP is a
 *   write too. On a cluster the pool's list is on another master than most sessions, so the pop
 *   is waited for there, before the session is written (replicatedIf); on one Redis or Sentinel
 *   it went out on the sessions connection, and the session write's WAIT after it covers it.
 */
import type { Redis } from 'ioredis';
import type { ReplicationWaitConfig } from '../../config/redis-failover.js';
import { BackendUnavailableError } from '../unavailable.js';

const BACKEND = 'redis';

/**
 * The connection a write to a key goes out on. On one Redis or Sentinel, the store's one client
 * for that database; on Cluster, the client of the master that owns the key's slot.
 */
export interface WriteConnections {
  connectionFor(key: string): Redis;
}

export function singleConnection(client: Redis): WriteConnections {
  return { connectionFor: () => client };
}

/** Extra command time a connection needs when a command may queue behind a WAIT (connection.ts). */
export function replicationWaitAllowanceMs(config: ReplicationWaitConfig | undefined): number {
  return config !== undefined && config.replicas > 0 ? config.timeoutMs : 0;
}

/** One connection's WAITs: one running, at most one queued, shared by every caller. */
class ConnectionWaits {
  /** Bumped whenever the connection closes: a WAIT on a later connection cannot vouch for an earlier write. */
  generation = 0;
  private running: Promise<unknown> = Promise.resolve();
  private queued: Promise<number> | null = null;

  constructor(
    private readonly client: Redis,
    private readonly replicas: number,
    private readonly timeoutMs: number,
  ) {
    client.on('close', () => {
      this.generation += 1;
    });
  }

  /** The replicas that hold every write of this connection whose reply has arrived by now. */
  acknowledged(): Promise<number> {
    if (this.queued !== null) return this.queued;
    const queued = this.running.then(() => {
      // From here on, a write that finishes was not yet answered when this WAIT goes out.
      this.queued = null;
      return this.client.wait(this.replicas, this.timeoutMs);
    });
    this.queued = queued;
    this.running = queued.catch(() => undefined);
    return queued;
  }
}

export class ReplicationWait {
  private readonly waits = new WeakMap<Redis, ConnectionWaits>();

  constructor(
    private readonly config: ReplicationWaitConfig,
    private readonly connections: WriteConnections,
  ) {}

  get enabled(): boolean {
    return this.config.replicas > 0;
  }

  /**
   * Runs `write` (the commands and scripts that write `keys`), then waits until REDIS_WAIT_REPLICAS
   * replicas hold it, on the connection of each key (one on a single Redis; on a cluster, one per
   * master written). `existing.confirm` runs when `write` reports it found the record already there
   * (a duplicate): a write on the same connection that makes the WAIT cover the existing value.
   */
  async replicated<T>(
    keys: string | readonly string[],
    write: () => Promise<T>,
    existing?: { found(result: T): boolean; confirm(): Promise<unknown> },
  ): Promise<T> {
    if (!this.enabled) return write();
    const result = await write();
    // Asked after the write: a write redirected to another master (a slot that moved) is waited for there.
    // Nothing can close a connection between the reply and this line (no I/O runs in between).
    const marks = this.marksFor(keys);
    if (existing !== undefined && existing.found(result)) await existing.confirm();
    await this.acknowledged(marks);
    return result;
  }

  /**
   * As replicated(), for a write that may have written nothing (an LPOP of an empty list): then
   * nothing waits, since a WAIT could only vouch for older writes, and with the replicas away it
   * would refuse a request that changed nothing.
   */
  async replicatedIf<T>(key: string, write: () => Promise<T>, wrote: (result: T) => boolean): Promise<T> {
    if (!this.enabled) return write();
    const result = await write();
    if (!wrote(result)) return result;
    await this.acknowledged(this.marksFor(key));
    return result;
  }

  /** The connections `keys` were just written on, with their generations now. */
  private marksFor(keys: string | readonly string[]): Array<{ waits: ConnectionWaits; generation: number }> {
    const clients = [...new Set((typeof keys === 'string' ? [keys] : keys).map((key) => this.connections.connectionFor(key)))];
    return clients.map((client) => {
      const waits = this.waitsOn(client);
      return { waits, generation: waits.generation };
    });
  }

  private async acknowledged(marks: ReadonlyArray<{ waits: ConnectionWaits; generation: number }>): Promise<void> {
    const counts = await Promise.all(marks.map((mark) => mark.waits.acknowledged()));
    if (marks.some((mark) => mark.waits.generation !== mark.generation)) {
      throw new BackendUnavailableError(BACKEND, new Error('the connection was lost between the write and WAIT: its replication is unknown'));
    }
    const fewest = Math.min(...counts);
    if (fewest < this.config.replicas) {
      throw new BackendUnavailableError(
        BACKEND,
        new Error(`WAIT: ${fewest} of ${this.config.replicas} replicas acknowledged within ${this.config.timeoutMs} ms`),
      );
    }
  }

  private waitsOn(client: Redis): ConnectionWaits {
    let waits = this.waits.get(client);
    if (waits === undefined) {
      waits = new ConnectionWaits(client, this.config.replicas, this.config.timeoutMs);
      this.waits.set(client, waits);
    }
    return waits;
  }
}

/** No WAIT: what the stores use when REDIS_WAIT_REPLICAS is 0 or unset. */
export const NO_REPLICATION_WAIT = new ReplicationWait({ replicas: 0, timeoutMs: 1 }, { connectionFor: () => { throw new Error('unused'); } });
