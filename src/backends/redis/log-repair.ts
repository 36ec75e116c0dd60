/**
 * Redis Cluster: finishes stores a crash interrupted (SPEC §9 "every record … has its log entry
 * … or repaired on start-up"). On a cluster a store is four one-slot steps (message-log.ts
 * putInSteps); the record's "unlogged" marker (keys.ts) is set with the record and removed once
 * its log entry is written. The repair SCANs every master for markers and, for each record
 * still there, writes the entry if it is missing (appendLog-2.lua "repair": once per id) and
 * removes the marker.
 *
 * It runs once when the store opens, before the server answers, and then every minute in every
 * process, so a crash of one instance is repaired by the others too. Markers younger than
 * REPAIR_AFTER_MS are left alone: their request may still be writing the entry, and a repair
 * racing it would put the id in the log twice. A record with such a marker was never answered
 * `delivered` (the answer waits for the entry), so SPEC §9's promise holds meanwhile; the
 * message reaches the log within REPAIR_AFTER_MS + REPAIR_EVERY_MS of the crash. The age is by
 * the writing process's clock: keep the instances' clocks within REPAIR_AFTER_MS (NTP does).
 */
import type { Logger } from 'pino';
import { orUnavailable } from '../unavailable.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';
import { scanKeys } from './scan.js';
import { script, scriptsOn, type Scripts } from './scripts.js';

export const REPAIR_AFTER_MS = 30_000;
export const REPAIR_EVERY_MS = 60_000;

export class RedisLogRepair {
  private readonly scripts: Scripts;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    this.scripts = scriptsOn(client);
  }

  /** One pass over every master; returns how many records got their missing entry. */
  run(now = Date.now()): Promise<number> {
    const keys = this.keys;
    return orUnavailable('redis', async () => {
      let repaired = 0;
      for (const marker of await scanKeys(this.client, keys.unloggedPattern)) {
        const id = keys.idOfUnloggedKey(marker);
        const value = await script(this.scripts, 'claimUnlogged')([keys.message(id), marker], [now - REPAIR_AFTER_MS]);
        if (typeof value !== 'string') continue;
        const before = Number(await this.client.zscore(keys.logEntries, id) ?? 0);
        await script(this.scripts, 'appendLog')([keys.logEntries, keys.logSequence], [id, 'repair']);
        await script(this.scripts, 'forgetUnlogged')([marker], [value]);
        if (before === 0) repaired++;
      }
      return repaired;
    });
  }

  /** The start-up pass (awaited, never thrown: an unreachable cluster is logged and retried) and the minute timer. */
  async start(log: Logger): Promise<{ stop(): void }> {
    const pass = async (): Promise<void> => {
      try {
        const repaired = await this.run();
        if (repaired > 0) log.warn({ backend: 'redis', repaired }, 'redis cluster: log entries of records stored before a crash written now');
      } catch (error) {
        log.warn({ backend: 'redis', reason: error instanceof Error ? error.message : String(error) }, 'redis cluster: log repair failed; retried in a minute');
      }
    };
    await pass();
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      void pass().finally(() => {
        running = false;
      });
    }, REPAIR_EVERY_MS);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }
}
