/**
 * How a bench reads its settings, written once for bench/run.ts and bench/growth.ts: each name of
 * `defaults` from `--name=value`, a bare `--name` (= 1, for switches), or `<PREFIX>_NAME` in the
 * environment (camelCase to SNAKE_CASE: coldStartAuths = BENCH_COLD_START_AUTHS); a number
 * setting must be a finite number ≥ 0. An empty value leaves the default.
 */
export function readSettings<T extends Record<string, string | number>>(defaults: T, envPrefix: string): T {
  const settings: Record<string, string | number> = { ...defaults };
  for (const name of Object.keys(defaults)) {
    const envName = `${envPrefix}_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
    const flag = process.argv.find((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`));
    const raw = flag === `--${name}` ? '1' : flag !== undefined ? flag.slice(name.length + 3) : process.env[envName];
    if (raw === undefined || raw === '') continue;
    if (typeof settings[name] === 'number') {
      const value = Number(raw);
      if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} / ${envName}: a number is needed (got "${raw}")`);
      settings[name] = value;
    } else {
      settings[name] = raw;
    }
  }
  return settings as T;
}

/** A unique plaintext of about `bytes` bytes: JSON, as devices send. */
export function jsonPayload(n: number, bytes: number): string {
  const head = JSON.stringify({ n, sent: new Date().toISOString(), text: '' });
  return JSON.stringify({ n, sent: new Date().toISOString(), text: 'x'.repeat(Math.max(0, bytes - head.length)) });
}

/** A figure for the JSON line: `digits` decimals. */
export function round(n: number, digits = 1): number {
  return Math.round(n * 10 ** digits) / 10 ** digits;
}
