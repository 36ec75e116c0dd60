/**
 * docs/CONSUMERS.md's consumers, run as a site would run them against a live server:
 * examples/consumer.php (php-cli, its own HTTP stream) and examples/consumer.py (python3, standard library).
 * Each reads every message once across pages and runs, and stores it by id.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, skipUnlessInstalled } from '../helpers/real-backends.js';
import { REPO_ROOT } from '../helpers/server-process.js';
import { API_TOKEN, startConsumerFixture, type ConsumerFixture } from '../helpers/consumer.js';

const CONSUMERS = [
  { binary: 'php', install: "Debian's php-cli (apt-get install php-cli)", script: 'examples/consumer.php', name: 'wp-cron' },
  { binary: 'python3', install: 'python3', script: 'examples/consumer.py', name: 'worker' },
] as const;

for (const consumer of CONSUMERS) {
  const missing = findBinary(consumer.binary) === null ? [{ binary: consumer.binary, install: consumer.install }] : [];
  describe(`${consumer.script} against a live server`, { skip: skipUnlessInstalled(`the ${consumer.script} suite`, missing) }, () => {
    let fx: ConsumerFixture;
    let store: string;
    const sent: string[] = [];
    before(async () => {
      fx = await startConsumerFixture({ store: 'sqlite', devices: 3 });
      store = mkdtempSync(join(tmpdir(), 'sms-consumer-'));
      for (let n = 0; n < 75; n++) for (const device of fx.deviceIds) sent.push(String((await fx.submit(device, `${consumer.binary} ${n}`, n)).id));
    });
    after(async () => {
      await fx?.close();
      rmSync(store, { recursive: true, force: true });
    });

    const run = (): string[] => {
      const result = spawnSync(consumer.binary, [join(REPO_ROOT, consumer.script)], {
        env: { PATH: process.env.PATH, SMS_URL: fx.server.url, SMS_TOKEN: API_TOKEN, SMS_CONSUMER: consumer.name, SMS_STORE: store },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(result.status, 0, result.stderr);
      return result.stdout.split('\n').filter((line) => line !== '');
    };

    test('reads every message once, in pages, stores it by id and keeps its place across runs', async () => {
      const first = run();
      assert.equal(first.length, sent.length, 'three pages of 100 or fewer');
      assert.deepEqual(new Set(first), new Set(sent));
      assert.equal(new Set(first).size, first.length, 'each once');
      assert.equal(readdirSync(store).length, sent.length);
      const stored = JSON.parse(readFileSync(join(store, `${sent[0]}.json`), 'utf8')) as Record<string, unknown>;
      assert.equal(stored.payload, `${consumer.binary} 0`);

      assert.deepEqual(run(), [], 'nothing new: the bookmark moved');
      const more = [String((await fx.submit('dev-01', `${consumer.binary} late`)).id)];
      assert.deepEqual(run(), more);
      const bookmark = await fx.api(`/v1/consumers/${consumer.name}`);
      assert.equal(bookmark.body.lag, 0);
    });
  });
}
