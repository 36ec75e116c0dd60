/**
 * RSA key generation in a helper process at the lowest CPU priority, so the key pool fills from
 * CPU time that request handling leaves over instead of competing with it.
 *
 * A process rather than a worker thread because it can be stopped at once: OpenSSL's key
 * generation cannot be interrupted, and a process exit waits for a worker thread's native call to
 * return, which for a starved low-priority generation can take many seconds. Key pairs travel over
 * the IPC pipe only; nothing is written to disk.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { SessionKeyBits } from '../config/config.js';
import type { SessionKeyPair, StoredKeyPair } from './key-pair.js';

/** Where a key pool gets its pairs in the background. */
export interface KeyPairGenerator {
  generate(): Promise<SessionKeyPair>;
  /** Stops the generator now; pending generations reject. */
  close(): Promise<void>;
}

/** PKCS#8 export options of the stored form (KeyWrap.exportOptions); undefined = plain. */
export type StoredForm = { cipher: string; passphrase: string } | undefined;

/** Where the durable pool (issue 15) gets its pairs: made directly in the form a session record stores. */
export interface StoredKeyPairGenerator {
  generateStored(form: StoredForm): Promise<StoredKeyPair>;
  /** Gets ready now (before the server listens), so the first generation costs a request nothing. */
  warm?(): void;
  close(): Promise<void>;
}

/** The lowest priority: the helper gets a CPU only when nothing at the normal priority wants it. */
const LOWEST_PRIORITY = 19;

// Plain CommonJS run with -e, so the helper needs neither a build step nor the TypeScript loader.
// Sync generation on the main thread: the async call would hand the work to libuv's pool, whose
// threads keep the normal priority. Orphaned (parent gone), it stops after the key in progress.
// A request with a cipher and passphrase (the durable pool, KEY_ENCRYPTION_KEY set) gets the
// private key already encrypted, as KeyWrap.wrap makes it: the wrap costs the server's event
// loop nothing, and the plain key never crosses the pipe. The passphrase travels over the IPC
// pipe only (never argv or the environment), and the helper keeps nothing between requests.
const HELPER_SOURCE = `
const { generateKeyPairSync } = require('node:crypto');
try { require('node:os').setPriority(${LOWEST_PRIORITY}); } catch {}
process.on('disconnect', () => process.exit(0));
process.on('message', (request) => {
  let reply;
  try {
    const pair = generateKeyPairSync('rsa', {
      modulusLength: request.bits,
      publicExponent: 65537,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: request.form
        ? { type: 'pkcs8', format: 'pem', cipher: request.form.cipher, passphrase: request.form.passphrase }
        : { type: 'pkcs8', format: 'pem' },
    });
    reply = { id: request.id, publicKeyPem: pair.publicKey, privateKeyPem: pair.privateKey };
  } catch (error) {
    reply = { id: request.id, error: String(error && error.message) };
  }
  if (process.connected) process.send(reply);
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

/** Generates one key pair at a time in a low-priority helper process, started on first use. */
export class LowPriorityKeyGenerator implements KeyPairGenerator, StoredKeyPairGenerator {
  private helper: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;

  constructor(private readonly bits: SessionKeyBits) {}

  /** The helper's process id while it runs, for tests and diagnostics. */
  get pid(): number | undefined {
    return this.helper?.pid;
  }

  generate(): Promise<SessionKeyPair> {
    return this.request(undefined);
  }

  /**
   * Starts the helper now. Spawning it blocks the event loop for 15–50 ms (measured in the bench's
   * cold-start burst, where the first refill spawned it mid-burst), so the server does it before
   * it listens.
   */
  warm(): void {
    if (!this.closed) this.helper ??= this.startHelper();
  }

  /** A pair whose private key is already in the stored form `form` (issue 15). */
  async generateStored(form: StoredForm): Promise<StoredKeyPair> {
    const pair = await this.request(form);
    return { publicKeyPem: pair.publicKeyPem, storedPrivateKey: pair.privateKeyPem };
  }

  private request(form: StoredForm): Promise<SessionKeyPair> {
    if (this.closed) return Promise.reject(new Error('key generator closed'));
    const helper = (this.helper ??= this.startHelper());
    const id = this.nextId++;
    return new Promise<SessionKeyPair>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Held open only while an answer is awaited: an idle helper must not keep a stopping process alive.
      helper.channel?.ref();
      helper.send(form === undefined ? { id, bits: this.bits } : { id, bits: this.bits, form });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new Error('key generator closed'));
    const helper = this.helper;
    this.helper = undefined;
    if (helper === undefined || helper.exitCode !== null || helper.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      helper.once('exit', () => resolve());
      // Referenced again so the event loop stays up to see the exit this promise waits for.
      helper.ref();
      helper.kill('SIGKILL');
    });
  }

  private startHelper(): ChildProcess {
    const helper = spawn(process.execPath, ['--max-old-space-size=16', '-e', HELPER_SOURCE], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      // Only what node needs: the helper has no use for the server's settings or secrets.
      env: { PATH: process.env.PATH ?? '' },
    });
    helper.unref();
    helper.channel?.unref();
    helper.on('message', (reply: Reply) => this.settle(reply));
    helper.on('error', (error) => this.lose(helper, error));
    helper.on('exit', (code, signal) => this.lose(helper, new Error(`key generator exited (${signal ?? code})`)));
    return helper;
  }

  private settle(reply: Reply): void {
    const waiter = this.pending.get(reply.id);
    if (waiter === undefined) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.helper?.channel?.unref();
    if (reply.publicKeyPem !== undefined && reply.privateKeyPem !== undefined) {
      waiter.resolve({ publicKeyPem: reply.publicKeyPem, privateKeyPem: reply.privateKeyPem });
    } else {
      waiter.reject(new Error(`key generation failed: ${reply.error ?? 'no key returned'}`));
    }
  }

  /** A helper that died takes its pending requests with it; the next generate() starts another. */
  private lose(helper: ChildProcess, error: Error): void {
    if (this.helper !== helper) return;
    this.helper = undefined;
    this.failAll(error);
  }

  private failAll(error: Error): void {
    const waiters = [...this.pending.values()];
    this.pending.clear();
    for (const waiter of waiters) waiter.reject(error);
  }
}
