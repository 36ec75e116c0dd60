/**
 * A server process on the embedded SQLite store in a temporary DATA_DIR, plus a second
 * connection to the same file so tests can seed users and read what the server stored.
 */
import { createPublicKey } from 'node:crypto';
import pino from 'pino';
import { SqliteAcceptedMessageStore } from '../../src/backends/sqlite/accepted-message.js';
import { openEmbeddedDatabase, openWriterConnection, type SqliteDatabase } from '../../src/backends/sqlite/database.js';
import { SqliteLoggedMessageStore } from '../../src/backends/sqlite/message-log.js';
import { SqliteSessionGuardStore } from '../../src/backends/sqlite/session-guard.js';
import { SqliteMessageStore, SqliteSessionStore } from '../../src/backends/sqlite/store.js';
import { WriteBatcher } from '../../src/backends/sqlite/write-batch.js';
import { SqliteUsermetaTable } from '../../src/backends/sqlite/usermeta.js';
import { Directory } from '../../src/directory/directory.js';
import { makeDataDir, startServerProcess, type ServerProcess } from './server-process.js';

export const TEST_UUID = '0f8fad5b-d9cb-469f-a165-70867728950e';
export const OTHER_UUID = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
export const META_KEYS = { uuidMetaKey: 'uuid', devicesMetaKey: 'devices' };

export interface EmbeddedFixture {
  server: ServerProcess;
  dataDir: string;
  env: Record<string, string>;
  db: SqliteDatabase;
  directory: Directory;
  usermeta: SqliteUsermetaTable;
  sessions: SqliteSessionStore;
  messages: SqliteMessageStore;
  /** The raw devices meta_value of a user, as WordPress would read it. */
  devicesOf(uuid: string): Promise<string | null>;
  /** The public key of a stored session, as its auth answer gave it. */
  publicKeyOf(key: string): Promise<string>;
  restart(extraEnv?: Record<string, string>): Promise<ServerProcess>;
  close(): Promise<void>;
}

/** Opens the embedded file from the test process (the server may have it open too: WAL allows it). */
export function openFixtureStores(dataDir: string) {
  const db = openEmbeddedDatabase(dataDir, 'wp_');
  const usermeta = new SqliteUsermetaTable(db, 'wp_');
  const directory = new Directory(usermeta, META_KEYS, pino({ level: 'silent' }));
  return { db, usermeta, directory, sessions: new SqliteSessionStore(db), messages: new SqliteMessageStore(db) };
}

/**
 * The embedded store's one-step submit (AcceptedMessageStore), wired as the server wires it, on
 * a writer connection of its own: for tests that run ProtocolService in process.
 */
export function openFixtureAcceptedStore(dataDir: string): { accepted: SqliteAcceptedMessageStore; close(): void } {
  const db = openEmbeddedDatabase(dataDir, 'wp_');
  const writer = openWriterConnection(dataDir);
  const writes = new WriteBatcher(writer);
  const accepted = new SqliteAcceptedMessageStore(writes, {
    sessions: new SqliteSessionStore(db, writes),
    messages: new SqliteLoggedMessageStore(db, writes),
    guard: new SqliteSessionGuardStore(writes),
  });
  return {
    accepted,
    close() {
      writes.close();
      writer.close();
      db.close();
    },
  };
}

/** Starts a server on a fresh data folder with one user (TEST_UUID) holding the given devices. */
export async function startEmbedded(
  devices: Array<[id: string, name: string]> = [['phone-01', 'Phone']],
  extraEnv: Record<string, string> = {},
): Promise<EmbeddedFixture> {
  const data = makeDataDir();
  const stores = openFixtureStores(data.dir);
  await stores.directory.addUser(TEST_UUID);
  for (const [id, name] of devices) await stores.directory.addDevice(TEST_UUID, id, name);
  const env = { DATA_DIR: data.dir, ...extraEnv };
  const fixture: EmbeddedFixture = {
    server: await startServerProcess(env),
    dataDir: data.dir,
    env,
    ...stores,
    async devicesOf(uuid) {
      const userId = await stores.directory.findUser(uuid);
      return userId === null ? null : stores.usermeta.read(userId, META_KEYS.devicesMetaKey);
    },
    async publicKeyOf(key) {
      const session = await stores.sessions.get(key);
      if (session === null) throw new Error(`no session for ${key}`);
      return createPublicKey(session.private_key).export({ type: 'spki', format: 'pem' }).toString();
    },
    async restart(moreEnv = {}) {
      await fixture.server.stop();
      fixture.server = await startServerProcess({ ...env, ...moreEnv });
      return fixture.server;
    },
    async close() {
      await fixture.server.stop();
      stores.db.close();
      data.remove();
    },
  };
  return fixture;
}

export function clientKey(deviceId: string, uuid = TEST_UUID): string {
  return `${uuid}${deviceId}`;
}
