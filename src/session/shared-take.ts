/**
 * SPEC §11: concurrent auths for one client key share one key pair. Only one of them can win the
 * session's set-if-absent anyway (SPEC §4), so a burst of auths for one key costs one key
 * generation (or one pooled pair), not one each.
 *
 * The pair is shared by every auth of the key that asks while another still holds it. It can open
 * at most one session: once a session was created with it, `used` makes every later sharer answer
 * `already auth` without trying, so no pair outlives its session in another one.
 */
import type { Logger } from 'pino';
import type { SessionKeySource, TakenKeyPair } from './key-pair.js';

/** A pair handed to one or more concurrent auths of one client key; each must `release` it. */
export interface SharedPair {
  pair: TakenKeyPair;
  /** True once some auth created its session with this pair. */
  readonly used: boolean;
  markUsed(): void;
  /** This auth is done with the pair (whatever its outcome). */
  release(): void;
}

interface Flight {
  taking: Promise<TakenKeyPair>;
  holders: number;
  used: boolean;
}

export class SharedKeyTake {
  private readonly flights = new Map<string, Flight>();

  constructor(
    private readonly source: SessionKeySource,
    private readonly log?: Logger,
  ) {}

  /** The pair for an auth of `clientKey`: a new take, or the one other auths of that key hold. */
  async take(clientKey: string): Promise<SharedPair> {
    let flight = this.flights.get(clientKey);
    if (flight === undefined) {
      flight = { taking: this.source.take(), holders: 0, used: false };
      this.flights.set(clientKey, flight);
      // Debug level: the issue-10 test counts these lines to prove a burst shares one take.
      this.log?.debug('session key pair taken');
    }
    const held = flight;
    held.holders += 1;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      held.holders -= 1;
      if (held.holders === 0 && this.flights.get(clientKey) === held) this.flights.delete(clientKey);
    };
    let pair: TakenKeyPair;
    try {
      pair = await held.taking;
    } catch (error) {
      release();
      throw error;
    }
    return {
      pair,
      get used() {
        return held.used;
      },
      markUsed() {
        held.used = true;
      },
      release,
    };
  }
}
