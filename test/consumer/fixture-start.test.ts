/**
 * The test fixtures' own promise: a start that fails closes what it started. A redis-server left
 * running after a failed before() kept the test process from ever exiting (CI then hangs).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { startConsumerFixture } from '../helpers/consumer.js';
import { skipWithoutRedis } from '../helpers/redis-server.js';

/** The pids of this process's live children, from /proc. */
function children(): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // pid (comm) state ppid …; comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === process.pid && state !== 'Z') found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe('consumer fixture start-up failure', { skip: skipWithoutRedis('the fixture start-up failure test') }, () => {
  test('a server that does not start: the fixture rejects and its redis-server is gone', async () => {
    // tsx's esbuild service is a child too: only what the fixture adds counts.
    const before = new Set(children());
    await assert.rejects(startConsumerFixture({ store: 'redis', env: { WORKERS: 'many' } }), /server exited with \d+ before listening:\n.*WORKERS/);
    assert.deepEqual(children().filter((pid) => !before.has(pid)), [], 'nothing it started is still running');
  });
});
