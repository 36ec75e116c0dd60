/**
 * The real server over HTTP on the two deployments issue 10's proofs ask for: the embedded store,
 * and Redis + MariaDB (real servers on free loopback ports, test/helpers). One shared Redis and
 * MariaDB per test file; every harness gets a fresh data folder, a reset store and a user.
 */
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { Code } from '../../src/protocol/answers.js';
import { TEST_UUID } from '../helpers/embedded.js';
import { postForm, type Reply } from '../helpers/http.js';
import { skipWithoutMariadb, startMariadbServer, type MariadbServer } from '../helpers/mariadb-server.js';
import { skipIfAny } from '../helpers/real-backends.js';
import { skipWithoutRedis, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { makeDataDir, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import {
  mysqlDirectoryTarget,
  redisStoreTarget,
  sqliteDirectoryTarget,
  sqliteStoreTarget,
  type DirectoryTarget,
  type StoreTarget,
} from '../contract/targets.js';

export type Deployment = 'embedded' | 'redis+mariadb';
export const DEPLOYMENTS: readonly Deployment[] = ['embedded', 'redis+mariadb'];

let redisServer: Promise<RedisServer> | undefined;
let mariadbServer: Promise<MariadbServer> | undefined;
after(async () => {
  await (await redisServer)?.close();
  await (await mariadbServer)?.close();
});

export function redisOf(): Promise<RedisServer> {
  return (redisServer ??= startRedisServer());
}

export function mariadbOf(): Promise<MariadbServer> {
  return (mariadbServer ??= startMariadbServer());
}

/** The `skip` option of a suite on this deployment. */
export function skipFor(deployment: Deployment, suite: string): string | false {
  if (deployment === 'embedded') return false;
  return skipIfAny(skipWithoutRedis(suite), skipWithoutMariadb(suite));
}

export interface Harness {
  deployment: Deployment;
  server: ServerProcess;
  url: string;
  store: StoreTarget;
  directory: DirectoryTarget;
  dataDir: string;
  /** Everything the server was started with, for a restart or the admin command. */
  env: Record<string, string>;
  key(deviceId: string): string;
  /** Auth that must succeed: the session's public key. */
  auth(deviceId: string): Promise<string>;
  submit(deviceId: string, message: string): Promise<Reply>;
  restart(extra?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(deployment: Deployment, devices: string[], env: Record<string, string> = {}): Promise<Harness> {
  const data = makeDataDir();
  let store: StoreTarget;
  let directory: DirectoryTarget;
  if (deployment === 'embedded') {
    store = sqliteStoreTarget(data.dir);
    directory = sqliteDirectoryTarget(data.dir);
  } else {
    store = await redisStoreTarget(await redisOf(), 'h10:');
    await store.reset();
    const mariadb = await mariadbOf();
    await mariadb.reset();
    directory = mysqlDirectoryTarget(mariadb);
  }
  await directory.addUser(TEST_UUID);
  for (const id of devices) await directory.directory.addDevice(TEST_UUID, id, id.toUpperCase());
  // Redis + MariaDB runs as production does, two processes on one port: a guard must hold across them.
  const processes: Record<string, string> = deployment === 'embedded' ? {} : { WORKERS: '2' };
  const fullEnv = { DATA_DIR: data.dir, ...store.env, ...directory.env, ...processes, ...env };
  const harness: Harness = {
    deployment,
    server: await startServerProcess(fullEnv),
    url: '',
    store,
    directory,
    dataDir: data.dir,
    env: fullEnv,
    key: (deviceId) => `${TEST_UUID}${deviceId}`,
    async auth(deviceId) {
      const reply = await postForm(harness.url, { key: harness.key(deviceId), status: 'on' });
      assert.equal(reply.body.code, Code.ok, reply.text);
      return String(reply.body.message);
    },
    submit: (deviceId, message) => postForm(harness.url, { key: harness.key(deviceId), message }),
    async restart(extra = {}) {
      await harness.server.stop();
      harness.server = await startServerProcess({ ...fullEnv, ...extra });
      harness.url = harness.server.url;
    },
    async close() {
      await harness.server.stop();
      await store.close();
      await directory.close();
      data.remove();
    },
  };
  harness.url = harness.server.url;
  return harness;
}
