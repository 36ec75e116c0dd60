/**
 * "Refused at once, not after a wait" without a wall-clock bound that a loaded machine breaks:
 * each operation must reject with `error` in less than the timeout it would otherwise wait out
 * (a connect or command timeout, which a timer never ends early), however slow the machine.
 */
import assert from 'node:assert/strict';

export async function assertEachRefusedBefore(
  operations: Record<string, () => Promise<unknown>>,
  error: new (...args: never[]) => Error,
  timeoutMs: number,
): Promise<void> {
  const waited: string[] = [];
  for (const [name, operation] of Object.entries(operations)) {
    const started = Date.now();
    await assert.rejects(operation(), error, name);
    const ms = Date.now() - started;
    if (ms >= timeoutMs) waited.push(`${name}: ${ms} ms`);
  }
  assert.deepEqual(waited, [], `refused at once, not after the ${timeoutMs} ms timeout`);
}
