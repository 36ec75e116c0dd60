/**
 * Issue 10 (SPEC §11) on the embedded store's files: 0700 folder and 0600 files, new and existing;
 * after a logout, the session's private key is in none of the SQLite files (db, -wal, -shm) while
 * the server runs; and (issue 14's item) two processes creating the schema of a fresh DATA_DIR at
 * once never die with SQLITE_BUSY.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EMBEDDED_DATABASE_FILE } from '../../src/backends/sqlite/database.js';
import { Code, Message } from '../../src/protocol/answers.js';
import { encryptEnvelope } from '../helpers/encrypt.js';
import { postForm } from '../helpers/http.js';
import { makeDataDir, REPO_ROOT, startServerProcess, TSX } from '../helpers/server-process.js';
import { startHarness, type Harness } from './harness.js';

const mode = (path: string): number => statSync(path).mode & 0o777;
const FILES = ['', '-wal', '-shm'];

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('embedded store files', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness('embedded', ['phone', 'tablet']);
  });
  after(async () => h?.close());

  test('a new DATA_DIR is 0700 and the database, -wal and -shm are 0600', async () => {
    await h.auth('tablet');
    const db = join(h.dataDir, EMBEDDED_DATABASE_FILE);
    assert.equal(mode(h.dataDir), 0o700);
    for (const suffix of FILES) {
      assert.ok(existsSync(`${db}${suffix}`), `${suffix || 'db'} exists while the server runs`);
      assert.equal(mode(`${db}${suffix}`), 0o600, `${EMBEDDED_DATABASE_FILE}${suffix}`);
    }
  });

  test('after a logout the private key is in none of the SQLite files', async () => {
    const pem = await h.auth('phone');
    const session = await h.store.sessions.get(h.key('phone'));
    assert.ok(session);
    // The base64 body of the PKCS#8 PEM, and its DER: either form would give the key away.
    const body = session.private_key.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    const der = createPrivateKey(session.private_key).export({ type: 'pkcs8', format: 'der' });
    const lines = body.match(/.{1,64}/g) ?? [];
    const db = join(h.dataDir, EMBEDDED_DATABASE_FILE);
    const holdsKey = (): string[] =>
      FILES.filter((suffix) => {
        if (!existsSync(`${db}${suffix}`)) return false;
        const bytes = readFileSync(`${db}${suffix}`);
        return lines.some((line) => bytes.includes(line)) || bytes.includes(der.subarray(40, 120));
      });
    // Some traffic, so the record is rewritten (renewals) and sits in several WAL frames.
    for (let i = 0; i < 5; i++) {
      const reply = await h.submit('phone', encryptEnvelope(pem, `message ${i}`));
      assert.equal(reply.body.message, Message.delivered);
    }
    assert.ok(holdsKey().length > 0, 'the key is in the files while the session lives (the check can see it)');
    const off = await postForm(h.url, { key: h.key('phone'), status: 'off' });
    assert.equal(off.body.code, Code.ok);
    await until(() => holdsKey().length === 0, `the key gone from ${holdsKey().join(', ')}`);
    assert.equal(h.server.child.exitCode, null, 'checked while the server runs, not after it closed the files');
  });
});

describe('existing embedded files are tightened at start-up', () => {
  test('a 0755 folder and 0644 files become 0700 and 0600', async () => {
    const data = makeDataDir();
    try {
      const db = join(data.dir, EMBEDDED_DATABASE_FILE);
      const made = new Database(db);
      made.pragma('journal_mode = WAL');
      made.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1);');
      made.close();
      writeFileSync(`${db}-wal`, '');
      for (const suffix of FILES) if (existsSync(`${db}${suffix}`)) chmodSync(`${db}${suffix}`, 0o644);
      chmodSync(data.dir, 0o755);
      const server = await startServerProcess({ DATA_DIR: data.dir });
      try {
        assert.equal(mode(data.dir), 0o700);
        for (const suffix of FILES) if (existsSync(`${db}${suffix}`)) assert.equal(mode(`${db}${suffix}`), 0o600, suffix || 'db');
      } finally {
        await server.stop();
      }
    } finally {
      data.remove();
    }
  });
});

describe('schema creation under concurrency (issue 14: WORKERS=2 on a fresh DATA_DIR)', () => {
  /**
   * Says "ready" once its code is loaded, reads the start time from stdin, then opens fresh folder i
   * at `start + i * STEP_MS`: both processes hit each folder at the same instant.
   */
  const OPENER = `
    import { openEmbeddedDatabase, openWriterConnection } from ${JSON.stringify(join(REPO_ROOT, 'src/backends/sqlite/database.ts'))};
    const [root, count, step] = process.argv.slice(-3);
    process.stdout.write('ready\\n');
    let input = '';
    for await (const chunk of process.stdin) {
      input += chunk;
      if (input.includes('\\n')) break;
    }
    const start = Number(input.trim());
    for (let i = 0; i < Number(count); i++) {
      const at = Number(start) + i * Number(step);
      while (Date.now() < at) {}
      const db = openEmbeddedDatabase(root + '/' + i, 'wp_');
      const writer = openWriterConnection(root + '/' + i);
      db.prepare('SELECT COUNT(*) FROM sessions').get();
      writer.close();
      db.close();
    }
  `;
  const FOLDERS = 40;
  const STEP_MS = 60;

  function opener(root: string): { ready: Promise<void>; go(start: number): void; done: Promise<{ code: number | null; stderr: string }> } {
    const args = ['--import', TSX, '--input-type=module', '-e', OPENER, root, String(FOLDERS), String(STEP_MS)];
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
    const ready = new Promise<void>((resolve, reject) => {
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('ready\n')) resolve();
      });
      void done.then(({ code }) => reject(new Error(`opener exited with ${code} before it was ready:\n${stderr}`)));
    });
    return { ready, done, go: (start) => child.stdin.end(`${start}\n`) };
  }

  test(`two processes open the schema of a fresh folder at the same instant, ${FOLDERS} folders over: both succeed every time`, async () => {
    const data = makeDataDir();
    try {
      // Both have loaded their code (seconds on a loaded machine) before the start time is set.
      const openers = [opener(data.dir), opener(data.dir)];
      await Promise.all(openers.map((o) => o.ready));
      const start = Date.now() + 500;
      for (const o of openers) o.go(start);
      const results = await Promise.all(openers.map((o) => o.done));
      for (const result of results) assert.equal(result.code, 0, result.stderr);
    } finally {
      data.remove();
    }
  });
});

describe('a DATA_DIR the server cannot keep private', () => {
  test('start-up stops with one configuration line naming DATA_DIR, not a stack trace', async () => {
    const data = makeDataDir();
    try {
      // Below a plain file: ENOTDIR for every user, root included (a chmod's EPERM needs a non-root run).
      // WORKERS=1: main.ts's own exit code 2 (a cluster's primary exits 1 for a worker that cannot start).
      const blocker = join(data.dir, 'not-a-folder');
      writeFileSync(blocker, '');
      const child = spawn(process.execPath, ['--import', TSX, join(REPO_ROOT, 'src/main.ts')], {
        env: { ...process.env, DATA_DIR: join(blocker, 'data'), PORT: '0', HOST: '127.0.0.1', WORKERS: '1' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.equal(code, 2, stderr);
      const lines = stderr.trim().split('\n');
      assert.equal(lines.length, 1, stderr);
      assert.match(lines[0]!, /^configuration error: DATA_DIR: cannot keep .*not-a-folder.* \(ENOTDIR\)/);
    } finally {
      data.remove();
    }
  });
});
