/**
 * Seeds the directory a bench's server reads: one WordPress user per UUID, each with one device,
 * in the embedded SQLite file (DATA_DIR) or in MariaDB's usermeta table. Written once for
 * bench/run.ts (and its cold-start phase), bench/growth.ts, bench/submit-cpu.ts and bench/footprint.ts, on the
 * contract suites' directory targets (test/contract/targets.ts): the production modules,
 * opened from the bench process, WordPress user ids handed out where MySQL cannot invent them.
 */
import { mysqlDirectoryTarget, sqliteDirectoryTarget, type DirectoryTarget } from '../test/contract/targets.js';
import type { MariadbServer } from '../test/helpers/mariadb-server.js';

/** Where the directory is: the embedded file in `dataDir`, or a test MariaDB. */
export type DirectoryAt = { embedded: string } | { mariadb: MariadbServer };

/** Adds the users and their device `device` (named `deviceName`), then closes its connection. */
export async function seedDirectory(at: DirectoryAt, uuids: readonly string[], device: string, deviceName: string): Promise<void> {
  const target: DirectoryTarget = 'embedded' in at ? sqliteDirectoryTarget(at.embedded) : mysqlDirectoryTarget(at.mariadb);
  try {
    for (const uuid of uuids) {
      await target.addUser(uuid);
      await target.directory.addDevice(uuid, device, deviceName);
    }
  } finally {
    await target.close();
  }
}
