/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, e.g. from `npm run bench -- --profileDir=DIR`):
 * where the server's time went, by self time per function and by broad area.
 *
 *   node --import tsx bench/profile-summary.ts DIR_OR_FILES... [--top=25]
 *
 * Prints one JSON object; profiles with almost no samples (the cluster primary) are skipped.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/**
 * Broad areas, in priority order: a sample belongs to the first area that any frame of its stack
 * ("function url") matches, so a native call (attributed by V8 to its JS caller) lands in the area
 * of the code that made it, and the specific beats the general (RSA inside a request is RSA).
 */
const AREAS: Array<[string, RegExp]> = [
  ['idle', /^\(idle\)/],
  ['garbage collection', /^\(garbage collector\)/],
  ['rsa private decrypt (node:crypto)', /^privateDecrypt |rsaOaepDecrypt|decryptWith /],
  ['aes decrypt (node:crypto)', /decryptContent|createDecipheriv|Decipher/],
  ['session key parse', /createPrivateKey|parseSessionKey/],
  ['sqlite (better-sqlite3)', /better-sqlite3|\/backends\/sqlite\//],
  ['redis client', /ioredis|\/backends\/redis\//],
  ['mysql client', /mysql2|\/backends\/mysql\//],
  ['logging (pino)', /\/pino\/|pino-std-serializers|sonic-boom|\/logger\.ts/],
  ['form body parsing', /formbody|fast-querystring|querystring/],
  ['envelope (json, base64, checks)', /\/src\/envelope\//],
  ['protocol service', /\/src\/protocol\//],
  ['fastify and http', /\/fastify\/|find-my-way|avvio|light-my-request|_http_|node:http|\/src\/http\//],
  ['node internals (net, streams, timers)', /node:(net|stream|internal|timers|events|buffer)/],
];

function areaOf(stack: string[]): string {
  for (const [area, pattern] of AREAS) if (stack.some((frame) => pattern.test(frame))) return area;
  return stack[0]?.startsWith('(program)') ? 'native / unattributed' : 'other JavaScript';
}

function files(args: string[]): string[] {
  return args.flatMap((arg) =>
    statSync(arg).isDirectory()
      ? readdirSync(arg)
          .filter((name) => name.endsWith('.cpuprofile'))
          .map((name) => join(arg, name))
      : [arg],
  );
}

function summarise(file: string, top: number) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const label = (node: ProfileNode) =>
    `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^file:\/\/.*?node_modules\//, 'npm:').replace(/^file:\/\/.*?\/(src|bench|test)\//, '/$1/')}`;

  const selfMs = new Map<string, number>();
  const areaMs = new Map<string, number>();
  let totalMs = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    totalMs += ms;
    const node = byId.get(id);
    if (node === undefined) return;
    const own = label(node);
    selfMs.set(own, (selfMs.get(own) ?? 0) + ms);
    const stack: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at);
      if (frame !== undefined) stack.push(label(frame));
    }
    const area = areaOf(stack);
    areaMs.set(area, (areaMs.get(area) ?? 0) + ms);
  });
  const busyMs = totalMs - (areaMs.get('idle') ?? 0);
  const share = (ms: number) => Math.round((ms / busyMs) * 1000) / 10;
  return {
    file: basename(file),
    wall_s: Math.round(totalMs / 100) / 10,
    busy_s: Math.round(busyMs / 100) / 10,
    /** Percent of busy (non-idle) time. */
    areas_pct: Object.fromEntries(
      [...areaMs.entries()]
        .filter(([area]) => area !== 'idle')
        .sort((a, b) => b[1] - a[1])
        .map(([area, ms]) => [area, share(ms)]),
    ),
    top_self_pct: Object.fromEntries(
      [...selfMs.entries()]
        .filter(([name]) => !name.startsWith('(idle)'))
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([name, ms]) => [name, share(ms)]),
    ),
  };
}

const topFlag = process.argv.find((arg) => arg.startsWith('--top='));
const top = topFlag === undefined ? 20 : Number(topFlag.slice(6));
const inputs = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
if (inputs.length === 0) {
  process.stderr.write('usage: node --import tsx bench/profile-summary.ts DIR_OR_FILES... [--top=N]\n');
  process.exit(2);
}
const summaries = files(inputs)
  .map((file) => summarise(file, top))
  .filter((summary) => summary.busy_s >= 0.5);
process.stdout.write(`${JSON.stringify(summaries, null, 2)}\n`);
