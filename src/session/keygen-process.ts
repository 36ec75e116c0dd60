/**
 * RSA key generation on a thread of its own at the lowest CPU priority, so the key pool fills
 * from CPU time that request handling leaves over instead of competing with it.
 */
import { Worker } from 'node:worker_threads';
import type { SessionKeyBits } from '../config/config.js';
import type { SessionKeyPair } from './key-pair.js';

/** Where a key pool gets its pairs in the background. */
export interface KeyPairGenerator {
  generate(): Promise<SessionKeyPair>;
  /** Stops the generator; pending generations reject. */
  close(): Promise<void>;
}

/** Linux's lowest priority: the thread gets a CPU only when nothing at the normal priority wants it. */
const LOWEST_PRIORITY = 19;

// Inline CommonJS, so the thread needs neither a build step nor the TypeScript loader.
// The sync call is deliberate: the async one would hand the work to libuv's pool, whose threads run
// at the normal priority. On Linux setpriority(PRIO_PROCESS, 0) applies to the calling thread only;
// elsewhere it would lower the whole process, hence the platform check.
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { generateKeyPairSync } = require('node:crypto');
const { setPriority } = require('node:os');
if (workerData.lowerPriority) {
  try { setPriority(workerData.priority); } catch {}
}
parentPort.on('message', (request) => {
  try {
    const pair = generateKeyPairSync('rsa', {
      modulusLength: request.bits,
      publicExponent: 65537,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    parentPort.postMessage({ id: request.id, publicKeyPem: pair.publicKey, privateKeyPem: pair.privateKey });
  } catch (error) {
    parentPort.postMessage({ id: request.id, error: String(error && error.message) });
  }
});
`;

interface Reply {
  id: number;
  publicKeyPem?: string;
  privateKeyPem?: string;
  error?: string;
}

interface Pending {
  resolve(pair: SessionKeyPair): void;
  reject(error: Error): void;
}

/** Generates one key pair at a time on a low-priority thread, started on first use. */
export class LowPriorityKeyGenerator implements KeyPairGenerator {
  private thread: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;

  constructor(private readonly bits: SessionKeyBits) {}

  generate(): Promise<SessionKeyPair> {
    if (this.closed) return Promise.reject(new Error('key generator closed'));
    const thread = (this.thread ??= this.startThread());
    const id = this.nextId++;
    return new Promise<SessionKeyPair>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      thread.postMessage({ id, bits: this.bits });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new Error('key generator closed'));
    const thread = this.thread;
    this.thread = undefined;
    // Resolves once the generation in progress, if any, returns: native code cannot be interrupted.
    if (thread !== undefined) await thread.terminate();
  }

  private startThread(): Worker {
    const thread = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: { lowerPriority: process.platform === 'linux', priority: LOWEST_PRIORITY },
      // The thread only calls into OpenSSL; a small JS heap keeps its resident memory down.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    // An idle generator must not keep a stopping process alive.
    thread.unref();
    thread.on('message', (reply: Reply) => this.settle(reply));
    thread.on('error', (error) => this.lose(thread, error));
    thread.on('exit', (code) => this.lose(thread, new Error(`key generator thread exited (${code})`)));
    return thread;
  }

  private settle(reply: Reply): void {
    const waiter = this.pending.get(reply.id);
    if (waiter === undefined) return;
    this.pending.delete(reply.id);
    if (reply.publicKeyPem !== undefined && reply.privateKeyPem !== undefined) {
      waiter.resolve({ publicKeyPem: reply.publicKeyPem, privateKeyPem: reply.privateKeyPem });
    } else {
      waiter.reject(new Error(`key generation failed: ${reply.error ?? 'no key returned'}`));
    }
  }

  /** A thread that died takes its pending requests with it; the next generate() starts a new one. */
  private lose(thread: Worker, error: Error): void {
    if (this.thread !== thread) return;
    this.thread = undefined;
    this.failAll(error);
  }

  private failAll(error: Error): void {
    const waiters = [...this.pending.values()];
    this.pending.clear();
    for (const waiter of waiters) waiter.reject(error);
  }
}
