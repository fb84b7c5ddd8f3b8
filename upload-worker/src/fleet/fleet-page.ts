// The fleet page: one self-contained page (no external scripts or fonts) that polls fleet/data
// every second and draws every camera of every node, worst first, with a 24-hour coverage strip.
// It decides nothing: health, order and coverage come from fleet-view.ts.

export const FLEET_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>crispy-streamer: fleet</title>
<style>
  :root { --down: #d9342b; --down-bg: #fde4e2; --stale: #7a4fb3; --stale-bg: #efe7fa; --warn: #c98a00; --warn-bg: #fff4d6; --ok: #2e9d5b; --idle: #8a96a3; --line: #dde3ea; }
  body { font: 13px system-ui, sans-serif; margin: 20px 24px; color: #1d2733; background: #f7f9fb; }
  h1 { font-size: 20px; margin: 0 0 2px; }
  h2 { font-size: 15px; margin: 18px 0 8px; }
  .muted { color: #687684; }
  .chips { display: flex; gap: 8px; margin: 10px 0; flex-wrap: wrap; }
  .chip { border-radius: 12px; padding: 3px 10px; background: #fff; border: 1px solid var(--line); }
  .chip b { font-size: 15px; }
  .chip.down b { color: var(--down); } .chip.stale b { color: var(--stale); } .chip.warn b { color: var(--warn); } .chip.ok b { color: var(--ok); }
  .banner { background: var(--down-bg); border: 1px solid var(--down); color: #7d1812; padding: 8px 12px; border-radius: 6px; margin: 8px 0; }
  .cards { display: flex; gap: 10px; flex-wrap: wrap; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 120px; }
  .card b { display: block; font-size: 19px; }
  table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
  th, td { padding: 5px 8px; text-align: right; border-bottom: 1px solid #eef1f4; white-space: nowrap; }
  th { background: #f0f3f6; cursor: pointer; user-select: none; font-weight: 600; vertical-align: bottom; line-height: 1.25; }
  th.sorted::after { content: ' \\25BE'; } th.sorted.up::after { content: ' \\25B4'; }
  td.l, th.l { text-align: left; }
  tr.row { cursor: pointer; }
  tr.row:hover td { background: #f3f7fb; }
  tr.health-down td { background: var(--down-bg); } tr.health-down td.cam { box-shadow: inset 4px 0 var(--down); }
  tr.health-stale td { background: var(--stale-bg); } tr.health-stale td.cam { box-shadow: inset 4px 0 var(--stale); }
  tr.health-warn td { background: var(--warn-bg); } tr.health-warn td.cam { box-shadow: inset 4px 0 var(--warn); }
  tr.health-idle td { color: var(--idle); }
  .dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 6px; vertical-align: 0; }
  .dot.down { background: var(--down); } .dot.stale { background: var(--stale); } .dot.warn { background: var(--warn); } .dot.ok { background: var(--ok); } .dot.idle { background: var(--idle); }
  .summary { max-width: 240px; overflow: hidden; text-overflow: ellipsis; }
  .toggle button { font: inherit; border: 1px solid var(--line); background: #fff; padding: 1px 8px; cursor: pointer; }
  .toggle button.on { background: #1d2733; color: #fff; }
  canvas.strip { vertical-align: middle; border: 1px solid var(--line); }
  tr.detail td { background: #fbfcfd; text-align: left; white-space: normal; padding: 10px 16px 14px; }
  tr.detail table { margin-top: 6px; }
  .legend span { margin-right: 12px; } .legend i { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: -1px; }
  .axis { display: flex; justify-content: space-between; width: 420px; font-size: 11px; color: #687684; }
</style>
</head>
<body>
<h1>crispy-streamer fleet</h1>
<div class="muted">every camera of every node, worst first · live, updated every second · <span id="updated">loading…</span> · <a href="dashboard">this worker's uploads</a> · <a href="board">Bull Board</a> · <a href="metrics">metrics</a></div>
<div id="banner"></div>
<div class="chips" id="chips"></div>
<h2>Uploads, all workers</h2>
<div class="cards">
  <div class="card">stored, last <span id="window">5 min</span><b id="up-chunks">0</b></div>
  <div class="card">avg closed → stored<b id="up-avg">0 ms</b></div>
  <div class="card">p95 closed → stored<b id="up-p95">0 ms</b></div>
  <div class="card">throughput<b id="up-throughput">0 MB/s</b></div>
  <div class="card">backlog (waiting + active + delayed)<b id="up-backlog">0</b></div>
  <div class="card">failed jobs<b id="up-failed">0</b></div>
  <div class="card">workers<b id="up-workers">0</b></div>
</div>
<h2>Cameras</h2>
<div class="legend muted"><span class="toggle">coverage of the last <button id="w24" class="on">24 h</button><button id="w1">1 h</button></span> · <span><i style="background:#2e9d5b"></i>in the bucket</span><span><i style="background:#e0a000"></i>recorded, not yet uploaded</span><span><i style="background:#d9342b"></i>gap</span><span><i style="background:#8fd19e"></i>recording now</span><span><i style="background:#e4e8ec"></i>before its first chunk</span><span><i style="background:#c8ced4"></i>bucket not listed yet</span> · % of the window recorded since its first footage · click a camera for its gaps</div>
<table id="cameras">
  <thead><tr>
    <th class="l" data-key="rank">camera</th><th class="l" data-key="node">node</th><th class="l" data-key="summary">state</th>
    <th data-key="bitrate">video</th><th data-key="lastChunk">last<br>chunk</th><th data-key="lastStored">last<br>stored</th>
    <th data-key="reconnects">reconnects<br>1 h / 24 h</th><th data-key="gaps">gaps<br>1 h / 24 h</th><th data-key="waiting">waiting<br>upload</th>
    <th data-key="spool">spool</th><th data-key="clock">clock</th><th class="l" data-key="coverage" id="coverage-head">last 24 h</th>
  </tr></thead>
  <tbody id="rows"></tbody>
</table>
<div class="axis" id="axis"></div>
<h2>Workers</h2>
<table><thead><tr><th class="l">worker</th><th class="l">queue</th><th>stored, window</th><th>since start</th><th>concurrency</th><th>last heard</th></tr></thead><tbody id="workers"></tbody></table>
<script>
const COLORS = { s: '#2e9d5b', p: '#e0a000', g: '#d9342b', i: '#8fd19e', n: '#e4e8ec', u: '#c8ced4' };
const ORDER = 'gpunis';
const expanded = new Set();
let sort = { key: 'rank', up: true };
let hour = false;
/** 's3g2' back to 'sssgg'. */
const cells = (strip) => strip.replace(/([a-z])(\\d+)/g, (_m, code, n) => code.repeat(Number(n)));
let last;
const esc = (text) => String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const mb = (bytes) => (bytes / 1e6).toFixed(2);
function age(ms) {
  if (ms === null || ms === undefined) return '—';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min';
  if (s < 172800) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  return Math.floor(s / 86400) + ' d';
}
const secs = (n) => (n < 10 ? n.toFixed(1) : Math.round(n)) + ' s';
const bytes = (n) => (n >= 1e9 ? (n / 1e9).toFixed(1) + ' GB' : n >= 1e6 ? (n / 1e6).toFixed(1) + ' MB' : Math.round(n / 1e3) + ' kB');
const when = (iso) => iso.replace('T', ' ').replace('Z', ' UTC');
function sortValue(row, key) {
  switch (key) {
    case 'rank': return [row.rank, row.coverage.storedRatio, row.node, row.source];
    case 'node': return [row.node, row.source];
    case 'summary': return [row.summary];
    case 'bitrate': return [row.video ? row.video.bitrateBps : -1];
    case 'lastChunk': return [row.lastChunk ? row.lastChunk.ageMs : Infinity];
    case 'lastStored': return [row.lastStored ? row.lastStored.ageMs : Infinity];
    case 'reconnects': return [row.lastHour.reconnects, row.lastDay.reconnects];
    case 'gaps': return [row.lastHour.gapSeconds, row.lastDay.gapSeconds];
    case 'waiting': return [row.spool.oldestWaitingAgeMs ?? -1, row.spool.waitingChunks];
    case 'spool': return [row.spool.usageRatio];
    case 'clock': return [row.clockSync];
    case 'coverage': return [hour ? row.coverage.hourStoredRatio : row.coverage.storedRatio];
    default: return [0];
  }
}
function compare(a, b) {
  const x = sortValue(a, sort.key), y = sortValue(b, sort.key);
  for (let i = 0; i < x.length; i++) { if (x[i] < y[i]) return sort.up ? -1 : 1; if (x[i] > y[i]) return sort.up ? 1 : -1; }
  return 0;
}
function drawStrip(canvas, strip) {
  const ctx = canvas.getContext('2d');
  const per = strip.length / canvas.width;
  for (let x = 0; x < canvas.width; x++) {
    const cells = strip.slice(Math.floor(x * per), Math.max(Math.floor(x * per) + 1, Math.floor((x + 1) * per)));
    let worst = 's';
    for (const c of cells) if (ORDER.indexOf(c) < ORDER.indexOf(worst)) worst = c;
    ctx.fillStyle = COLORS[worst] || '#c8ced4';
    ctx.fillRect(x, 0, 1, canvas.height);
  }
}
function detail(row) {
  const problems = row.problems.length === 0 ? '<div>nothing to report</div>' : row.problems.map((p) => '<div>• ' + esc(p) + '</div>').join('');
  const c = row.coverage;
  let gaps;
  if (!c.known) gaps = '<div class="muted">the bucket has not been listed yet' + (c.error ? ': ' + esc(c.error) : '') + '</div>';
  else if (c.gaps.length === 0) gaps = '<div>no gap in the last 24 h</div>';
  else gaps = '<table class="gaps"><thead><tr><th class="l">gap from</th><th class="l">to</th><th>length</th><th class="l">what is missing</th></tr></thead><tbody>' +
    c.gaps.slice().reverse().map((g) => '<tr><td class="l">' + when(g.from) + '</td><td class="l">' + when(g.to) + '</td><td>' + secs(g.durationMs / 1000) + '</td><td class="l">' +
      (g.missingSequences ? 'chunks ' + g.missingSequences.first + (g.missingSequences.count > 1 ? '-' + g.missingSequences.last : '') + ' recorded but in no bucket or spool' : g.edge === 'start' ? 'no chunk before this in the last 24 h' : g.edge === 'end' ? 'nothing recorded since' : 'not recorded (camera down)') + '</td></tr>').join('') +
    '</tbody></table>' + (c.gapsTruncated ? '<div class="muted">older gaps left out</div>' : '');
  const pending = c.pending.length === 0 ? '' : '<div style="margin-top:6px">recorded, waiting for the bucket: ' + c.pending.map((p) => when(p.from) + ' – ' + when(p.to)).join(', ') + '</div>';
  return '<tr class="detail" data-detail="' + esc(row.id) + '"><td colspan="12"><b>' + esc(row.source) + ' on ' + esc(row.node) + '</b> · ' + esc(row.state) + ' since ' + when(row.stateSince) +
    (row.duplicateSource ? ' · <b>another node reports this source id: their chunks share one folder of the bucket</b>' : '') + problems +
    '<div style="margin-top:8px"><b>Gaps, last 24 h</b> (' + secs(c.gapMs / 1000) + ' in all' + (c.firstChunk ? ' since its first footage at ' + when(c.firstChunk) : '') + '; from the bucket' + (c.listedAgeMs === null ? '' : ', listed ' + age(c.listedAgeMs) + ' ago') + ', and the recorder)</div>' + gaps + pending + '</td></tr>';
}
function render(data) {
  last = data;
  document.getElementById('updated').textContent = 'as of ' + when(data.at);
  document.getElementById('banner').innerHTML = data.redisError ? '<div class="banner">' + esc(data.redisError) + ': camera states are not known</div>' : '';
  const s = data.summary;
  document.getElementById('chips').innerHTML = '<span class="chip">cameras <b>' + s.cameras + '</b> on <b>' + s.nodes + '</b> nodes</span>' +
    ['down', 'stale', 'warn', 'ok', 'idle'].map((h) => '<span class="chip ' + h + '">' + h + ' <b id="count-' + h + '">' + s[h] + '</b></span>').join('');
  const u = data.uploads;
  document.getElementById('window').textContent = Math.round(u.windowMs / 60000) + ' min';
  document.getElementById('up-chunks').textContent = u.total.chunks;
  document.getElementById('up-avg').textContent = u.total.avgMs + ' ms';
  document.getElementById('up-p95').textContent = u.total.p95Ms + ' ms';
  document.getElementById('up-throughput').textContent = mb(u.total.bytesPerSecond) + ' MB/s';
  const queues = Object.values(u.queues);
  document.getElementById('up-backlog').textContent = queues.reduce((n, q) => n + (q.waiting || 0) + (q.active || 0) + (q.delayed || 0) + (q.prioritized || 0), 0);
  document.getElementById('up-failed').textContent = queues.reduce((n, q) => n + (q.failed || 0), 0);
  document.getElementById('up-workers').textContent = u.workers.filter((w) => !w.stale).length + (u.workers.some((w) => w.stale) ? ' (+' + u.workers.filter((w) => w.stale).length + ' silent)' : '');
  document.getElementById('workers').innerHTML = u.workers.map((w) => '<tr' + (w.stale ? ' class="health-stale"' : '') + '><td class="l">' + esc(w.workerId) + '</td><td class="l">' + esc(w.queueName) + '</td><td>' + w.storedInWindow + '</td><td>' + w.storedSinceStart + '</td><td>' + w.concurrency + '</td><td>' + age(Date.parse(data.at) - w.heartbeatMs) + ' ago</td></tr>').join('');
  const rows = data.rows.slice().sort(compare);
  const html = [];
  for (const row of rows) {
    const v = row.video;
    html.push('<tr class="row health-' + row.health + '" data-id="' + esc(row.id) + '" data-source="' + esc(row.source) + '" data-health="' + row.health + '">' +
      '<td class="l cam"><span class="dot ' + row.health + '"></span>' + esc(row.source) + '</td><td class="l">' + esc(row.node) + '</td>' +
      '<td class="l summary" title="' + esc(row.problems.join('\\n')) + '">' + esc(row.summary) + '</td>' +
      '<td>' + (v ? v.width + '×' + v.height + ' ' + esc(v.codec) + ' ' + (v.bitrateBps / 1e6).toFixed(1) + ' Mbit/s' : '—') + '</td>' +
      '<td>' + (row.lastChunk ? age(row.lastChunk.ageMs) + ' ago' : '—') + '</td><td>' + (row.lastStored ? age(row.lastStored.ageMs) + ' ago' : '—') + '</td>' +
      '<td>' + row.lastHour.reconnects + ' / ' + row.lastDay.reconnects + '</td>' +
      '<td>' + row.lastHour.gaps + ' (' + secs(row.lastHour.gapSeconds) + ') / ' + row.lastDay.gaps + ' (' + secs(row.lastDay.gapSeconds) + ')</td>' +
      '<td>' + (row.spool.waitingChunks === 0 ? '0' : row.spool.waitingChunks + ', ' + bytes(row.spool.waitingBytes) + ', oldest ' + age(row.spool.oldestWaitingAgeMs)) + '</td>' +
      '<td>' + Math.round(row.spool.usageRatio * 100) + ' % · ' + bytes(row.spool.freeBytes) + ' free</td>' +
      '<td>' + (row.clockSync === 'synchronised' ? 'NTP' : esc(row.clockSync)) + '</td>' +
      '<td class="l"><canvas class="strip" width="420" height="14" data-strip="' + (hour ? row.coverage.hourStrip : row.coverage.strip) + '"></canvas> ' + (row.coverage.known ? ((hour ? row.coverage.hourStoredRatio : row.coverage.storedRatio) * 100).toFixed(1) + ' %' : '…') + '</td></tr>');
    if (expanded.has(row.id)) html.push(detail(row));
  }
  document.getElementById('rows').innerHTML = html.join('');
  for (const canvas of document.querySelectorAll('canvas.strip')) drawStrip(canvas, cells(canvas.dataset.strip));
  const nowMs = Date.parse(data.at);
  const spanMs = hour ? 3600000 : data.window.ms;
  document.getElementById('coverage-head').textContent = hour ? 'last hour' : 'last 24 h';
  document.getElementById('axis').innerHTML = [0, 1, 2, 3, 4].map((i) => '<span>' + (i === 4 ? 'now' : new Date(nowMs - spanMs + (i * spanMs) / 4).toISOString().slice(11, 16)) + '</span>').join('');
  const strip = document.querySelector('canvas.strip');
  if (strip) document.getElementById('axis').style.marginLeft = (strip.getBoundingClientRect().left - document.body.getBoundingClientRect().left) + 'px';
  for (const th of document.querySelectorAll('#cameras th')) th.className = (th.classList.contains('l') ? 'l ' : '') + (th.dataset.key === sort.key ? 'sorted' + (sort.up ? '' : ' up') : '');
}
document.getElementById('rows').addEventListener('click', (event) => {
  const tr = event.target.closest('tr.row');
  if (!tr) return;
  const id = tr.dataset.id;
  if (expanded.has(id)) expanded.delete(id); else expanded.add(id);
  if (last) render(last);
});
for (const [id, value] of [['w24', false], ['w1', true]]) {
  document.getElementById(id).addEventListener('click', () => {
    hour = value;
    document.getElementById('w24').className = hour ? '' : 'on';
    document.getElementById('w1').className = hour ? 'on' : '';
    if (last) render(last);
  });
}
document.querySelector('#cameras thead').addEventListener('click', (event) => {
  const th = event.target.closest('th');
  if (!th) return;
  sort = sort.key === th.dataset.key ? { key: sort.key, up: !sort.up } : { key: th.dataset.key, up: true };
  if (last) render(last);
});
async function refresh() {
  try {
    const response = await fetch('fleet/data', { cache: 'no-store' });
    if (!response.ok) throw new Error('HTTP ' + response.status);
    render(await response.json());
    document.title = 'crispy-streamer: fleet' + (last.summary.down + last.summary.stale > 0 ? ' (' + (last.summary.down + last.summary.stale) + ' down)' : '');
  } catch (error) {
    document.getElementById('banner').innerHTML = '<div class="banner">the worker does not answer (' + esc(error.message) + '): what you see is from ' + (last ? when(last.at) : 'never') + '</div>';
    document.title = 'crispy-streamer: fleet offline';
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;
