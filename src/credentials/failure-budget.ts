/**
 * SPEC §10, failure budgets: guessing must cost more than it can win. A failure is an auth or
 * logout answered `not found`, or a submit answered `not found` or `invalid message`; past a
 * budget (per client key, and per client address when that is on) requests are answered 429
 * before the directory or the session store is asked. Counted in the store (FailureCounterStore),
 * so every process and instance shares the count.
 *
 * Cost for a well-behaved device: one read of its counters per request (`refusal`), no write;
 * only a failure writes (`spend`).
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { answers, Code, Message, type Answer } from '../protocol/answers.js';
import type { FailureCounterStore } from '../store/failure-budgets.js';

export interface FailureBudgetSettings {
  /** Failures per client key per window; 0 = off. */
  limitPerKey: number;
  /** Failures per client address per window; 0 = off. */
  limitPerAddress: number;
  windowSeconds: number;
}

export type BudgetedOperation = 'auth' | 'logout' | 'submit';

/** SPEC §10's definition of a failure. */
export function isFailure(op: BudgetedOperation, answer: Answer): boolean {
  if (answer.body.code === Code.notFound && answer.body.message === Message.notFound) return true;
  return op === 'submit' && answer.body.message === Message.invalidMessage;
}

/** The store's name for a client key's budget: a hash, so no other table holds the key itself. */
function keySubject(clientKey: string): string {
  return `key:${createHash('sha256').update(clientKey, 'utf8').digest('hex')}`;
}

function addressSubject(address: string): string {
  return `address:${address}`;
}

export class FailureBudget {
  private readonly windowMs: number;

  constructor(
    private readonly store: FailureCounterStore,
    private readonly settings: FailureBudgetSettings,
    private readonly log: Logger,
  ) {
    this.windowMs = settings.windowSeconds * 1000;
  }

  /** The budgets a request draws on, with their limits; none when both are off. */
  private budgets(clientKey: string, address: string | undefined): Array<{ subject: string; limit: number }> {
    const budgets: Array<{ subject: string; limit: number }> = [];
    if (this.settings.limitPerKey > 0) budgets.push({ subject: keySubject(clientKey), limit: this.settings.limitPerKey });
    if (this.settings.limitPerAddress > 0 && address !== undefined && address !== '') {
      budgets.push({ subject: addressSubject(address), limit: this.settings.limitPerAddress });
    }
    return budgets;
  }

  /** The 429 for a request whose key or address has spent its budget, or null to go on. */
  async refusal(clientKey: string, address: string | undefined): Promise<Answer | null> {
    const budgets = this.budgets(clientKey, address);
    if (budgets.length === 0) return null;
    const counts = await this.store.counts(budgets.map((budget) => budget.subject));
    let waitMs = 0;
    for (const count of counts) {
      const limit = budgets.find((budget) => budget.subject === count.subject)?.limit;
      if (limit !== undefined && count.count >= limit) waitMs = Math.max(waitMs, count.resetsInMs);
    }
    return waitMs > 0 ? answers.tooManyRequests(Math.max(1, Math.ceil(waitMs / 1000))) : null;
  }

  /** Counts a failure against the request's budgets. A store that fails here changes no answer. */
  async spend(clientKey: string, address: string | undefined): Promise<void> {
    const budgets = this.budgets(clientKey, address);
    if (budgets.length === 0) return;
    try {
      await this.store.add(budgets.map((budget) => budget.subject), this.windowMs);
    } catch (error) {
      this.log.warn({ err: error }, 'failure not counted against its budget');
    }
  }
}
