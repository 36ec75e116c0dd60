/**
 * A private Redis Cluster for tests, drills and benchmarks: six redis-servers from Debian's
 * package (3 primaries, 3 replicas) on free loopback ports in one temporary folder, joined by
 * `redis-cli --cluster create … --cluster-replicas 1`. Never a Redis already running here.
 *
 *   const cluster = await startRedisCluster();
 *   startServerProcess({ ...cluster.env, ... });  // REDIS_CLUSTER_NODES (and REDIS_PASSWORD)
 *   const [primary] = await cluster.masters();
 *   await cluster.kill(primary);                   // kill -9: a crash
 *   await cluster.restart(primary);                // same port, data folder and nodes.conf
 *   await cluster.restartAsReplica(primary);       // … and back as its shard's replica (the supervisor)
 *   await cluster.close();
 *
 * Starting six servers costs seconds: start one cluster per test file and `reset()` between
 * tests. Suites that need it use `skip: skipWithoutRedisCluster('the suites')`.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { answersPing } from './redis-server.js';
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

const run = promisify(execFile);
const SERVER = 'redis-server';
const CLI = 'redis-cli';
const INSTALL = "Debian's redis-server and redis-tools (apt-get install redis-server redis-tools; redis-cli is in redis-tools)";
const START_TIMEOUT_MS = 20_000;
const HEALTHY_TIMEOUT_MS = 30_000;
/** A replica this close to its primary's replication offset has its data (the drills kill primaries). */
const CAUGHT_UP_BYTES = 1_000_000;
/** How long a restarted former primary gets to turn itself into a replica before it is told to. */
const REJOIN_GRACE_MS = 5000;
const ALL_SLOTS = 16384;

/** The `skip` option for suites that need a cluster (see real-backends.ts). */
export function skipWithoutRedisCluster(suites: string): string | false {
  return skipUnlessInstalled(
    suites,
    [SERVER, CLI].filter((binary) => findBinary(binary) === null).map((binary) => ({ binary, install: INSTALL })),
  );
}

export interface RedisClusterOptions {
  /** requirepass and masterauth on every node: the server then needs REDIS_PASSWORD. */
  password?: string;
  /**
   * An append-only file synced on every write, so a killed node keeps what it acknowledged.
   * Off by default: a restarted node then comes back empty and resyncs from its shard.
   */
  persistent?: boolean;
  /** cluster-node-timeout: how long a silent primary takes to be failed over. Default 5000 ms (a busy 2-core CI machine marks nodes failed spuriously under 2000). */
  nodeTimeoutMs?: number;
}

/** One redis-server of the cluster. Which ones are primaries changes with failovers: ask masters(). */
export interface ClusterNode extends ServerProcess {
  readonly host: string;
  readonly port: number;
  /** `127.0.0.1:<port>`, as CLUSTER NODES and REDIS_CLUSTER_NODES write it. */
  readonly address: string;
  readonly dir: string;
  log(): string;
}

export interface RedisCluster {
  readonly nodes: readonly ClusterNode[];
  /** What the secure message server needs: REDIS_CLUSTER_NODES (every node) and REDIS_PASSWORD. */
  readonly env: Record<string, string>;
  /** The nodes that are primaries now, each owning slots, by CLUSTER NODES of a running node. */
  masters(): Promise<ClusterNode[]>;
  /** The replicas now. */
  replicas(): Promise<ClusterNode[]>;
  /** The primary that owns `key`'s slot now. */
  masterOf(key: string): Promise<ClusterNode>;
  /** kill -9 of one node (a crash). */
  kill(node: ClusterNode): Promise<void>;
  /** Starts a stopped node again on its port, data and nodes.conf; resolves once it answers PING. */
  restart(node: ClusterNode): Promise<void>;
  /**
   * Restarts a killed primary whose slots its replica took over, and resolves once it is that
   * shard's replica again, linked and done syncing. It normally turns itself into one from its
   * nodes.conf and the cluster's gossip; if it has not within a few seconds it is told to
   * (CLUSTER REPLICATE of the primary left without a replica), as an operator's supervisor would.
   */
  restartAsReplica(node: ClusterNode): Promise<void>;
  /**
   * Moves `slots` slots from one primary to another with `redis-cli --cluster reshard` (keys
   * migrate one by one with MIGRATE, clients meanwhile get MOVED and ASK): a live resharding.
   */
  reshard(from: ClusterNode, to: ClusterNode, slots: number): Promise<void>;
  /** Resolves once every running node says cluster_state:ok and sees all 16384 slots served by running primaries. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /**
   * Resolves once every primary has a replica that is online (past its first sync) and caught up
   * (within CAUGHT_UP_BYTES of the primary's replication offset): before that,
   * a WAIT 1 on that primary times out (REDIS_WAIT_REPLICAS suites), and a killed primary has no
   * replica with its data to promote.
   */
  waitReplicasInSync(timeoutMs?: number): Promise<void>;
  /** A test-side Cluster client (closed by close()). */
  client(): Cluster;
  /** A test-side connection to one node (closed by close()). */
  nodeClient(node: ClusterNode): Redis;
  /** FLUSHALL on every primary: a clean store between tests. */
  reset(): Promise<void>;
  /** Stops every node and removes the folder. */
  close(): Promise<void>;
}

interface NodeLine {
  id: string;
  /** The primary's id for a replica, `-` for a primary. */
  masterId: string;
  address: string;
  flags: string[];
  slots: number;
  connected: boolean;
}

/** CLUSTER NODES, as far as the harness needs it: ids, address, flags, slots served, link state. */
function parseClusterNodes(text: string): NodeLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = line.split(' ');
      // `127.0.0.1:7000@17000[,hostname]`
      const address = (fields[1] ?? '').split('@')[0] ?? '';
      const slots = fields.slice(8).reduce((sum, range) => {
        if (range.startsWith('[')) return sum; // a slot being migrated or imported
        const [from, to] = range.split('-').map(Number);
        return sum + (to === undefined ? 1 : to - from! + 1);
      }, 0);
      return {
        id: fields[0] ?? '',
        masterId: fields[3] ?? '-',
        address,
        flags: (fields[2] ?? '').split(','),
        slots,
        connected: fields[7] === 'connected',
      };
    });
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const server = requireBinary(SERVER, INSTALL);
  const cli = requireBinary(CLI, INSTALL);
  const root = mkdtempSync(join(tmpdir(), 'sms-redis-cluster-'));
  const removeRoot = trackFolder(root);
  const password = options.password;
  const auth = password === undefined ? [] : ['-a', password, '--no-auth-warning'];
  const clients: Array<Redis | Cluster> = [];

  const nodes: ClusterNode[] = [];
  for (let i = 0; i < 6; i++) {
    const port = await freePort();
    // The bus port is port + 10000 by default, which may be past 65535 or taken: pick a free one.
    const busPort = await freePort();
    const dir = join(root, String(port));
    mkdirSync(dir);
    const logFile = join(dir, 'redis.log');
    const args = [
      '--port', String(port),
      '--cluster-port', String(busPort),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--logfile', logFile,
      '--daemonize', 'no',
      '--save', '',
      '--cluster-enabled', 'yes',
      '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 5000),
      // A replica may always be promoted, however long it was cut off: a drill must not stall on it.
      '--cluster-replica-validity-factor', '0',
      ...(options.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
      ...(password === undefined ? [] : ['--requirepass', password, '--masterauth', password]),
    ];
    const readLog = (): string => readLogFile(logFile);
    const lifecycle = serverProcess({
      binary: server,
      args,
      description: `cluster redis-server on port ${port}`,
      ready: () => answersPing(port, password),
      readLog,
      timeoutMs: START_TIMEOUT_MS,
    });
    nodes.push({ host: '127.0.0.1', port, address: `127.0.0.1:${port}`, dir, log: readLog, ...lifecycle });
  }

  const connect = (node: ClusterNode): Redis => {
    const client = new Redis({ host: node.host, port: node.port, password, maxRetriesPerRequest: 1, lazyConnect: true });
    client.on('error', () => {
      // Drills kill nodes on purpose.
    });
    return client;
  };

  /**
   * CLUSTER NODES as seen by the first running node that answers, other than `excluded` (a node
   * just restarted still believes its old nodes.conf until gossip corrects it).
   */
  const view = async (excluded?: ClusterNode): Promise<NodeLine[]> => {
    for (const node of nodes) {
      if (!node.running() || node === excluded) continue;
      const client = connect(node);
      try {
        await client.connect();
        return parseClusterNodes(String(await client.call('CLUSTER', 'NODES')));
      } catch {
        // try the next one
      } finally {
        client.disconnect();
      }
    }
    throw new Error('no cluster node answers');
  };

  const byAddress = (address: string): ClusterNode => {
    const node = nodes.find((n) => n.address === address);
    if (node === undefined) throw new Error(`CLUSTER NODES names ${address}, which is not one of ours`);
    return node;
  };

  const describeNodes = (): string => nodes.map((n) => `--- ${n.address} (${n.running() ? 'running' : 'stopped'})\n${n.log().split('\n').slice(-15).join('\n')}`).join('\n');

  const healthyOnce = async (): Promise<boolean> => {
    for (const node of nodes) {
      if (!node.running()) continue;
      const client = connect(node);
      try {
        await client.connect();
        const info = String(await client.call('CLUSTER', 'INFO'));
        if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384/.test(info)) return false;
        const lines = parseClusterNodes(String(await client.call('CLUSTER', 'NODES')));
        const served = lines
          .filter((line) => line.flags.includes('master') && !line.flags.includes('fail') && !line.flags.includes('fail?'))
          .filter((line) => byAddress(line.address).running())
          .reduce((sum, line) => sum + line.slots, 0);
        if (served !== ALL_SLOTS) return false;
      } finally {
        client.disconnect();
      }
    }
    return true;
  };

  const waitHealthy = (timeoutMs = HEALTHY_TIMEOUT_MS): Promise<void> =>
    waitUntil(healthyOnce, timeoutMs, () => `the Redis Cluster did not become healthy (cluster_state:ok, all slots served):\n${describeNodes()}`);

  const cluster: RedisCluster = {
    nodes,
    env: {
      REDIS_CLUSTER_NODES: nodes.map((n) => n.address).join(','),
      ...(password === undefined ? {} : { REDIS_PASSWORD: password }),
    },
    async masters() {
      return (await view()).filter((line) => line.flags.includes('master') && line.slots > 0 && !line.flags.includes('fail')).map((line) => byAddress(line.address));
    },
    async replicas() {
      return (await view()).filter((line) => line.flags.includes('slave')).map((line) => byAddress(line.address));
    },
    async masterOf(key) {
      const running = nodes.find((n) => n.running());
      if (running === undefined) throw new Error('no cluster node is running');
      const client = connect(running);
      try {
        await client.connect();
        const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
        const ranges = (await client.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
        const range = ranges.find(([from, to]) => slot >= from && slot <= to);
        if (range === undefined) throw new Error(`slot ${slot} of ${key} is served by nobody`);
        return byAddress(`127.0.0.1:${range[2][1]}`);
      } finally {
        client.disconnect();
      }
    },
    async reshard(from, to, slots) {
      const id = async (node: ClusterNode): Promise<string> => {
        const client = connect(node);
        try {
          await client.connect();
          return String(await client.call('CLUSTER', 'MYID'));
        } finally {
          client.disconnect();
        }
      };
      const [fromId, toId] = [await id(from), await id(to)];
      await run(
        cli,
        [...auth, '--cluster', 'reshard', from.address, '--cluster-from', fromId, '--cluster-to', toId, '--cluster-slots', String(slots), '--cluster-yes'],
        { timeout: HEALTHY_TIMEOUT_MS * 2 },
      ).catch((error: Error & { stdout?: string; stderr?: string }) => {
        throw new Error(`redis-cli --cluster reshard failed: ${error.message}\n${error.stdout ?? ''}${error.stderr ?? ''}`);
      });
    },
    async kill(node) {
      await node.stop('SIGKILL');
    },
    async restart(node) {
      await node.start();
    },
    async restartAsReplica(node) {
      await node.start();
      const started = Date.now();
      let told = false;
      await waitUntil(
        async () => {
          const lines = await view(node);
          const line = lines.find((l) => l.address === node.address);
          if (line?.flags.includes('slave') && line.connected) {
            const client = connect(node);
            try {
              await client.connect();
              const info = await client.info('replication');
              return /master_link_status:up/.test(info) && /master_sync_in_progress:0/.test(info);
            } finally {
              client.disconnect();
            }
          }
          if (!told && Date.now() - started > REJOIN_GRACE_MS) {
            const isPrimary = (l: NodeLine): boolean => l.flags.includes('master') && l.slots > 0 && !l.flags.some((f) => f.startsWith('fail'));
            const alone = lines.find((l) => isPrimary(l) && !lines.some((r) => r.masterId === l.id && r.address !== node.address));
            if (alone !== undefined) {
              told = true;
              const client = connect(node);
              try {
                await client.connect();
                await client.call('CLUSTER', 'REPLICATE', alone.id);
              } catch {
                told = false; // it may not know the primary yet: ask again next round
              } finally {
                client.disconnect();
              }
            }
          }
          return false;
        },
        HEALTHY_TIMEOUT_MS,
        () => `${node.address} did not come back as a replica:\n${describeNodes()}`,
      );
    },
    waitHealthy,
    async waitReplicasInSync(timeoutMs = HEALTHY_TIMEOUT_MS) {
      await waitUntil(
        async () => {
          for (const master of await cluster.masters()) {
            const client = connect(master);
            try {
              await client.connect();
              const info = await client.info('replication');
              const offset = Number(/master_repl_offset:(\d+)/.exec(info)?.[1] ?? NaN);
              const caughtUp = [...info.matchAll(/slave\d+:[^\r\n]*state=online,offset=(\d+)/g)].some((m) => offset - Number(m[1]) < CAUGHT_UP_BYTES);
              if (!caughtUp) return false;
            } finally {
              client.disconnect();
            }
          }
          return true;
        },
        timeoutMs,
        () => `some primary has no replica online:\n${describeNodes()}`,
      );
    },
    client() {
      const client = new Cluster(
        nodes.map((n) => ({ host: n.host, port: n.port })),
        { redisOptions: { password }, retryDelayOnClusterDown: 200, retryDelayOnFailover: 200 },
      );
      client.on('error', () => {
        // Drills kill nodes on purpose; commands still fail loudly.
      });
      clients.push(client);
      return client;
    },
    nodeClient(node) {
      const client = new Redis({ host: node.host, port: node.port, password, maxRetriesPerRequest: 3 });
      client.on('error', () => {
        // as above
      });
      clients.push(client);
      return client;
    },
    async reset() {
      for (const node of await cluster.masters()) {
        const client = connect(node);
        try {
          await client.connect();
          await client.flushall();
        } finally {
          client.disconnect();
        }
      }
    },
    async close() {
      for (const client of clients) client.disconnect();
      await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
      removeRoot();
    },
  };

  try {
    await Promise.all(nodes.map((n) => n.start()));
    await run(cli, [...auth, '--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '1', '--cluster-yes'], {
      timeout: HEALTHY_TIMEOUT_MS,
    }).catch((error: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(`redis-cli --cluster create failed: ${error.message}\n${error.stdout ?? ''}${error.stderr ?? ''}\n${describeNodes()}`);
    });
    await waitHealthy();
    // Every replica attached and past its first sync: a drill that kills a primary right away must
    // find a replica with its data to promote, and a WAIT 1 must be answerable from the start.
    await waitUntil(async () => (await cluster.replicas()).length === 3, HEALTHY_TIMEOUT_MS, () => `replicas did not attach:\n${describeNodes()}`);
    await cluster.waitReplicasInSync();
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}
