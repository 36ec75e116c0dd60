/**
 * The Lua scripts of scripts/, one per atomic step (BullMQ's layout: `<name>-<number of keys>.lua`,
 * each opening with its steps, KEYS, ARGV and return codes). Loaded onto a connection with
 * ioredis's defineCommand, which runs EVALSHA and falls back to EVAL once after a restart of Redis.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { RedisClient } from './connection.js';

const FOLDER = new URL('./scripts/', import.meta.url);

type Argument = string | number;
export type ScriptRunner = (keys: readonly string[], args: readonly Argument[]) => Promise<unknown>;

/** The scripts by name (the file name without `-<keys>.lua`). */
export type Scripts = Readonly<Record<string, ScriptRunner>>;

/** Parsed once per process: the files do not change while it runs. */
const sources: Array<{ name: string; keys: number; lua: string }> = readdirSync(FOLDER)
  .map((file) => /^([A-Za-z]+)-(\d+)\.lua$/.exec(file))
  .filter((match): match is RegExpExecArray => match !== null)
  .map((match) => ({ name: match[1]!, keys: Number(match[2]), lua: readFileSync(new URL(match[0], FOLDER), 'utf8') }));

const loaded = new WeakMap<RedisClient, Scripts>();

export function scriptsOn(client: RedisClient): Scripts {
  const known = loaded.get(client);
  if (known !== undefined) return known;
  const runners: Record<string, ScriptRunner> = {};
  for (const { name, keys, lua } of sources) {
    const command = `sms_${name}`;
    client.defineCommand(command, { numberOfKeys: keys, lua });
    runners[name] = (keyList, args) => {
      if (keyList.length !== keys) throw new Error(`${name} takes ${keys} keys`);
      const run = (client as unknown as Record<string, (...values: Argument[]) => Promise<unknown>>)[command]!;
      return run.call(client, ...keyList, ...args);
    };
  }
  loaded.set(client, runners);
  return runners;
}

/** The runner of one script, or a clear error when its file is missing. */
export function script(scripts: Scripts, name: string): ScriptRunner {
  const runner = scripts[name];
  if (runner === undefined) throw new Error(`no Redis script ${name} in ${FOLDER.pathname}`);
  return runner;
}
