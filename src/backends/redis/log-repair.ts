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
 *
 * An entry already there is normally the one the interrupted attempt wrote itself (a crash after
 * appendLog-2.lua, before the marker went): it stays where it is, so no consumer reads it twice.
 * But an id can be stored again after its record expired (or was deleted), and then an entry of
 * the EARLIER record may still be in the log (the purge had not reached it): left where it is, a
 * consumer already past that position would never read the new record. The entry carries only
 * its sequence number, so the marker carries one too: the log's head as the writing process last
 * saw it before it set the marker (SeenLogHead, unloggedMarker). The attempt's own INCR comes
 * after that, so its entry is above it; an entry at or below it is an earlier record's, and the
 * repair moves it to the end of the log (appendLog-2.lua "repair"). The bound is fresh to within
 * a pass (each pass reads the head; every store raises it), and an earlier record's entry is at
 * least its TTL older than the new store, so only a MESSAGE_TTL_SECONDS under about a minute
 * could leave one in place (docs/CONSUMERS.md "Redis Cluster"). The other way round needs the
 * head to go backwards: a failover of the log's master that lost sequence numbers (asynchronous
 * replication) AND a crash between appendLog-2.lua and the marker's removal; then the attempt's
 * own entry may be moved once, and a consumer that read it already reads it again (twice, never
 * missed).
 */
import type { Logger } from 'pino';
import { orUnavailable } from '../unavailable.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';
import { scanKeys } from './scan.js';
import { script, scriptsOn, type Scripts } from './scripts.js';

export const REPAIR_AFTER_MS = 30_000;
export const REPAIR_EVERY_MS = 60_000;

/**
 * The highest log sequence number this process has seen (a lower bound of the head): from each
 * store's appendLog-2.lua reply and from each repair pass. Shared by the message store, which
 * writes it into its markers, and the repair, which keeps it fresh.
 */
export class SeenLogHead {
  private highest = 0;

  saw(sequence: number): void {
    if (Number.isSafeInteger(sequence) && sequence > this.highest) this.highest = sequence;
  }

  get sequence(): number {
    return this.highest;
  }
}

/** An "unlogged" marker's value (keys.ts): `<ms since 1970>:<the log head seen before it was set>`. */
export function unloggedMarker(markedAtMs: number, seen: SeenLogHead): string {
  return `${markedAtMs}:${seen.sequence}`;
}

/** The head a marker carries; 0 (no bound: an entry already there stays) for one without it. */
function headSeenBy(marker: string): number {
  const seen = Number(marker.split(':')[1]);
  return Number.isSafeInteger(seen) && seen > 0 ? seen : 0;
}

export class RedisLogRepair {
  private readonly scripts: Scripts;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: RedisKeys,
    private readonly seen: SeenLogHead = new SeenLogHead(),
  ) {
    this.scripts = scriptsOn(client);
  }

  /** One pass over every master; returns how many records got their entry written (missing, or moved to the end). */
  run(now = Date.now()): Promise<number> {
    const keys = this.keys;
    return orUnavailable('redis', async () => {
      this.seen.saw(Number((await this.client.get(keys.logSequence)) ?? 0));
      let repaired = 0;
      for (const marker of await scanKeys(this.client, keys.unloggedPattern)) {
        const id = keys.idOfUnloggedKey(marker);
        const value = await script(this.scripts, 'claimUnlogged')([keys.message(id), marker], [now - REPAIR_AFTER_MS]);
        if (typeof value !== 'string') continue;
        const before = Number((await this.client.zscore(keys.logEntries, id)) ?? 0);
        const sequence = Number(await script(this.scripts, 'appendLog')([keys.logEntries, keys.logSequence], [id, 'repair', headSeenBy(value)]));
        this.seen.saw(sequence);
        await script(this.scripts, 'forgetUnlogged')([marker], [value]);
        if (sequence !== before) repaired++;
      }
      return repaired;
    });
  }

  /** The start-up pass (awaited, never thrown: an unreachable cluster is logged and retried) and the timer (every REPAIR_EVERY_MS). */
  async start(log: Logger, everyMs = REPAIR_EVERY_MS): Promise<{ stop(): void }> {
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
    }, everyMs);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }
}
