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
    // Wait until the helper has made a pair, so there is a live helper process to stop.
    for (let i = 0; i < 300 && server.keys.stats().ready === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(server.keys.stats().ready > 0, 'the pool started filling');
    await server.stop();
    // Handles are released on the next turns of the event loop.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = countByType(process.getActiveResourcesInfo());
    for (const [type, count] of after) {
      if (type === 'Timeout') continue; // the wait above is one of them while it runs
      assert.ok(count <= (before.get(type) ?? 0), `${type}: ${before.get(type) ?? 0} before, ${count} after`);
    }
    assert.ok((after.get('Timeout') ?? 0) <= (before.get('Timeout') ?? 0) + 1, 'no timer of the server is left');
    await assert.rejects(server.keys.take(), /stopped/);
  } finally {
    data.remove();
  }
});
