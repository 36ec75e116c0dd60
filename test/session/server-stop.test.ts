/**
 * Issue 5: a server stopped in process leaves nothing running: no key generator helper, no
 * retry timer, no listening socket. Checked through Node's own list of active resources.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { readConfig } from '../../src/config/config.js';
import { startServer } from '../../src/server.js';
import { makeDataDir } from '../helpers/server-process.js';

function countByType(resources: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of resources) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

test('stop() leaves no timer, helper process or socket behind', async () => {
  const data = makeDataDir();
  try {
    const config = readConfig({ DATA_DIR: data.dir, HOST: '127.0.0.1', PORT: '0', WORKERS: '1', KEY_POOL_SIZE: '2' });
    const before = countByType(process.getActiveResourcesInfo());
    const server = await startServer(config, pino({ level: 'silent' }));
    // Wait until the helper has made a pair, so there is a live helper process to stop (starting
    // a helper process takes seconds on a loaded machine).
    const deadline = Date.now() + 60_000;
    while (server.keys.stats().ready === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(server.keys.stats().ready > 0, 'the pool started filling');
    await server.stop();
    // Handles are released on later turns of the event loop (a helper's once it has exited, which
    // a loaded machine may take a while to report): wait for that, then compare.
    const leftOver = (): string[] => {
      const after = countByType(process.getActiveResourcesInfo());
      const left: string[] = [];
      for (const [type, count] of after) {
        // The wait below is one timer while it runs.
        const allowed = (before.get(type) ?? 0) + (type === 'Timeout' ? 1 : 0);
        if (count > allowed) left.push(`${type}: ${before.get(type) ?? 0} before, ${count} after`);
      }
      return left;
    };
    const settleBy = Date.now() + 10_000;
    while (leftOver().length > 0 && Date.now() < settleBy) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(leftOver(), [], 'no timer, helper process or socket of the server is left');
    await assert.rejects(server.keys.take(), /stopped/);
  } finally {
    data.remove();
  }
});
