/**
 * Every write to the embedded store goes through here, for three reasons.
 *
 * Group commit: every durable transaction costs an fsync, and under load that, not the work,
 * bounds submits per second. Writes queued while the previous group was committing and syncing
 * commit together in one IMMEDIATE transaction: one fsync for the lot, and still no write is
 * acknowledged before it is durable.
 *
 * Waiting without blocking: several server processes share the file and its single write lock.
 * SQLite's own busy handler waits by sleeping the calling thread, which in Node is the event
 * loop, for 1, 2, 5 … 100 ms at a time. Given a connection with busy_timeout 0, the batcher
 * instead retries the transaction on a timer, so the process keeps serving meanwhile.
 *
 * Syncing without blocking: with synchronous=FULL, SQLite's fsync of the WAL runs inside the
 * commit, on the event loop (about 0.5 ms here). The writer connection therefore commits with
 * synchronous=NORMAL, which writes the WAL frames without syncing them, and the batcher makes
 * them durable itself with an fdatasync of the WAL on libuv's thread pool before it settles any
 * write of the group. The event loop serves requests meanwhile, and what they write becomes the
 * next group.
 */
import { close, fdatasync, fsync, open } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import type { SqliteDatabase } from './database.js';

interface QueuedWrite {
  write: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Makes every write committed so far durable; `close` releases what it holds. */
export interface CommitSync {
  sync(): Promise<void>;
  close(): void;
}

const openFile = promisify(open);
const syncData = promisify(fdatasync);
const syncAll = promisify(fsync);
const closeFile = promisify(close);

/**
 * A new WAL file is durable only once its directory entry is, so its directory is synced once,
 * as SQLite's own first sync of a WAL does. Like SQLite, best effort: some file systems refuse to
 * sync a directory, and Windows cannot open one at all (nor needs to).
 */
async function syncDirectoryOf(file: string): Promise<void> {
  if (process.platform === 'win32') return;
  try {
    const directory = await openFile(dirname(file), 'r');
    try {
      await syncAll(directory);
    } finally {
      await closeFile(directory);
    }
  } catch {
    // Nothing better to do: the file's own data is still synced on every commit.
  }
}

/**
 * fdatasync of the WAL file of a file database, on libuv's pool; nothing for an in-memory one.
 * The descriptor is kept: SQLite deletes a WAL only when the last connection closes, and the
 * writer connection stays open as long as this does.
 */
export function walFileSync(db: SqliteDatabase): CommitSync {
  if (db.memory) return { sync: async () => undefined, close: () => undefined };
  const walFile = `${db.name}-wal`;
  let opened: Promise<number> | undefined;
  const descriptor = (): Promise<number> =>
    (opened ??= (async () => {
      // Write access although nothing is written: Windows flushes only a handle that may write.
      const fd = await openFile(walFile, 'r+');
      await syncDirectoryOf(walFile);
      return fd;
    })().catch((error: unknown) => {
      opened = undefined;
      throw error;
    }));
  return {
    sync: async () => syncData(await descriptor()),
    close: () => {
      void opened?.then((fd) => closeFile(fd)).catch(() => undefined);
      opened = undefined;
    },
  };
}

/** How long a batch may wait for the write lock before its writes fail (then answered 503). */
export const WRITE_LOCK_WAIT_MS = 5000;
/** For this long after a refusal, the write lock is asked for again on the next turn of the event loop ... */
const PROMPT_RETRY_MS = 2;
/** ... and after that, every millisecond. */
const RETRY_DELAY_MS = 1;

export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'));
}

export class WriteBatcher {
  private queue: QueuedWrite[] = [];
  private scheduled = false;
  /** A committed group is being synced; the next group commits after it. */
  private syncing = false;
  /** When the oldest waiting write was first refused the lock; undefined while nobody waits. */
  private waitingSince: number | undefined;

  /**
   * `db` is the connection writes run on; statements for them must be prepared on it.
   * `commitSync` is replaceable so tests can hold a sync open or fail it.
   */
  constructor(
    readonly db: SqliteDatabase,
    private readonly commitSync: CommitSync = walFileSync(db),
  ) {}

  /** Runs `write` inside the next group transaction; resolves once that transaction is durable. */
  run<T>(write: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ write, resolve: resolve as (value: unknown) => void, reject });
      this.schedule(false);
    });
  }

  /** Releases the sync's descriptor; the connection is its opener's to close. */
  close(): void {
    this.commitSync.close();
  }

  private schedule(afterBusy: boolean): void {
    if (this.scheduled || this.syncing) return;
    this.scheduled = true;
    if (!afterBusy) setImmediate(() => this.flush());
    // The other process's commit holds the lock only while it writes its WAL frames (its sync
    // happens after it lets go), so at first the lock is asked for again at once, only letting
    // pending I/O run in between; a lock held longer is asked for every millisecond.
    else if (Date.now() - (this.waitingSince ?? 0) < PROMPT_RETRY_MS) setImmediate(() => this.flush());
    else setTimeout(() => this.flush(), RETRY_DELAY_MS);
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    let outcomes: Outcome[] = [];
    try {
      this.db
        .transaction(() => {
          // A retried transaction starts over: the rolled-back attempt's outcomes mean nothing.
          outcomes = [];
          for (const item of batch) {
            // One write's error (a statement-level failure) must not undo the others' work.
            try {
              outcomes.push({ ok: true, value: item.write() });
            } catch (error) {
              if (isBusy(error)) throw error;
              outcomes.push({ ok: false, error });
            }
          }
        })
        .immediate();
    } catch (error) {
      const now = Date.now();
      this.waitingSince ??= now;
      if (isBusy(error) && now - this.waitingSince < WRITE_LOCK_WAIT_MS) {
        // Nothing was committed; the batch waits at the front, joined by whatever comes meanwhile.
        this.queue = [...batch, ...this.queue];
        this.schedule(true);
        return;
      }
      this.waitingSince = undefined;
      for (const item of batch) item.reject(error);
      this.schedule(false);
      return;
    }
    this.waitingSince = undefined;
    this.syncing = true;
    // A refused write wrote nothing and is answered now; the others only once they are durable.
    const committed: Array<{ item: QueuedWrite; value: unknown }> = [];
    batch.forEach((item, index) => {
      const outcome = outcomes[index]!;
      if (outcome.ok) committed.push({ item, value: outcome.value });
      else item.reject(outcome.error);
    });
    const settle = (syncError: unknown): void => {
      // A failed sync answers the group 503 (not acknowledged); its writes are committed, so a
      // client's retry finds its message and gets "duplicate".
      for (const { item, value } of committed) {
        if (syncError === undefined) item.resolve(value);
        else item.reject(syncError);
      }
      this.syncing = false;
      if (this.queue.length > 0) this.schedule(false);
    };
    this.commitSync.sync().then(
      () => settle(undefined),
      (error: unknown) => settle(error ?? new Error('sync of committed writes failed')),
    );
  }
}
