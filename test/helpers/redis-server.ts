/**
 * A private redis-server for tests and benchmarks: its own free loopback port and temporary
 * folder, never a Redis already running on the machine. It can be stopped (gracefully, or
 * killed), paused and started again on the same port, for the fault tests.
 *
 *   const redis = await startRedisServer();
 *   startServerProcess({ ...redis.env, ... });   // REDIS_HOST, REDIS_PORT (and REDIS_PASSWORD)
 *   await redis.close();
 *
 * Suites that need it use `skip: skipWithoutRedis('the suites')`.
 */
import { mkdtempSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { findBinary, freePort, requireBinary, skipUnlessInstalled, readLogFile, serverProcess, trackFolder, type ManagedServer } from './real-backends.js';

const BINARY = 'redis-server';
const INSTALL = "Debian's redis-server (apt-get install redis-server)";
const START_TIMEOUT_MS = 20_000;

/** The `skip` option for suites that need redis-server (see real-backends.ts). */
export function skipWithoutRedis(suites: string): string | false {
  return skipUnlessInstalled(suites, findBinary(BINARY) === null ? [{ binary: BINARY, install: INSTALL }] : []);
}

export interface RedisServerOptions {
  /**
   * Keep data across a stop and start: an append-only file synced on every write, so even a
   * killed server keeps everything it acknowledged. Off by default (memory only, faster).
   */
  persistent?: boolean;
  /** requirepass: the server then needs REDIS_PASSWORD. */
  password?: string;
}

export interface RedisServer extends ManagedServer {
  /** A test-side connection to a database; closed by close(). */
  client(db: number): Redis;
}

/** One PING over a raw socket (AUTH first when needed): true on +PONG. */
export function answersPing(port: number, password: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      socket.write(`${password === undefined ? '' : `AUTH ${password}\r\n`}PING\r\n`);
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('+PONG')) done(true);
      // An error line: still loading its data, or a wrong password.
      else if (/^-/m.test(reply)) done(false);
    });
  });
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = requireBinary(BINARY, INSTALL);
  const dir = mkdtempSync(join(tmpdir(), 'sms-redis-'));
  const removeDir = trackFolder(dir);
  const port = await freePort();
  const logFile = join(dir, 'redis.log');
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--logfile', logFile,
    '--save', '',
    '--daemonize', 'no',
    ...(options.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ...(options.password === undefined ? [] : ['--requirepass', options.password]),
  ];
  const clients: Redis[] = [];
  const readLog = (): string => readLogFile(logFile);
  const lifecycle = serverProcess({
    binary,
    args,
    description: `redis-server on port ${port}`,
    ready: () => answersPing(port, options.password),
    readLog,
    timeoutMs: START_TIMEOUT_MS,
  });

  await lifecycle.start().catch((error: unknown) => {
    // serverProcess has killed redis-server; its folder goes too.
    removeDir();
    throw error;
  });
  const server: RedisServer = {
    host: '127.0.0.1',
    port,
    dir,
    env: {
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(port),
      ...(options.password === undefined ? {} : { REDIS_PASSWORD: options.password }),
    },
    client(db) {
      const client = new Redis({ host: '127.0.0.1', port, db, password: options.password, lazyConnect: false, maxRetriesPerRequest: 3 });
      client.on('error', () => {
        // The fault tests stop this server on purpose; the client reconnects by itself.
      });
      clients.push(client);
      return client;
    },
    ...lifecycle,
    log: readLog,
    async close() {
      for (const client of clients) client.disconnect();
      await lifecycle.stop('SIGKILL');
      removeDir();
    },
  };
  return server;
}
