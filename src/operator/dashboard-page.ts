/**
 * The dashboard page (GET / on the operator listener): one self-contained HTML file, no CDN, no
 * build step. It polls /dashboard.json every two seconds and draws the answers by code as stacked
 * SVG bars. Every value is written with textContent, never as HTML.
 */
export const DASHBOARD_POLL_MS = 2000;

export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Secure Message Server — operator</title>
<link rel="icon" href="data:,">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2327; background: #f6f7f7; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; } h2 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
  .muted { color: #646970; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(9.5rem, 1fr)); gap: .6rem; }
  .tile { background: #fff; border: 1px solid #dcdcde; border-radius: 6px; padding: .6rem .8rem; }
  .tile .value { font-size: 1.5rem; font-variant-numeric: tabular-nums; }
  .panel { background: #fff; border: 1px solid #dcdcde; border-radius: 6px; padding: .8rem; }
  table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .2rem .5rem; border-bottom: 1px solid #f0f0f1; }
  .up { color: #00a32a; } .down { color: #d63638; font-weight: bold; }
  #legend span { display: inline-block; margin-right: 1rem; } #legend i { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: -1px; }
  #chart { width: 100%; height: 180px; display: block; }
</style>
</head>
<body>
<h1>Secure Message Server</h1>
<div class="muted"><span id="version"></span> · <span id="workers"></span> · directory <span id="directory"></span> · store <span id="store"></span> · <span id="updated">loading…</span></div>

<h2>Totals since start</h2>
<div class="tiles">
  <div class="tile"><div class="muted">requests</div><div class="value" id="requests-total">–</div></div>
  <div class="tile"><div class="muted">messages stored</div><div class="value" id="messages-stored">–</div></div>
  <div class="tile"><div class="muted">duplicates</div><div class="value" id="duplicates">–</div></div>
  <div class="tile"><div class="muted">invalid envelopes</div><div class="value" id="invalid-envelopes">–</div></div>
  <div class="tile"><div class="muted">sessions created</div><div class="value" id="sessions-created">–</div></div>
  <div class="tile"><div class="muted">logouts</div><div class="value" id="logouts">–</div></div>
  <div class="tile"><div class="muted">devices seen</div><div class="value" id="devices-seen">–</div></div>
  <div class="tile"><div class="muted">key pool ready</div><div class="value" id="key-pool">–</div></div>
  <div class="tile"><div class="muted">rate limited</div><div class="value" id="rate-limited">–</div></div>
  <div class="tile"><div class="muted">shed (overload)</div><div class="value" id="overloaded">–</div></div>
</div>

<h2>Answers by code, last minutes <span class="muted" id="step"></span></h2>
<div class="panel">
  <svg id="chart" viewBox="0 0 900 180" preserveAspectRatio="none" role="img" aria-label="answers by code over time"></svg>
  <div id="legend"></div>
</div>

<div class="tiles" style="grid-template-columns: repeat(auto-fill, minmax(18rem, 1fr)); margin-top: .6rem">
  <div class="panel"><h2>Backends</h2><table id="backends"></table></div>
  <div class="panel"><h2>Consumer lag</h2><table id="consumers"></table></div>
  <div class="panel"><h2>Webhook deliveries</h2><table id="webhooks"></table></div>
  <div class="panel"><h2>Answers by code</h2><table id="codes"></table></div>
</div>

<h2>Recent errors</h2>
<div class="panel"><table id="errors"><thead><tr><th>time</th><th>op</th><th>HTTP</th><th>code</th><th>answer</th><th>reason</th></tr></thead><tbody></tbody></table></div>

<script>
const COLORS = { '0': '#00a32a', '1': '#2271b1', '2': '#dba617', '3': '#d63638', '4': '#8c5e9e', '5': '#1d2327', '6': '#a7aaad', '7': '#e26f56' };
const NAMES = { '0': 'ok', '1': 'already / duplicate', '2': 'not found', '3': 'bad request / invalid', '4': 'too many', '5': 'unavailable', '6': 'unauthorized', '7': 'conflict' };
const $ = (id) => document.getElementById(id);
const set = (id, value) => { $(id).textContent = String(value); };

function rows(table, entries, empty) {
  table.replaceChildren();
  if (entries.length === 0) {
    const tr = table.insertRow(); const td = tr.insertCell(); td.textContent = empty; td.className = 'muted';
    return;
  }
  for (const cells of entries) {
    const tr = table.insertRow();
    for (const [text, className] of cells) { const td = tr.insertCell(); td.textContent = String(text); if (className) td.className = className; }
  }
}

function drawChart(history) {
  const svg = $('chart');
  svg.replaceChildren();
  const ns = 'http://www.w3.org/2000/svg';
  const width = 900, height = 170, slots = Math.max(history.length, 30);
  const barWidth = width / slots;
  const max = Math.max(1, ...history.map((p) => Object.values(p.byCode).reduce((a, b) => a + b, 0)));
  history.forEach((point, i) => {
    let y = height;
    for (const code of Object.keys(point.byCode).sort()) {
      const h = (point.byCode[code] / max) * (height - 10);
      const rect = document.createElementNS(ns, 'rect');
      rect.setAttribute('x', String(i * barWidth + 1));
      rect.setAttribute('width', String(Math.max(1, barWidth - 2)));
      rect.setAttribute('y', String(y - h));
      rect.setAttribute('height', String(h));
      rect.setAttribute('fill', COLORS[code] || '#999');
      rect.setAttribute('data-code', code);
      rect.setAttribute('data-count', String(point.byCode[code]));
      const title = document.createElementNS(ns, 'title');
      title.textContent = point.at + ': ' + point.byCode[code] + ' × code ' + code;
      rect.appendChild(title);
      svg.appendChild(rect);
      y -= h;
    }
  });
  const label = document.createElementNS(ns, 'text');
  label.setAttribute('x', '4'); label.setAttribute('y', '12'); label.setAttribute('font-size', '11'); label.setAttribute('fill', '#646970');
  label.textContent = 'max ' + max + ' per interval';
  svg.appendChild(label);
}

async function refresh() {
  try {
    const response = await fetch('dashboard.json', { cache: 'no-store' });
    if (!response.ok) throw new Error('HTTP ' + response.status);
    const d = await response.json();
    set('version', 'v' + d.version); set('workers', d.workers + ' worker' + (d.workers === 1 ? '' : 's'));
    set('directory', d.directory); set('store', d.store);
    set('requests-total', d.requests.total); set('messages-stored', d.messagesStored); set('duplicates', d.duplicates);
    set('invalid-envelopes', d.invalidEnvelopes); set('sessions-created', d.sessionsCreated); set('logouts', d.logouts);
    set('devices-seen', d.devicesSeen); set('key-pool', d.keyPoolAvailable); set('rate-limited', d.rateLimited); set('overloaded', d.overloaded);
    set('step', '(one bar = ' + d.historyStepSeconds + ' s)');
    drawChart(d.history);
    const legend = $('legend'); legend.replaceChildren();
    for (const code of Object.keys(d.requests.byCode).sort()) {
      const span = document.createElement('span'); const swatch = document.createElement('i');
      swatch.style.background = COLORS[code] || '#999'; span.append(swatch, code + ' ' + (NAMES[code] || ''));
      legend.appendChild(span);
    }
    rows($('backends'), Object.entries(d.backends).map(([name, state]) => [[name], [state, state]]), 'none');
    rows($('consumers'), Object.entries(d.consumerLag).map(([name, lag]) => [[name], [lag]]), 'no consumer bookmarks');
    rows($('webhooks'), Object.entries(d.webhookDeliveries).map(([result, n]) => [[result], [n]]), 'no deliveries (WEBHOOK_URL unset or nothing sent)');
    rows($('codes'), Object.entries(d.requests.byCode).sort().map(([code, n]) => [[code + ' ' + (NAMES[code] || '')], [n]]), 'no requests yet');
    const body = $('errors').tBodies[0];
    rows(body, d.recentErrors.map((e) => [[e.at.slice(11, 19)], [e.op], [e.status], [e.code], [e.message], [e.reason || '']]), 'none');
    set('updated', 'updated ' + new Date().toLocaleTimeString());
    document.body.dataset.loaded = 'true';
  } catch (error) {
    set('updated', 'cannot load: ' + error.message);
  }
}
refresh();
setInterval(refresh, ${DASHBOARD_POLL_MS});
</script>
</body>
</html>
`;
