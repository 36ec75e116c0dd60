/** The admin command's SPEC §9 part, run as a process next to a live server on the embedded store. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Message } from '../../src/protocol/answers.js';
import { admin, adminResult, REPO_ROOT, serverEnv, TSX } from '../helpers/server-process.js';
import { startConsumerFixture, type ConsumerFixture } from '../helpers/consumer.js';

const lines = (text: string) => text.split('\n').filter((line) => line !== '');

describe('admin messages --after / --follow, consumer list|show|set', () => {
  let fx: ConsumerFixture;
  const ids: string[] = [];
  before(async () => {
    fx = await startConsumerFixture({ store: 'sqlite', devices: 1 });
    for (const n of [1, 2, 3]) ids.push(String((await fx.submit('dev-01', `admin ${n}`, n)).id));
  });
  after(async () => fx?.close());

  test('messages --after prints the entries after a cursor as JSON lines', () => {
    const all = lines(admin(fx.env, 'messages', '--after', '')).map((line) => JSON.parse(line) as { cursor: string; record: { id: string } });
    assert.deepEqual(all.map((entry) => entry.record.id), ids);
    assert.deepEqual(all.map((entry) => entry.cursor), ['1', '2', '3']);
    const rest = lines(admin(fx.env, 'messages', '--after', '1', '--limit', '1')).map((line) => JSON.parse(line) as { record: { id: string } });
    assert.deepEqual(rest.map((entry) => entry.record.id), [ids[1]]);
    const unknown = adminResult(fx.env, 'messages', '--after', '42');
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /unknown cursor "42"/);
  });

  test('consumer set moves a bookmark forward only; list and show report the lag', async () => {
    assert.equal(admin(fx.env, 'consumer', 'set', 'wp-cron', '2'), 'consumer wp-cron is at cursor 2\n');
    assert.equal(admin(fx.env, 'consumer', 'list'), 'wp-cron\t2\t1\n');
    assert.deepEqual(JSON.parse(admin(fx.env, 'consumer', 'show', 'wp-cron')), { name: 'wp-cron', cursor: '2', lag: 1 });
    assert.deepEqual(JSON.parse(admin(fx.env, 'consumer', 'show', 'never-set')), { name: 'never-set', cursor: '', lag: 3 });
    const backwards = adminResult(fx.env, 'consumer', 'set', 'wp-cron', '1');
    assert.equal(backwards.status, 1);
    assert.match(backwards.stderr, /only moves forward/);
    // The API sees the same bookmark.
    assert.deepEqual((await fx.api('/v1/consumers/wp-cron')).body, { message: Message.ok, code: 0, cursor: '2', lag: 1 });
    assert.equal(adminResult(fx.env, 'consumer', 'set', 'bad name', '3').status, 1);
  });

  test('messages --follow prints each new message as it is stored, until Ctrl-C', async () => {
    const child = spawn(process.execPath, ['--import', TSX, join(REPO_ROOT, 'src/cli/admin.ts'), 'messages', '--follow'], {
      cwd: fx.dataDir,
      env: serverEnv(fx.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const until = async (condition: () => boolean, what: string): Promise<void> => {
      for (let i = 0; i < 600 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(condition(), `never happened: ${what} (stderr: ${stderr})`);
    };
    try {
      await until(() => stderr.includes('following the log'), 'follow started');
      const sent = await fx.submit('dev-01', 'followed');
      await until(() => stdout.includes(String(sent.id)), 'the new message printed');
      const printed = lines(stdout).map((line) => JSON.parse(line) as { cursor: string; record: { id: string; payload: string } });
      assert.deepEqual(printed.map((entry) => entry.record.payload), ['followed'], 'only what came after it started');
    } finally {
      child.kill('SIGINT');
    }
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0);
  });
});
