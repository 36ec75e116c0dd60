/**
 * A small closed-loop HTTP/1.1 load generator: `concurrency` keep-alive connections, each sending
 * its next prepared request as soon as the previous answer is in. Requests are built to bytes before
 * the clock starts and responses are parsed only as far as needed (status, Content-Length, body),
 * so the generator takes as little CPU as possible from the server it shares the machine with.
 */
import { connect, type Socket } from 'node:net';

export interface LoadResult {
  /** Wall time from the first request sent to the last answer in. */
  elapsedMs: number;
  /** Per request, in the order of `requests`. */
  latencyMs: Float64Array;
  status: Int32Array;
  /** Response bodies, when asked for (auth needs the PEM); else empty strings. */
  bodies: string[];
  /** Connection-level failures (reset, closed mid-answer). */
  transportErrors: number;
  completed: number;
}

export interface LoadOptions {
  host: string;
  port: number;
  requests: Buffer[];
  concurrency: number;
  keepBodies?: boolean;
  /** Instead of each request once: cycle through them until this much time has passed. */
  durationMs?: number;
}

/** The bytes of a form POST to `path`, ready to write to a socket. */
export function formPost(host: string, port: number, path: string, fields: Record<string, string>): Buffer {
  const body = Buffer.from(new URLSearchParams(fields).toString());
  const head =
    `POST ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n` +
    `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** Reads one answer at a time off a keep-alive connection. */
class Connection {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: ((answer: { status: number; body: string } | Error) => void) | undefined;

  constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.tryParse();
    });
    const fail = (error: Error) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.(error);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static open(host: string, port: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      socket.once('connect', () => resolve(new Connection(socket)));
      socket.once('error', reject);
    });
  }

  send(request: Buffer): Promise<{ status: number; body: string } | Error> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private tryParse(): void {
    const end = this.buffered.indexOf(HEADER_END);
    if (end < 0 || this.waiting === undefined) return;
    const head = this.buffered.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const match = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (match === null) {
      this.finish(new Error('answer without Content-Length'));
      return;
    }
    const length = Number(match[1]);
    const total = end + 4 + length;
    if (this.buffered.length < total) return;
    const body = this.buffered.toString('utf8', end + 4, total);
    this.buffered = this.buffered.subarray(total);
    this.finish({ status, body });
  }

  private finish(answer: { status: number; body: string } | Error): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(answer);
  }
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { requests, concurrency } = options;
  const cycling = options.durationMs !== undefined;
  const capacity = cycling ? 4_000_000 : requests.length;
  const latencyMs = new Float64Array(capacity);
  const status = new Int32Array(capacity);
  const bodies: string[] = options.keepBodies ? new Array<string>(requests.length).fill('') : [];
  let next = 0;
  let completed = 0;
  let transportErrors = 0;

  const connections = await Promise.all(
    Array.from({ length: Math.min(concurrency, cycling ? concurrency : requests.length) }, () =>
      Connection.open(options.host, options.port),
    ),
  );
  const started = performance.now();
  const deadline = cycling ? started + (options.durationMs ?? 0) : Infinity;

  const loop = async (connection: Connection): Promise<void> => {
    for (;;) {
      if (cycling ? performance.now() >= deadline || next >= capacity : next >= requests.length) return;
      const index = next++;
      const request = requests[index % requests.length] as Buffer;
      const sent = performance.now();
      const answer = await connection.send(request);
      latencyMs[index] = performance.now() - sent;
      if (answer instanceof Error) {
        transportErrors += 1;
        status[index] = -1;
        return;
      }
      status[index] = answer.status;
      if (options.keepBodies) bodies[index] = answer.body;
      completed += 1;
    }
  };
  await Promise.all(connections.map(loop));
  const elapsedMs = performance.now() - started;
  for (const connection of connections) connection.close();
  const used = cycling ? next : requests.length;
  return {
    elapsedMs,
    latencyMs: latencyMs.subarray(0, used),
    status: status.subarray(0, used),
    bodies,
    transportErrors,
    completed,
  };
}

/** The p-th percentile (0–100) of the latencies, nearest rank. */
export function percentile(values: Float64Array, p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}
