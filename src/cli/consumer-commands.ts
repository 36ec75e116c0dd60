/**
 * The admin command's SPEC §9 part: read the message log from the store itself (no API token
 * needed: whoever runs this has the store's settings), follow it, and look at or move bookmarks.
 *
 *   admin messages --after <cursor> [--limit N]   entries after a cursor ("" = the start), as JSON lines
 *   admin messages --follow [--after <cursor>]    every new entry as it is stored, until Ctrl-C
 *   admin consumer list                           every bookmark: name, cursor, lag
 *   admin consumer show <name>
 *   admin consumer set <name> <cursor>            forward only, like PUT /v1/consumers/<name>
 */
import type { Backends } from '../backends/index.js';
import { CONSUMER_NAME_PATTERN } from '../consumer/config.js';
import { ConsumerService, PAGE_LIMIT } from '../consumer/service.js';
import { LogWatcher } from '../consumer/watcher.js';
import { cursorOf } from '../store/message-log.js';

export const CONSUMER_USAGE = `  admin messages --after <cursor> [--limit N]  log entries after a cursor ("" = from the start), as JSON lines
  admin messages --follow [--after <cursor>]   tail the log: each new entry as it is stored, until Ctrl-C
  admin consumer list                          every bookmark: name, cursor, lag
  admin consumer show <name>
  admin consumer set <name> <cursor>           move a bookmark (forward only)`;

/** A mistake in the command line, for the caller to print with the usage. */
export class ConsumerUsageError extends Error {}

/** How long each wait of --follow lasts before it asks again (any store write wakes it sooner). */
const FOLLOW_WAIT_SECONDS = 30;

export interface LogCommand {
  after: string | undefined;
  follow: boolean;
  limit: number;
}

function checkName(name: string | undefined): string {
  if (name === undefined || !CONSUMER_NAME_PATTERN.test(name)) throw new ConsumerUsageError('a consumer name is 1 to 64 of A-Z a-z 0-9 . _ -');
  return name;
}

/** `messages --after` and `messages --follow`. */
export async function readLog(backends: Backends, command: LogCommand, print: (line: string) => void): Promise<void> {
  const watcher = new LogWatcher(backends.consumer.log);
  const service = new ConsumerService(backends.consumer, watcher);
  let after: number;
  if (command.after === undefined) after = command.follow ? await backends.consumer.log.head() : 0;
  else {
    const sequence = await service.sequenceOf(command.after);
    if (sequence === undefined) throw new ConsumerUsageError(`unknown cursor "${command.after}"`);
    after = sequence;
  }
  if (!command.follow) {
    const page = await service.page(after, command.limit);
    for (const entry of page.entries) print(JSON.stringify(entry));
    return;
  }
  let stopping = false;
  const stop = (): void => {
    stopping = true;
    watcher.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stderr.write(`following the log after cursor "${cursorOf(after)}"; Ctrl-C stops\n`);
  while (!stopping) {
    const page = await service.page(after, PAGE_LIMIT.max);
    for (const entry of page.entries) print(JSON.stringify(entry));
    after = page.examined;
    if (page.entries.length === 0) await watcher.waitBeyond(after, FOLLOW_WAIT_SECONDS * 1000);
  }
}

/** `consumer list|show|set`. */
export async function consumerCommand(backends: Backends, action: string | undefined, args: string[], print: (line: string) => void): Promise<void> {
  const service = new ConsumerService(backends.consumer, new LogWatcher(backends.consumer.log));
  if (action === 'list') {
    for (const consumer of await service.consumers()) print(`${consumer.name}\t${consumer.cursor === '' ? '-' : consumer.cursor}\t${consumer.lag}`);
  } else if (action === 'show') {
    const name = checkName(args[0]);
    const sequence = (await backends.consumer.bookmarks.get(name)) ?? 0;
    print(JSON.stringify({ name, cursor: cursorOf(sequence), lag: await service.lag(name) }));
  } else if (action === 'set') {
    const name = checkName(args[0]);
    if (args[1] === undefined) throw new ConsumerUsageError('missing <cursor>');
    const answer = await service.moveBookmark(name, args[1]);
    if (answer.status !== 200) throw new ConsumerUsageError(`${answer.body.error ?? answer.body.message} (bookmark ${name} unchanged)`);
    print(`consumer ${name} is at cursor ${args[1] === '' ? '""' : args[1]}`);
  } else {
    throw new ConsumerUsageError(`unknown command: consumer ${action ?? ''}`.trim());
  }
}
