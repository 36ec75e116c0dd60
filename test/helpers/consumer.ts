/**
 * SPEC §9 test fixture: a real server process (WORKERS as asked) on the embedded store, on a
 * real redis-server or on a real Redis Cluster (redis-cluster.ts), with the consumer API on, one user holding `devices` devices (directory in
 * DATA_DIR's SQLite file), and small helpers: authenticate, submit, and call /v1 with the token.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { openFixtureStores, TEST_UUID, clientKey } from './embedded.js';
import { encryptEnvelope } from './encrypt.js';
import { postForm, request, requestOnNewConnection, type Answer, type Reply } from './http.js';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { startSentinelSet, type SentinelSet } from './redis-sentinel.js';
import { makeDataDir, startServerProcess, type ServerProcess } from './server-process.js';

export const API_TOKEN = `site-${randomBytes(24).toString('base64url')}`;
export const OTHER_TOKEN = `analytics-${randomBytes(24).toString('base64url')}`;
export const API_TOKENS = `site:${API_TOKEN},analytics:${OTHER_TOKEN}`;

export type StoreKind = 'sqlite' | 'redis' | 'redis-cluster' | 'sentinel';

export interface ConsumerFixture {
  store: StoreKind;
  server: ServerProcess;
  env: Record<string, string>;
  dataDir: string;
  redis: RedisServer | undefined;
  /** store 'sentinel': the primary, replica and sentinels (SPEC §13). */
  sentinel: SentinelSet | undefined;
  cluster: RedisCluster | undefined;
  deviceIds: string[];
  /** Authenticates a device (once) and returns its session's public key. */
  publicKey(deviceId: string): Promise<string>;
  /** Forgets the device's key, so the next publicKey() authenticates again (a client after `not found`). */
  forgetKey(deviceId: string): void;
  /** Submits a fresh envelope of `text`; returns the answer body. */
  submit(deviceId: string, text: string, minute?: number): Promise<Record<string, unknown>>;
  /** A /v1 request with the site's token (or `token`). */
  api(path: string, init?: RequestInit & { token?: string | null }): Promise<Reply>;
  restart(extra?: Record<string, string>): Promise<ServerProcess>;
  close(): Promise<void>;
}

export interface ConsumerFixtureOptions {
  store: StoreKind;
  devices?: number;
  env?: Record<string, string>;
  /** Redis with an fsync'd append-only file (for the crash tests). */
  persistentRedis?: boolean;
  /** store 'sentinel': a set to use (and leave running at close); default one of its own. */
  sentinel?: SentinelSet;
}

export async function startConsumerFixture(options: ConsumerFixtureOptions): Promise<ConsumerFixture> {
  const data = makeDataDir();
  const ownSentinel = options.store === 'sentinel' && options.sentinel === undefined;
  let redis: RedisServer | undefined;
  let sentinel: SentinelSet | undefined;
  let cluster: RedisCluster | undefined;
  const closeBackends = async (): Promise<void> => {
    await redis?.close();
    if (ownSentinel) await sentinel?.close();
    await cluster?.close();
    data.remove();
  };
  try {
    const deviceIds = Array.from({ length: options.devices ?? 2 }, (_, i) => `dev-${String(i + 1).padStart(2, '0')}`);
    const stores = openFixtureStores(data.dir);
    try {
      await stores.directory.addUser(TEST_UUID);
      for (const id of deviceIds) await stores.directory.addDevice(TEST_UUID, id, id.toUpperCase());
    } finally {
      stores.db.close();
    }
    if (options.store === 'redis') redis = await startRedisServer({ persistent: options.persistentRedis ?? false });
    if (options.store === 'sentinel') sentinel = options.sentinel ?? (await startSentinelSet());
    if (options.store === 'redis-cluster') cluster = await startRedisCluster({ persistent: options.persistentRedis ?? false });
    return await fixtureOn(options.store, deviceIds, data.dir, { redis, sentinel, cluster }, options.env, closeBackends);
  } catch (error) {
    // A failed start closes what it started: a live redis-server, cluster or Sentinel set would
    // keep the test process from exiting, and after() has no fixture to close.
    await closeBackends().catch(() => undefined);
    throw error;
  }
}

/** The fixture on backends already running; starts the server process (and throws if it does not start). */
async function fixtureOn(
  store: StoreKind,
  deviceIds: string[],
  dataDir: string,
  backends: { redis: RedisServer | undefined; sentinel: SentinelSet | undefined; cluster: RedisCluster | undefined },
  extraEnv: Record<string, string> | undefined,
  closeBackends: () => Promise<void>,
): Promise<ConsumerFixture> {
  const { redis, sentinel, cluster } = backends;
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    API_TOKENS,
    KEY_POOL_SIZE: '4',
    ...(redis?.env ?? {}),
    ...(sentinel?.env ?? {}),
    ...(cluster?.env ?? {}),
    ...(extraEnv ?? {}),
  };
  const keys = new Map<string, Promise<string>>();
  const authenticate = async (deviceId: string): Promise<string> => {
    const reply = await postForm(fixture.server.url, { key: clientKey(deviceId), status: 'on' });
    if (reply.body.code !== 0) throw new Error(`auth of ${deviceId}: ${reply.text}`);
    return String(reply.body.message);
  };
  const fixture: ConsumerFixture = {
    store,
    server: await startServerProcess(env),
    env,
    dataDir,
    redis,
    sentinel,
    cluster,
    deviceIds,
    publicKey(deviceId) {
      // Concurrent submits of one device share its one auth.
      let known = keys.get(deviceId);
      if (known === undefined) keys.set(deviceId, (known = authenticate(deviceId)));
      return known;
    },
    forgetKey(deviceId) {
      keys.delete(deviceId);
    },
    async submit(deviceId, text, minute) {
      const publicKey = await fixture.publicKey(deviceId);
      const reply = await postForm(fixture.server.url, { key: clientKey(deviceId), message: encryptEnvelope(publicKey, text, { enc: 'AES-GCM', minute }) });
      return reply.body;
    },
    api(path, init = {}) {
      const { token = API_TOKEN, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token !== null) headers.set('authorization', `Bearer ${token}`);
      return request(fixture.server.url, path, { ...rest, headers });
    },
    async restart(extra = {}) {
      await fixture.server.stop();
      fixture.server = await startServerProcess({ ...env, ...extra });
      return fixture.server;
    },
    async close() {
      await fixture.server.stop();
      await closeBackends();
    },
  };
  return fixture;
}

/** Every entry of the log, read page by page with `limit`; fails on a page that does not move on. */
export async function readWholeLog(fx: ConsumerFixture, limit = 250): Promise<Array<{ cursor: string; record: Record<string, unknown> }>> {
  const all: Array<{ cursor: string; record: Record<string, unknown> }> = [];
  let after = '';
  for (;;) {
    const page = await fx.api(`/v1/messages?after=${after}&limit=${limit}`);
    if (page.status !== 200) throw new Error(`page after "${after}": ${page.text}`);
    const items = page.body.messages as Array<{ cursor: string; record: Record<string, unknown> }>;
    all.push(...items);
    if (items.length === 0) return all;
    after = String(page.body.next);
  }
}

/** GET on a connection of its own (the cluster gives each new connection to the next worker). */
export function getOnNewConnection(url: string, token: string): Promise<Answer> {
  return requestOnNewConnection(url, { headers: { authorization: `Bearer ${token}` } });
}

export const silentLog = pino({ level: 'silent' });
