/**
 * SPEC §11: the embedded store's files are the server's alone, and a deleted session leaves no
 * private key readable in them.
 *
 * - DATA_DIR is mode 0700 and the database, its -wal and its -shm are 0600, new or existing
 *   (SQLite gives -wal and -shm the database file's mode, so creating that first with 0600 is enough
 *   for new ones; the chmod covers files made by an older version or under a looser umask).
 * - `secure_delete` overwrites deleted content with zeros, in the database and in the WAL frames.
 * - The WAL still holds older frames (the page as it was, PEM included) until it is reset; so after a
 *   session is deleted a TRUNCATE checkpoint is requested (WalScrubber), and `journal_size_limit = 0`
 *   truncates the WAL whenever SQLite resets it by itself.
 * - Two processes creating the schema of a fresh file at once (WORKERS=2) may see SQLITE_BUSY from
 *   paths where SQLite does not call its busy handler (switching to WAL, a lock upgrade it would
 *   deadlock on); withBusyRetry runs such start-up steps again until a deadline.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { ConfigError } from '../../config/config.js';
import type { SqliteDatabase } from './database.js';

const DIRECTORY_MODE = 0o700;
const FILE_MODE = 0o600;
/** Start-up steps retry for this long before the error is the operator's to see. */
const STARTUP_BUSY_DEADLINE_MS = 15_000;
/** After a session is deleted, the WAL is truncated this soon (deletes in between share one checkpoint). */
const SCRUB_DELAY_MS = 100;
/**
 * A checkpoint refused because another process was busy is tried again this much later, then
 * twice as late each time it is refused again, up to SCRUB_RETRY_MAX_MS. Under steady load the
 * other worker nearly always holds a reader, and a try every second cost 5.6 % of a worker
 * (docs/PERFORMANCE.md); a new delete or a truncation that succeeds starts again at the first step.
 */
export const SCRUB_RETRY_MS = 1000;
export const SCRUB_RETRY_MAX_MS = 30_000;

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** Sleeps the thread: only for start-up, before the server answers anything. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Runs a start-up step, again after a short random pause while it fails with SQLITE_BUSY. */
export function withBusyRetry<T>(step: () => T, deadlineMs = STARTUP_BUSY_DEADLINE_MS): T {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      return step();
    } catch (error) {
      if (!isBusy(error) || Date.now() > deadline) throw error;
      sleepSync(5 + Math.floor(Math.random() * 20));
    }
  }
}

/** What a DATA_DIR the operator has to fix looks like; anything else (a full disk, say) stays as it is. */
const SETTING_ERRORS = new Set(['EPERM', 'EACCES', 'ENOTDIR', 'EEXIST', 'EROFS', 'ENOENT']);

/** The folder 0700 and the database file (created empty if missing) 0600, with its -wal and -shm. */
export function prepareDataFiles(dataDir: string, databaseFile: string): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: DIRECTORY_MODE });
    chmodSync(dataDir, DIRECTORY_MODE);
    // 'a' creates the file without truncating one that another process just made.
    closeSync(openSync(databaseFile, 'a', FILE_MODE));
    for (const file of [databaseFile, `${databaseFile}-wal`, `${databaseFile}-shm`]) {
      if (existsSync(file)) chmodSync(file, FILE_MODE);
    }
  } catch (error) {
    // A folder the server does not own (EPERM), cannot write (EACCES) or that is not a folder is
    // the operator's setting to fix: one line naming DATA_DIR (src/main.ts), not a stack trace.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined || !SETTING_ERRORS.has(code)) throw error;
    const path = (error as NodeJS.ErrnoException).path ?? dataDir;
    throw new ConfigError('DATA_DIR', `cannot keep ${path} private to this user (${code}): it must be a folder the server's user owns`);
  }
}

/** Per-connection settings of every connection to the embedded file. */
export function secureConnection(db: SqliteDatabase): void {
  db.pragma('secure_delete = ON');
  db.pragma('journal_size_limit = 0');
}

/**
 * Truncates the WAL soon after a session is deleted, so no older frame keeps its private key.
 * Runs on the writer connection outside any transaction (better-sqlite3 is synchronous, so the
 * WriteBatcher's transactions never interleave with this); a checkpoint another process keeps
 * busy is tried again later, backing off (SCRUB_RETRY_MS doubling to SCRUB_RETRY_MAX_MS): so a
 * deleted key leaves the WAL SCRUB_DELAY_MS after the delete when the WAL is free then, and
 * otherwise at most SCRUB_RETRY_MAX_MS after the other processes let go of it (docs/SECURITY.md).
 */
export class WalScrubber {
  private timer: NodeJS.Timeout | undefined;
  /** Whether the pending timer is a retry (SCRUB_RETRY_MS or later), not the first try after a delete. */
  private retrying = false;
  /** The wait before the next retry, should the coming try be refused. */
  private nextRetryMs = SCRUB_RETRY_MS;
  private closed = false;

  constructor(private readonly db: SqliteDatabase) {}

  /** A session was deleted (or its record rewritten): truncate the WAL soon. */
  request(): void {
    if (this.closed || this.db.memory) return;
    // Deletes close together share one checkpoint.
    if (this.timer !== undefined && !this.retrying) return;
    // A new key is in the WAL: it is not left to wait out a back-off that older refusals built up.
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.nextRetryMs = SCRUB_RETRY_MS;
    this.schedule(SCRUB_DELAY_MS, false);
  }

  private schedule(delayMs: number, retrying: boolean): void {
    this.retrying = retrying;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.scrubNow()) {
        this.nextRetryMs = SCRUB_RETRY_MS;
        return;
      }
      const wait = this.nextRetryMs;
      this.nextRetryMs = Math.min(wait * 2, SCRUB_RETRY_MAX_MS);
      this.schedule(wait, true);
    }, delayMs);
    this.timer.unref();
  }

  /** True when the WAL is truncated; false when readers or another writer kept it (try again). */
  scrubNow(): boolean {
    if (this.closed || !this.db.open) return true;
    try {
      const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
      return result?.busy === 0;
    } catch (error) {
      if (isBusy(error)) return false;
      // A closed or failing file: nothing more this can do; the next delete asks again.
      return true;
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
