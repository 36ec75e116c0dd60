/**
 * SPEC §9: the consumer's view of the log, as answers. Reading pages after a cursor (with the
 * long-poll), single records, deletion, and the forward-only bookmarks with their lag. Knows
 * nothing of HTTP: the routes (routes.ts) and the admin command both use it.
 */
import { answers, Code, ConsumerReason, Message, type Answer, type AnswerBody } from '../protocol/answers.js';
import { cursorOf, cursorSequence, type ConsumerStores, type LogEntry } from '../store/message-log.js';
import type { LogWatcher } from './watcher.js';

/** SPEC §9 bounds of `limit` and `wait`. */
export const PAGE_LIMIT = { min: 1, max: 1000, default: 100 } as const;
export const WAIT_SECONDS = { min: 0, max: 30, default: 0 } as const;
/** Rounds of reading past entries whose records are gone before a page is answered as it is. */
const MAX_SKIP_ROUNDS = 8;

export interface Page {
  entries: LogEntry[];
  /** SPEC §9: the last item's cursor, or `after` itself when nothing was returned. */
  next: string;
  /** The last entry looked at (returned or skipped): what a long-poll waits to see passed. */
  examined: number;
}

/** An answer of the consumer API: §1's message and code, and the fields of §9. */
function ok(fields: Record<string, unknown>): Answer {
  return { status: 200, body: { message: Message.ok, code: Code.ok, ...fields } as AnswerBody };
}

export class ConsumerService {
  constructor(
    private readonly stores: ConsumerStores,
    private readonly watcher: LogWatcher,
  ) {}

  /**
   * The sequence number of a cursor this log made, or undefined. Every cursor up to the head was
   * made by the log (sequence numbers are never reused), including those of purged entries.
   */
  async sequenceOf(cursor: string): Promise<number | undefined> {
    const sequence = cursorSequence(cursor);
    if (sequence === undefined || sequence === 0) return sequence;
    return sequence <= (await this.stores.log.head()) ? sequence : undefined;
  }

  /** Up to `limit` live entries after `after`, skipping (a bounded number of) entries whose records are gone. */
  async page(after: number, limit: number): Promise<Page> {
    const entries: LogEntry[] = [];
    let examined = after;
    for (let round = 0; round < MAX_SKIP_ROUNDS && entries.length < limit; round++) {
      const wanted = limit - entries.length;
      const stored = await this.stores.log.entriesAfter(examined, wanted);
      if (stored.length === 0) break;
      const records = await this.stores.log.records(stored.map((entry) => entry.id));
      stored.forEach((entry, index) => {
        const record = records[index];
        if (record != null) entries.push({ cursor: cursorOf(entry.sequence), record });
      });
      examined = stored[stored.length - 1]!.sequence;
      if (stored.length < wanted) break;
    }
    const last = entries[entries.length - 1];
    return { entries, next: last === undefined ? cursorOf(after) : last.cursor, examined };
  }

  /** `GET /v1/messages`: a page after the cursor; with `waitSeconds`, waits for one when there is none. */
  async read(afterCursor: string, limit: number, waitSeconds: number): Promise<Answer> {
    const after = await this.sequenceOf(afterCursor);
    if (after === undefined) return answers.badRequest(ConsumerReason.unknownCursor);
    const deadline = Date.now() + waitSeconds * 1000;
    let page = await this.page(after, limit);
    while (page.entries.length === 0 && Date.now() < deadline) {
      await this.watcher.waitBeyond(page.examined, deadline - Date.now());
      const closedOrTimedOut = (await this.stores.log.head()) <= page.examined;
      if (closedOrTimedOut) break;
      page = await this.page(after, limit);
    }
    return ok({ messages: page.entries, next: page.next });
  }

  /** `GET /v1/messages/<id>`. */
  async record(id: string): Promise<Answer> {
    const [record] = await this.stores.log.records([id]);
    return record == null ? answers.missing() : ok({ record });
  }

  /** `DELETE /v1/messages/<id>`. */
  async delete(id: string): Promise<Answer> {
    return (await this.stores.log.deleteMessage(id)) ? answers.deleted() : answers.missing();
  }

  /** Log entries after a consumer's bookmark (all of them for one never set): for the API and metrics. */
  async lag(name: string): Promise<number> {
    return this.stores.log.countAfter((await this.stores.bookmarks.get(name)) ?? 0);
  }

  /** `GET /v1/consumers/<name>`. */
  async bookmark(name: string): Promise<Answer> {
    const sequence = (await this.stores.bookmarks.get(name)) ?? 0;
    return ok({ cursor: cursorOf(sequence), lag: await this.stores.log.countAfter(sequence) });
  }

  /** `PUT /v1/consumers/<name>`: forward only (SPEC §9). */
  async moveBookmark(name: string, cursor: string): Promise<Answer> {
    const sequence = await this.sequenceOf(cursor);
    if (sequence === undefined) return answers.badRequest(ConsumerReason.unknownCursor);
    const outcome = await this.stores.bookmarks.advance(name, sequence);
    if (outcome === 'backwards') return answers.conflict(ConsumerReason.backwards);
    return ok({ cursor: cursorOf(sequence) });
  }

  /** Every bookmark with its lag (the admin command; metrics). */
  async consumers(): Promise<Array<{ name: string; cursor: string; lag: number }>> {
    const list = await this.stores.bookmarks.list();
    return Promise.all(
      list.map(async ({ name, sequence }) => ({ name, cursor: cursorOf(sequence), lag: await this.stores.log.countAfter(sequence) })),
    );
  }
}
