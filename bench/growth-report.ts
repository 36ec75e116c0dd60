/**
 * The growth bench's output: the JSON shape, a hand-written SVG chart (no dependency), and the
 * table written into docs/PERFORMANCE.md between two markers, so a new run replaces only it.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export interface PointRun {
  store: string;
  sessions: number;
  messages: number;
  /** From spawn to the primary's `listening` line (every worker listening). */
  server_start_ms: number;
  submits_per_s: number;
  p50_ms: number;
  p99_ms: number;
  /** RSA-OAEP decryptions/s on every core, measured right before this point's submits. */
  rsa_ceiling_per_s: number;
  rsa_ceiling_before_after: [number, number];
  ratio_to_rsa: number;
  server_cpu_ms_per_submit: number;
  errors: number;
  rss: Array<{ role: string; rss_mb: number | undefined; peak_mb: number | undefined }>;
  /** The highest peak RSS (VmHWM) of any one server process. */
  max_rss_mb: number;
  store_bytes: number;
  /** Embedded only: one round of the expiry purge on the grown file, timed outside the server. */
  purge_round_ms?: number;
  load_average_1m: number;
  warnings: Record<string, number>;
}

export interface GrowthResult {
  bench: string;
  at: string;
  command: string;
  machine: { cpus: number; model: string; node: string };
  settings: Record<string, unknown>;
  stores: Record<
    string,
    { points: PointRun[]; bytes: { per_session: number | undefined; per_message: number | undefined; how: string; detail: Record<string, number> } }
  >;
  skipped: Record<string, string>;
  seconds: number;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const short = (n: number): string => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${Math.round(n / 1000)}k` : String(n));

interface Panel {
  title: string;
  value: (run: PointRun, first: PointRun) => number;
  /** A horizontal line worth drawing (a target). */
  guide?: { at: number; label: string };
}

/** Four panels over the points (x: sessions / messages): relative throughput, CPU per submit, p99, max RSS per process. */
export function renderGrowthChart(result: GrowthResult): string {
  const stores = Object.entries(result.stores);
  const panels: Panel[] = [
    {
      title: 'submits/s ÷ RSA ceiling, vs first point',
      value: (run, first) => run.ratio_to_rsa / first.ratio_to_rsa,
      guide: { at: 0.8, label: 'target ≥ 0.8' },
    },
    // The steadiest figure on a shared machine: CPU time the server's workers spent per submit.
    { title: 'server CPU per submit (ms)', value: (run) => run.server_cpu_ms_per_submit },
    { title: 'submit p99 latency (ms)', value: (run) => run.p99_ms },
    { title: 'max RSS of one server process (MB)', value: (run) => run.max_rss_mb, guide: { at: 300, label: 'target < 300 MB' } },
  ];
  const width = 300;
  const height = 250;
  const margin = { left: 48, right: 12, top: 34, bottom: 62 };
  const parts: string[] = [];
  panels.forEach((panel, p) => {
    const x0 = p * width;
    const plotW = width - margin.left - margin.right;
    const plotH = height - margin.top - margin.bottom;
    const labels = stores[0]?.[1].points.map((run) => `${short(run.sessions)} / ${short(run.messages)}`) ?? [];
    const series = stores.map(([, store]) => store.points.map((run) => panel.value(run, store.points[0]!)));
    const all = [...series.flat(), panel.guide?.at ?? 0, 0].filter(Number.isFinite);
    const max = Math.max(...all) * 1.15 || 1;
    const xAt = (i: number) => x0 + margin.left + (labels.length <= 1 ? plotW / 2 : (i / (labels.length - 1)) * plotW);
    const yAt = (v: number) => margin.top + plotH - (v / max) * plotH;
    parts.push(`<text x="${x0 + width / 2}" y="18" text-anchor="middle" font-size="12" font-weight="bold">${escape(panel.title)}</text>`);
    parts.push(`<line x1="${x0 + margin.left}" y1="${margin.top + plotH}" x2="${x0 + margin.left + plotW}" y2="${margin.top + plotH}" stroke="#444"/>`);
    parts.push(`<line x1="${x0 + margin.left}" y1="${margin.top}" x2="${x0 + margin.left}" y2="${margin.top + plotH}" stroke="#444"/>`);
    for (let t = 0; t <= 4; t++) {
      const v = (max / 4) * t;
      const y = yAt(v);
      parts.push(`<line x1="${x0 + margin.left}" y1="${y}" x2="${x0 + margin.left + plotW}" y2="${y}" stroke="#ddd"/>`);
      parts.push(`<text x="${x0 + margin.left - 4}" y="${y + 4}" text-anchor="end" font-size="10">${max < 5 ? v.toFixed(2) : Math.round(v)}</text>`);
    }
    labels.forEach((label, i) => {
      parts.push(
        `<text x="${xAt(i)}" y="${margin.top + plotH + 14}" text-anchor="end" font-size="10" transform="rotate(-30 ${xAt(i)} ${margin.top + plotH + 14})">${escape(label)}</text>`,
      );
    });
    if (panel.guide !== undefined) {
      const y = yAt(panel.guide.at);
      parts.push(`<line x1="${x0 + margin.left}" y1="${y}" x2="${x0 + margin.left + plotW}" y2="${y}" stroke="#888" stroke-dasharray="4 3"/>`);
      parts.push(`<text x="${x0 + margin.left + plotW}" y="${y - 3}" text-anchor="end" font-size="10" fill="#555">${escape(panel.guide.label)}</text>`);
    }
    series.forEach((values, s) => {
      const colour = COLOURS[s % COLOURS.length];
      const path = values.map((v, i) => `${i === 0 ? 'M' : 'L'}${xAt(i).toFixed(1)},${yAt(v).toFixed(1)}`).join(' ');
      parts.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`);
      values.forEach((v, i) => parts.push(`<circle cx="${xAt(i).toFixed(1)}" cy="${yAt(v).toFixed(1)}" r="3" fill="${colour}"/>`));
    });
  });
  const legendY = height + 6;
  stores.forEach(([name], s) => {
    const x = 60 + s * 170;
    parts.push(`<rect x="${x}" y="${legendY - 9}" width="14" height="4" fill="${COLOURS[s % COLOURS.length]}"/>`);
    parts.push(`<text x="${x + 20}" y="${legendY - 4}" font-size="11">${escape(name)}</text>`);
  });
  parts.push(
    `<text x="${60 + stores.length * 170}" y="${legendY - 4}" font-size="10" fill="#555">x: live sessions / stored messages; ${escape(result.at.slice(0, 16))} UTC, ${result.machine.cpus} cores</text>`,
  );
  const totalW = width * panels.length;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${totalW}" height="${height + 16}" viewBox="0 0 ${totalW} ${height + 16}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`
  );
}

export const SECTION_START = '<!-- growth-bench:start (written by `npm run bench:growth -- --write`) -->';
export const SECTION_END = '<!-- growth-bench:end -->';

/** The figures as markdown: one table per store, then bytes per row. */
export function growthTables(result: GrowthResult): string {
  const lines: string[] = [];
  lines.push(`Run of ${result.at} (${result.seconds} s), \`${result.command}\`, ${result.machine.cpus} × ${result.machine.model}, Node ${result.machine.node}.`);
  lines.push('');
  for (const [name, store] of Object.entries(result.stores)) {
    const first = store.points[0];
    lines.push(`**${name}**`);
    lines.push('');
    lines.push(
      '| sessions | messages | submits/s | RSA ceiling/s | ratio | vs first | p50 / p99 ms | server CPU ms/submit | CPU vs first | max RSS MB (process) | RSS MB now: primary, workers | start ms | purge round ms | load | errors |',
    );
    lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const run of store.points) {
      const now = run.rss.filter((p) => p.role !== 'helper').map((p) => p.rss_mb ?? '?').join(', ');
      lines.push(
        `| ${run.sessions.toLocaleString('en')} | ${run.messages.toLocaleString('en')} | ${run.submits_per_s} | ${run.rsa_ceiling_per_s} | ${run.ratio_to_rsa} | ` +
          `${first === undefined ? '' : (run.ratio_to_rsa / first.ratio_to_rsa).toFixed(2)} | ${run.p50_ms} / ${run.p99_ms} | ${run.server_cpu_ms_per_submit} | ` +
          `${first === undefined ? '' : (run.server_cpu_ms_per_submit / first.server_cpu_ms_per_submit).toFixed(2)} | ` +
          `${run.max_rss_mb} | ${now} | ${run.server_start_ms} | ${run.purge_round_ms ?? '—'} | ${run.load_average_1m} | ${run.errors} |`,
      );
    }
    lines.push('');
    lines.push(
      `Bytes per session: **${store.bytes.per_session ?? '?'}**; bytes per message: **${store.bytes.per_message ?? '?'}** (${store.bytes.how}).`,
    );
    lines.push('');
  }
  for (const [name, reason] of Object.entries(result.skipped)) lines.push(`${name}: ${reason}.`);
  return lines.join('\n');
}

/** Replaces the section between the markers (appending it the first time). */
export function writeGrowthSection(file: string, result: GrowthResult): void {
  const text = readFileSync(file, 'utf8');
  const body = `${SECTION_START}\n${growthTables(result)}\n${SECTION_END}`;
  const start = text.indexOf(SECTION_START);
  const end = text.indexOf(SECTION_END);
  const next = start >= 0 && end > start ? `${text.slice(0, start)}${body}${text.slice(end + SECTION_END.length)}` : `${text.trimEnd()}\n\n${body}\n`;
  writeFileSync(file, next);
}
