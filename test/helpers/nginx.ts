/**
 * A private nginx (Debian's package) in front of server instances, for the many-instances tests:
 * its own free loopback port and temporary folder, never the machine's nginx or /etc/nginx.
 *
 *   const proxy = await startNginx({ upstreams: ['127.0.0.1:8001', '127.0.0.1:8002'] });
 *   await fetch(`${proxy.url}/api`, …);        // round robin over the upstreams
 *   await proxy.close();
 *
 * Everything nginx writes goes into the folder: the prefix (`-p`), the configuration (`-c`), the
 * error log (`-e` and error_log), the pid file (`-g 'pid …;'`) and every temp path. It runs in the
 * foreground (`daemon off`) as one process (`master_process off`), so stopping or killing the child
 * leaves no worker behind. The `http { … }` block is exactly the one docs/SCALING.md recommends
 * (proxyHttpBlock below; test/scale/instances.test.ts checks the two agree).
 *
 * Suites that need it use `skip: skipWithoutNginx('the suites')`.
 */
import { mkdtempSync, chmodSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, freePort, readLogFile, requireBinary, serverProcess, skipUnlessInstalled, trackFolder, type ServerProcess } from './real-backends.js';

const BINARY = 'nginx';
const INSTALL = "Debian's nginx (apt-get install nginx)";
const START_TIMEOUT_MS = 10_000;

/** The `skip` option for suites that need nginx (see real-backends.ts). */
export function skipWithoutNginx(suites: string): string | false {
  return skipUnlessInstalled(suites, findBinary(BINARY) === null ? [{ binary: BINARY, install: INSTALL }] : []);
}

export interface NginxOptions {
  /** The server instances, `host:port` each. */
  upstreams: readonly string[];
}

export interface Nginx extends ServerProcess {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** The configuration file nginx was started with. */
  readonly config: string;
  /** nginx's error log so far. */
  log(): string;
  close(): Promise<void>;
}

/**
 * The proxy part of the configuration: what an operator puts in front of several instances
 * (docs/SCALING.md prints it with example addresses). Every line is there for a reason:
 * - X-Forwarded-For: the instances run with TRUST_PROXY=1, so the failure budget per address and
 *   the rate limit count the device's address, not nginx's (SPEC §10);
 * - HTTP/1.1 with an empty Connection header and `keepalive`: connections to the instances are
 *   reused instead of one per request;
 * - proxy_read_timeout above the consumer API's longest `wait` (30 s, SPEC §9);
 * - client_max_body_size at least MAX_BODY_BYTES (default 256 KiB) so the server, not nginx,
 *   answers an oversized body with §1's JSON 413;
 * - proxy_next_upstream: nginx never resends a POST (non-idempotent) to a second instance once it
 *   was sent, so a submit is never stored twice by the proxy; a refused connection (an instance
 *   down) is tried on the next one, which is safe because nothing was sent.
 */
export function proxyHttpBlock(options: { listen: string; upstreams: readonly string[]; tempDir: string; accessLog: string }): string {
  const temp = (name: string): string => join(options.tempDir, name);
  return `http {
    access_log ${options.accessLog};
    client_body_temp_path ${temp('client_body')};
    proxy_temp_path       ${temp('proxy')};
    fastcgi_temp_path     ${temp('fastcgi')};
    uwsgi_temp_path       ${temp('uwsgi')};
    scgi_temp_path        ${temp('scgi')};

    upstream secure_message {
${options.upstreams.map((address) => `        server ${address} max_fails=1 fail_timeout=5s;`).join('\n')}
        keepalive 32;
    }

    server {
        listen ${options.listen};
        client_max_body_size 1m;

        location / {
            proxy_pass http://secure_message;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout;
        }
    }
}
`;
}

/** True once something accepts a TCP connection on the port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
  });
}

export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const binary = requireBinary(BINARY, INSTALL);
  const dir = mkdtempSync(join(tmpdir(), 'sms-nginx-'));
  chmodSync(dir, 0o700);
  const removeDir = trackFolder(dir);
  const port = await freePort();
  const errorLog = join(dir, 'error.log');
  const config = join(dir, 'nginx.conf');
  writeFileSync(
    config,
    `error_log ${errorLog} warn;
events {
    worker_connections 1024;
}
${proxyHttpBlock({ listen: `127.0.0.1:${port}`, upstreams: options.upstreams, tempDir: dir, accessLog: join(dir, 'access.log') })}`,
  );
  const readLog = (): string => readLogFile(errorLog);
  const lifecycle = serverProcess({
    binary,
    // -e: the error log before the configuration is read (else nginx tries /var/log/nginx/error.log).
    args: ['-p', `${dir}/`, '-c', config, '-e', errorLog, '-g', `daemon off; master_process off; pid ${join(dir, 'nginx.pid')};`],
    description: `nginx on port ${port}`,
    ready: () => accepts(port),
    readLog,
    timeoutMs: START_TIMEOUT_MS,
  });
  await lifecycle.start().catch((error: unknown) => {
    // serverProcess has killed nginx; its folder goes too.
    removeDir();
    throw error;
  });
  return {
    ...lifecycle,
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    config,
    log: readLog,
    async close() {
      await lifecycle.stop('SIGTERM');
      removeDir();
    },
  };
}
