#!/usr/bin/env node
/**
 * The device command line: log in, send, log out, against a Secure Message Server.
 * Built on the client library, so it handles expired sessions, lost answers and back-off the same way.
 *
 *   npm run device -- login --server URL --key KEY [--secret-file F] [--state DIR]
 *   npm run device -- send [TEXT | --file F] [--lines] [--cbc] [--oaep-hash SHA-1] [--minute M]
 *   npm run device -- logout
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Readable } from 'node:stream';
import { SecureMessageClient, SecureMessageError, type ContentEncryption, type Minute, type OaepHash, type Session } from '../client/index.js';

/**
 * How the user ran this, for the hints: `npm run device --` in the repository (npm says so in
 * npm_lifecycle_event), the package's bin `secure-message-device` once installed.
 */
const PROGRAM = process.env.npm_lifecycle_event === 'device' ? 'npm run device --' : 'secure-message-device';

const USAGE = `usage:
  ${PROGRAM} login --server URL --key KEY [--secret-file F]
                                          authenticate; keeps the session's public key (and the secret) in the state folder
  ${PROGRAM} send TEXT                        send TEXT as one message
  ${PROGRAM} send --file F                    send the file F as one message (- = standard input)
  ${PROGRAM} send                             send standard input as one message
  ${PROGRAM} send --lines [TEXT | --file F]   one message per line, each sent as it arrives (for streams)
  ${PROGRAM} logout                           end the session and forget it

options:
  --secret-file F    login: the device's secret (SPEC §10), read from the file F (- = standard input);
                     or set SECURE_MESSAGE_SECRET. Never given on the command line, where ps shows it
  --state DIR        where the session is kept (default $XDG_CONFIG_HOME/secure-message or ~/.config/secure-message)
  --cbc              AES-CBC instead of AES-GCM, for servers of the original kind (same as --enc AES-CBC)
  --oaep-hash H      SHA-256 (default) or SHA-1
  --no-key-reuse     send: a new AES key for every message (by default the AES-GCM messages of one
                     run share one wrapped key, each under a fresh IV; see the client's keyReuse)
  --minute M         the message's minute (default: the current Unix minute)
  --timeout MS       per request (default 15000)
  --attempts N       tries per request when the server is unreachable or busy (default 5)

exit codes: 0 done, 1 refused by the server, 2 bad usage or input,
            3 not logged in, 4 server unreachable or busy (try again later)`;

const EXIT = { ok: 0, refused: 1, usage: 2, notLoggedIn: 3, temporary: 4 } as const;

/** A mistake on the command line or in the input; nothing was sent for it. */
class UsageError extends Error {}
/** No state file: `login` first. */
class NotLoggedInError extends Error {}

/** What `login` keeps: where, as whom, the session's public key, and the secret to log in again with. */
interface SavedState {
  server: string;
  key: string;
  /** SPEC §10: kept (in a 0600 file) so that `send` can open a new session by itself. */
  secret?: string;
  session: Session;
  saved_at: string;
}

/** The environment variable that may hold the device's secret. */
const SECRET_ENV = 'SECURE_MESSAGE_SECRET';

/** The secret from --secret-file or SECURE_MESSAGE_SECRET (never from argv); undefined when neither. */
async function readSecret(file: string | undefined): Promise<string | undefined> {
  if (file !== undefined) {
    const bytes = file === '-' ? await readAll(process.stdin) : readFileSync(file);
    // A file written by an editor or `echo` ends with a newline that is no part of the secret.
    const secret = checkUtf8(bytes, file).replace(/\r?\n$/, '');
    if (secret === '' || /[\r\n]/.test(secret)) throw new UsageError(`${file}: the secret file must hold the secret on one line`);
    return secret;
  }
  const fromEnv = process.env[SECRET_ENV];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

const STATE_FILE = 'session.json';

function defaultStateDir(): string {
  const xdg = process.env.XDG_CONFIG_HOME;
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.config'), 'secure-message');
}

function readState(dir: string): SavedState {
  let text: string;
  try {
    text = readFileSync(join(dir, STATE_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotLoggedInError(`not logged in (no ${join(dir, STATE_FILE)}); run: ${PROGRAM} login --server URL --key KEY`);
    throw error;
  }
  let state: Partial<SavedState>;
  try {
    state = JSON.parse(text) as Partial<SavedState>;
  } catch {
    state = {};
  }
  if (typeof state.server !== 'string' || typeof state.key !== 'string' || typeof state.session?.publicKey !== 'string') {
    throw new NotLoggedInError(`${join(dir, STATE_FILE)} is not a session of this command; run login again`);
  }
  return state as SavedState;
}

/** Written to a 0600 file first and renamed, so the state is never half-written nor readable by others. */
function writeState(dir: string, state: SavedState): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, STATE_FILE);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  // writeFileSync's mode only applies to a new file; the chmod holds even if the umask was odd.
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}

function parseMinute(text: string | undefined): Minute | undefined {
  if (text === undefined) return undefined;
  if (/^-?\d+$/.test(text)) {
    const n = Number(text);
    if (!Number.isSafeInteger(n)) throw new UsageError('--minute: an integer minute must be a safe integer');
    return n;
  }
  return text;
}

function checkUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new UsageError(`${what} is not UTF-8 text; the server stores text only`);
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

/** Lines of a byte stream as they arrive; split on bytes so each line's UTF-8 can be checked whole. */
async function* lines(stream: Readable): AsyncGenerator<{ text: string; number: number }> {
  let pending = Buffer.alloc(0);
  let number = 0;
  const emit = (raw: Buffer) => {
    number++;
    const trimmed = raw.length > 0 && raw[raw.length - 1] === 0x0d ? raw.subarray(0, raw.length - 1) : raw;
    return { text: checkUtf8(trimmed, `line ${number}`), number };
  };
  for await (const chunk of stream) {
    pending = Buffer.concat([pending, Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string)]);
    let newline: number;
    while ((newline = pending.indexOf(0x0a)) !== -1) {
      const line = emit(pending.subarray(0, newline));
      pending = pending.subarray(newline + 1);
      yield line;
    }
  }
  if (pending.length > 0) yield emit(pending);
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

function info(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      key: { type: 'string' },
      'secret-file': { type: 'string' },
      state: { type: 'string' },
      file: { type: 'string' },
      lines: { type: 'boolean' },
      cbc: { type: 'boolean' },
      enc: { type: 'string' },
      'oaep-hash': { type: 'string' },
      'no-key-reuse': { type: 'boolean' },
      minute: { type: 'string' },
      timeout: { type: 'string' },
      attempts: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help === true || command === 'help') {
    print(USAGE);
    return EXIT.ok;
  }
  if (command !== 'login' && (values.server !== undefined || values.key !== undefined || values['secret-file'] !== undefined)) {
    // send and logout use what login kept; silently ignoring another server or key would mislead.
    throw new UsageError('--server, --key and --secret-file belong to login');
  }
  const stateDir = resolve(values.state ?? defaultStateDir());
  const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0)) throw new UsageError('--timeout takes milliseconds');
  const attempts = values.attempts === undefined ? undefined : Number(values.attempts);
  if (attempts !== undefined && !(Number.isInteger(attempts) && attempts >= 1)) throw new UsageError('--attempts takes a whole number of at least 1');
  const common = { timeoutMs, ...(attempts === undefined ? {} : { retry: { attempts } }) };

  if (command === 'login') {
    if (values.server === undefined || values.key === undefined) throw new UsageError('login needs --server URL and --key KEY');
    if (rest.length > 0) throw new UsageError(`unexpected argument: ${rest[0]}`);
    let previous: Session | null = null;
    try {
      const saved = readState(stateDir);
      // Logging in again as the same device keeps the key it has, if the server still has the session.
      if (saved.server === values.server && saved.key === values.key) previous = saved.session;
    } catch (error) {
      if (!(error instanceof NotLoggedInError)) throw error;
    }
    const secret = await readSecret(values['secret-file']);
    const client = new SecureMessageClient({ server: values.server, key: values.key, secret, session: previous, ...common });
    const session = await client.auth();
    writeState(stateDir, { server: values.server, key: values.key, ...(secret === undefined ? {} : { secret }), session, saved_at: new Date().toISOString() });
    print(`logged in as device "${session.name}"; session kept in ${join(stateDir, STATE_FILE)}`);
    return EXIT.ok;
  }

  if (command === 'send') {
    const state = readState(stateDir);
    if (values.cbc === true && values.enc !== undefined && values.enc !== 'AES-CBC') throw new UsageError('--cbc and --enc disagree');
    const enc = (values.cbc === true ? 'AES-CBC' : (values.enc ?? 'AES-GCM')) as ContentEncryption;
    if (enc !== 'AES-GCM' && enc !== 'AES-CBC') throw new UsageError('--enc is AES-GCM or AES-CBC');
    const oaepHash = (values['oaep-hash'] ?? 'SHA-256') as OaepHash;
    if (oaepHash !== 'SHA-256' && oaepHash !== 'SHA-1') throw new UsageError('--oaep-hash is SHA-256 or SHA-1');
    const minute = parseMinute(values.minute);
    if (rest.length > 1) throw new UsageError('send takes one TEXT argument; quote it, or use --file');
    if (rest.length === 1 && values.file !== undefined) throw new UsageError('give TEXT or --file, not both');

    const client = new SecureMessageClient({
      server: state.server,
      key: state.key,
      secret: state.secret,
      session: state.session,
      enc,
      oaepHash,
      ...(values['no-key-reuse'] === true ? { keyReuse: false as const } : {}),
      ...common,
      onSession: (session) => {
        // A re-auth after an expired session: keep the new key for the next run.
        if (session !== null) writeState(stateDir, { ...state, session, saved_at: new Date().toISOString() });
      },
    });
    const sendOne = async (text: string): Promise<void> => {
      const result = await client.send(text, minute === undefined ? {} : { minute });
      print(`${result.duplicate ? 'duplicate' : 'delivered'} ${result.id}`);
    };

    const text = rest[0];
    const openInput = (): Readable => {
      if (values.file !== undefined && values.file !== '-') return createReadStream(values.file);
      if (process.stdin.isTTY) info('reading the message from standard input; end it with Ctrl-D');
      return process.stdin;
    };
    if (values.lines === true) {
      const source = text !== undefined ? (async function* () { yield Buffer.from(text, 'utf8'); })() : openInput();
      let sent = 0;
      for await (const line of lines(source as Readable)) {
        // Blank lines carry no message; a stream's separators or a trailing newline should not become one.
        if (line.text === '') continue;
        await sendOne(line.text);
        sent++;
      }
      if (sent === 0) info('nothing to send: no non-empty line');
      return EXIT.ok;
    }
    const payload = text ?? checkUtf8(await readAll(openInput()), values.file ?? 'standard input');
    if (payload === '') throw new UsageError('nothing to send: the message is empty');
    await sendOne(payload);
    return EXIT.ok;
  }

  if (command === 'logout') {
    if (rest.length > 0) throw new UsageError(`unexpected argument: ${rest[0]}`);
    const state = readState(stateDir);
    const client = new SecureMessageClient({ server: state.server, key: state.key, secret: state.secret, session: state.session, ...common });
    const deleted = await client.logout();
    rmSync(join(stateDir, STATE_FILE), { force: true });
    print(deleted ? 'logged out' : 'logged out (the server had no session: it had expired or was ended elsewhere)');
    return EXIT.ok;
  }

  throw new UsageError(command === undefined ? 'missing command' : `unknown command: ${command}`);
}

function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof NotLoggedInError) return EXIT.notLoggedIn;
  if (error instanceof SecureMessageError) {
    if (error.code === 'INVALID_ARGUMENT') return EXIT.usage;
    return error.retryable ? EXIT.temporary : EXIT.refused;
  }
  // parseArgs's own errors are usage mistakes.
  if ((error as { code?: unknown }).code?.toString().startsWith('ERR_PARSE_ARGS') === true) return EXIT.usage;
  if (typeof (error as NodeJS.ErrnoException).syscall === 'string') return EXIT.usage;
  return EXIT.refused;
}

// EPIPE (`device send ... | head -1`) is not an error of ours.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
});

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (error) {
  const code = exitCodeFor(error);
  const label = error instanceof SecureMessageError ? `${error.code}: ` : '';
  info(`device: ${label}${error instanceof Error ? error.message : String(error)}`);
  if (code === EXIT.usage && (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) {
    info(`run "${PROGRAM} --help" for usage`);
  }
  process.exitCode = code;
}
