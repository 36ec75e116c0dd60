/**
 * A private Redis Sentinel set-up for tests (SPEC §13): one primary, one replica and three
 * sentinels from Debian's redis-server and redis-sentinel, on free loopback ports in one
 * temporary folder, with short down-after and failover timeouts so a failover takes seconds.
 * Any process can be killed (`stop('SIGKILL')`) and started again; a data node started again
 * comes back as a replica of whichever node the sentinels call primary then (what a supervisor
 * and Sentinel's own reconfiguration do in production), never as an empty primary.
 *
 *   const set = await startSentinelSet();
 *   startServerProcess({ ...set.env, ... });   // REDIS_SENTINELS, REDIS_SENTINEL_NAME, REDIS_PASSWORD
 *   await set.close();
 *
 * Suites that need it use `skip: skipWithoutSentinel('the suites')`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  findBinary,
  freePort,
  readLogFile,
  requireBinary,
  serverProcess,
  skipUnlessInstalled,
  trackFolder,
  waitUntil,
  type ServerProcess,
} from './real-backends.js';

const SERVER = 'redis-server';
const SENTINEL = 'redis-sentinel';
const INSTALL_SERVER = "Debian's redis-server (apt-get install redis-server)";
const INSTALL_SENTINEL = "Debian's redis-sentinel (apt-get install redis-sentinel)";
const START_TIMEOUT_MS = 20_000;
export const SENTINEL_MASTER_NAME = 'sms-primary';
/** Short, so a drill sees a failover within a few seconds (production uses far longer). */
export const DOWN_AFTER_MS = 1000;
const FAILOVER_TIMEOUT_MS = 3000;
const QUORUM = 2;
const PASSWORD = 'sentinel-test-password';

export function skipWithoutSentinel(suites: string): string | false {
  const missing = [
    ...(findBinary(SERVER) === null ? [{ binary: SERVER, install: INSTALL_SERVER }] : []),
    ...(findBinary(SENTINEL) === null ? [{ binary: SENTINEL, install: INSTALL_SENTINEL }] : []),
  ];
  return skipUnlessInstalled(suites, missing);
}

/** One redis-server or redis-sentinel process of the set. */
export interface SetMember extends Pick<ServerProcess, 'running' | 'stop' | 'pause' | 'resume'> {
  readonly port: number;
  readonly role: 'data' | 'sentinel';
  /** Starts it again on the same port (a data node as a replica of the current primary). */
  start(): Promise<void>;
  log(): string;
}

export interface SentinelSet {
  readonly name: string;
  readonly password: string;
  /** The two data nodes: [0] started as primary, [1] as its replica. */
  readonly nodes: readonly SetMember[];
  readonly sentinels: readonly SetMember[];
  /** What the secure message server needs: REDIS_SENTINELS, REDIS_SENTINEL_NAME, REDIS_PASSWORD. */
  readonly env: Record<string, string>;
  /** The data node a running sentinel names as primary now. */
  primary(): Promise<SetMember>;
  /** The data node that says it is a primary, asked of the nodes themselves (works with every sentinel down). */
  primaryWithoutSentinels(): Promise<SetMember>;
  /** Resolves once the sentinels name a primary other than `port` and it says it is one. */
  waitForNewPrimary(port: number, timeoutMs?: number): Promise<SetMember>;
  /** Resolves once the primary has `count` replicas online and caught up. */
  waitForReplicas(count: number, timeoutMs?: number): Promise<void>;
  /** A test-side client on one data node (not through the sentinels); closed by close(). */
  direct(member: SetMember, db: number): Redis;
  /** A test-side client through the sentinels, like the server's; closed by close(). */
  client(db: number): Redis;
  /** Every process's log, for failure messages. */
  logs(): string;
  close(): Promise<void>;
}

/** Runs `ask` on a fresh connection that gives up at once, and closes it. */
async function once<T>(port: number, password: string | undefined, ask: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ host: '127.0.0.1', port, password, lazyConnect: true, retryStrategy: () => null, connectTimeout: 500, commandTimeout: 2000, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await ask(client);
  } finally {
    client.disconnect();
  }
}

/** PING: true on PONG. */
function answersPing(port: number, password: string | undefined): Promise<boolean> {
  return once(port, password, async (client) => (await client.ping()) === 'PONG').catch(() => false);
}

export async function startSentinelSet(): Promise<SentinelSet> {
  const server = requireBinary(SERVER, INSTALL_SERVER);
  const sentinelBinary = requireBinary(SENTINEL, INSTALL_SENTINEL);
  const dir = mkdtempSync(join(tmpdir(), 'sms-sentinel-'));
  const removeDir = trackFolder(dir);
  const clients: Redis[] = [];
  const members: SetMember[] = [];
  let sentinels: SetMember[] = [];

  const askSentinels = async <T>(ask: (sentinel: Redis) => Promise<T>): Promise<T> => {
    let lastError: unknown = new Error('no sentinel running');
    for (const sentinel of sentinels) {
      if (!sentinel.running()) continue;
      try {
        return await once(sentinel.port, undefined, ask);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  };
  const primaryPort = async (): Promise<number> => {
    const reply = (await askSentinels((s) => s.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER_NAME))) as [string, string] | null;
    if (reply === null) throw new Error('the sentinels know no primary');
    return Number(reply[1]);
  };

  const dataNode = (port: number, name: string, replicaOf: () => Promise<number | null>): SetMember => {
    const logFile = join(dir, `${name}.log`);
    const readLog = (): string => readLogFile(logFile);
    let current: ServerProcess | undefined;
    const member: SetMember = {
      port,
      role: 'data',
      running: () => current?.running() ?? false,
      stop: (signal) => current?.stop(signal) ?? Promise.resolve(),
      pause: () => current?.pause(),
      resume: () => current?.resume(),
      log: readLog,
      async start() {
        const primary = await replicaOf();
        const args = [
          '--port', String(port),
          '--bind', '127.0.0.1',
          '--dir', dir,
          '--dbfilename', `${name}.rdb`,
          '--logfile', logFile,
          '--save', '',
          '--appendonly', 'no',
          '--daemonize', 'no',
          '--requirepass', PASSWORD,
          '--masterauth', PASSWORD,
          ...(primary === null || primary === port ? [] : ['--replicaof', '127.0.0.1', String(primary)]),
        ];
        current = serverProcess({
          binary: server,
          args,
          description: `redis-server ${name} on port ${port}`,
          ready: () => answersPing(port, PASSWORD),
          readLog,
          timeoutMs: START_TIMEOUT_MS,
        });
        await current.start();
      },
    };
    return member;
  };

  const sentinelNode = (port: number, index: number, firstPrimary: number): SetMember => {
    const logFile = join(dir, `sentinel-${index}.log`);
    const configFile = join(dir, `sentinel-${index}.conf`);
    // Sentinel rewrites its own file as it learns the set, so it is written once, before the first start.
    writeFileSync(
      configFile,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        'daemonize no',
        `dir ${dir}`,
        `logfile ${logFile}`,
        `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${firstPrimary} ${QUORUM}`,
        `sentinel auth-pass ${SENTINEL_MASTER_NAME} ${PASSWORD}`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${DOWN_AFTER_MS}`,
        `sentinel failover-timeout ${SENTINEL_MASTER_NAME} ${FAILOVER_TIMEOUT_MS}`,
        `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    const readLog = (): string => readLogFile(logFile);
    const lifecycle = serverProcess({
      binary: sentinelBinary,
      args: [configFile],
      description: `redis-sentinel ${index} on port ${port}`,
      ready: () => answersPing(port, undefined),
      readLog,
      timeoutMs: START_TIMEOUT_MS,
    });
    return { port, role: 'sentinel', ...lifecycle, log: readLog };
  };

  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const [first, second, ...sentinelPorts] = ports as [number, number, number, number, number];
  const memberAt = (port: number): SetMember => {
    const found = members.find((m) => m.port === port);
    if (found === undefined) throw new Error(`no data node on port ${port}`);
    return found;
  };
  // Once sentinels run, a node starting again follows their primary; before that, the first node leads.
  const currentPrimary = async (): Promise<number | null> => (sentinels.some((s) => s.running()) ? primaryPort() : first);
  members.push(dataNode(first, 'node-a', async () => (sentinels.length === 0 ? null : currentPrimary())));
  members.push(dataNode(second, 'node-b', currentPrimary));
  const logs = (): string => [...members, ...sentinels].map((m) => `--- ${m.role} ${m.port}\n${m.log().slice(-3000)}`).join('\n');

  const set: SentinelSet = {
    name: SENTINEL_MASTER_NAME,
    password: PASSWORD,
    nodes: members,
    get sentinels() {
      return sentinels;
    },
    env: {
      REDIS_SENTINELS: sentinelPorts.map((port) => `127.0.0.1:${port}`).join(','),
      REDIS_SENTINEL_NAME: SENTINEL_MASTER_NAME,
      REDIS_PASSWORD: PASSWORD,
    },
    primary: async () => memberAt(await primaryPort()),
    async primaryWithoutSentinels() {
      for (const member of members) {
        if (!member.running()) continue;
        const role = await once(member.port, PASSWORD, (client) => client.role()).catch(() => null);
        if (role?.[0] === 'master') return member;
      }
      throw new Error(`no data node says it is a primary:\n${logs()}`);
    },
    async waitForNewPrimary(port, timeoutMs = 30_000) {
      let found: SetMember | undefined;
      await waitUntil(
        async () => {
          const now = await primaryPort();
          if (now === port) return false;
          const role = await once(now, PASSWORD, (client) => client.role());
          if (role[0] !== 'master') return false;
          found = memberAt(now);
          return true;
        },
        timeoutMs,
        () => `no failover away from port ${port}:\n${logs()}`,
      );
      return found!;
    },
    async waitForReplicas(count, timeoutMs = 30_000) {
      await waitUntil(
        async () => {
          const primary = await set.primary();
          const info = await once(primary.port, PASSWORD, (client) => client.info('replication'));
          const offset = Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? -1);
          const online = [...info.matchAll(/^slave\d+:.*state=online,offset=(\d+)/gm)].filter((m) => Number(m[1]) >= offset - 1000);
          return online.length >= count;
        },
        timeoutMs,
        () => `the primary has fewer than ${count} replicas online:\n${logs()}`,
      );
    },
    direct(member, db) {
      const client = new Redis({ host: '127.0.0.1', port: member.port, db, password: PASSWORD, maxRetriesPerRequest: 1 });
      client.on('error', () => undefined);
      clients.push(client);
      return client;
    },
    client(db) {
      const client = new Redis({
        sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
        name: SENTINEL_MASTER_NAME,
        password: PASSWORD,
        db,
        failoverDetector: true,
        maxRetriesPerRequest: 3,
      });
      client.on('error', () => undefined);
      clients.push(client);
      return client;
    },
    logs,
    async close() {
      for (const client of clients) client.disconnect();
      await Promise.all([...sentinels, ...members].map((m) => m.stop('SIGKILL')));
      removeDir();
    },
  };

  try {
    await members[0]!.start();
    await members[1]!.start();
    sentinels = sentinelPorts.map((port, index) => sentinelNode(port, index, first));
    await Promise.all(sentinels.map((s) => s.start()));
    // Ready for a failover: every sentinel sees the replica and the two other sentinels.
    await waitUntil(
      async () => {
        for (const sentinel of sentinels) {
          const known = await once(sentinel.port, undefined, async (client) => {
            const replicas = (await client.call('SENTINEL', 'replicas', SENTINEL_MASTER_NAME)) as unknown[];
            const peers = (await client.call('SENTINEL', 'sentinels', SENTINEL_MASTER_NAME)) as unknown[];
            return replicas.length >= 1 && peers.length >= sentinels.length - 1;
          });
          if (!known) return false;
        }
        return true;
      },
      START_TIMEOUT_MS,
      () => `the sentinels did not discover the set:\n${logs()}`,
    );
    await set.waitForReplicas(1);
  } catch (error) {
    await set.close();
    throw error;
  }
  return set;
}
