/**
 * SPEC §3: the WordPress `<prefix>usermeta` table, as the directory needs it.
 * MySQL/MariaDB (WordPress itself) and the embedded SQLite file implement this, so one
 * directory code path serves both. Every method may throw BackendUnavailableError.
 */
export interface UsermetaTable {
  /** Short backend name for logs and /readyz. */
  readonly name: string;
  /** The `user_id`s of the rows whose meta_key and meta_value are exactly these. */
  findUserIds(metaKey: string, metaValue: string): Promise<string[]>;
  /** The meta_value of the user's first row with this meta_key (lowest umeta_id), or null. */
  read(userId: string, metaKey: string): Promise<string | null>;
  /**
   * Read-modify-write of the user's first row with this meta_key, in a transaction that
   * locks the row (SPEC §3: `SELECT … FOR UPDATE`). `change` receives the current value
   * (null when there is no row) and returns the new value, or undefined to write nothing.
   * A row is inserted when there was none and `change` returns a value.
   */
  update(userId: string, metaKey: string, change: (current: string | null) => string | undefined): Promise<void>;
  /** Adds a new row, as WordPress's add_user_meta() does. */
  insert(userId: string, metaKey: string, metaValue: string): Promise<void>;
  /**
   * A user_id for a new user when none is given. Only the embedded store can invent one;
   * WordPress users are made by WordPress, so MySQL refuses.
   */
  allocateUserId(): Promise<string>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
