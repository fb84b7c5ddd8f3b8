// The live dashboard: one self-contained page (no external scripts or fonts) that polls
// /dashboard/data every second and draws the last minute as a chart.

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>crispy-streamer: uploads</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 24px; color: #1d2733; background: #f7f9fb; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .muted { color: #687684; }
  .cards { display: flex; gap: 12px; margin: 16px 0; flex-wrap: wrap; }
  .card { background: #fff; border: 1px solid #dde3ea; border-radius: 8px; padding: 12px 16px; min-width: 140px; }
  .card b { display: block; font-size: 22px; }
  table { border-collapse: collapse; background: #fff; border: 1px solid #dde3ea; }
  th, td { padding: 6px 12px; text-align: right; border-bottom: 1px solid #eef1f4; }
  th:first-child, td:first-child { text-align: left; }
  canvas { background: #fff; border: 1px solid #dde3ea; border-radius: 8px; margin-top: 16px; }
</style>
</head>
<body>
<h1>crispy-streamer uploads</h1>
<div class="muted">this worker process only, live, updated every second · <a href="fleet">the fleet: every camera, all workers</a> · <a href="board">Bull Board</a> · <a href="metrics">metrics</a></div>
<div class="cards">
  <div class="card">chunks stored<b id="total-chunks">0</b></div>
  <div class="card">avg closed → stored<b id="total-avg">0 ms</b></div>
  <div class="card">p95 closed → stored<b id="total-p95">0 ms</b></div>
  <div class="card">upload throughput<b id="total-throughput">0 MB/s</b></div>
  <div class="card" title="from the end of the last stored chunk's footage to the moment it was stored; the source furthest behind">behind live<b id="behind-live">0 s</b></div>
  <div class="card">backlog (waiting + active)<b id="backlog">0</b></div>
  <div class="card">failed<b id="failed">0</b></div>
</div>
<table>
  <thead><tr><th>source</th><th>chunks</th><th>avg ms</th><th>p95 ms</th><th>MB/s</th><th>behind live s</th><th>max behind live s</th></tr></thead>
  <tbody id="sources"></tbody>
</table>
<canvas id="chart" width="900" height="220" aria-label="chunks stored per second, last minute"></canvas>
<script>
const mb = (bytes) => (bytes / 1e6).toFixed(2);
const sec = (ms) => (ms / 1000).toFixed(1);
function draw(series) {
  const canvas = document.getElementById('chart');
  const ctx = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height, pad = 30;
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(1, ...series.map((p) => p.chunks));
  ctx.strokeStyle = '#dde3ea'; ctx.fillStyle = '#687684'; ctx.font = '12px system-ui';
  ctx.beginPath(); ctx.moveTo(pad, h - pad); ctx.lineTo(w - 10, h - pad); ctx.stroke();
  ctx.fillText(max + ' chunks/s', 4, 14); ctx.fillText('last 60 s', w - 70, h - 10);
  ctx.strokeStyle = '#2b7bd6'; ctx.lineWidth = 2; ctx.beginPath();
  series.forEach((p, i) => {
    const x = pad + (i / Math.max(1, series.length - 1)) * (w - pad - 10);
    const y = h - pad - (p.chunks / max) * (h - 2 * pad);
    i === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y);
  });
  ctx.stroke();
}
async function refresh() {
  try {
    const data = await (await fetch('dashboard/data')).json();
    document.getElementById('total-chunks').textContent = data.stats.total.chunks;
    document.getElementById('total-avg').textContent = data.stats.total.avgMs + ' ms';
    document.getElementById('total-p95').textContent = data.stats.total.p95Ms + ' ms';
    document.getElementById('total-throughput').textContent = mb(data.stats.total.bytesPerSecond) + ' MB/s';
    document.getElementById('behind-live').textContent = sec(data.stats.total.behindLiveMs) + ' s';
    document.getElementById('backlog').textContent = (data.queue.waiting || 0) + (data.queue.active || 0) + (data.queue.delayed || 0);
    document.getElementById('failed').textContent = data.queue.failed || 0;
    document.getElementById('sources').innerHTML = data.stats.sources.map((s) =>
      '<tr><td>' + s.source.replace(/[<>&]/g, '') + '</td><td>' + s.chunks + '</td><td>' + s.avgMs + '</td><td>' + s.p95Ms + '</td><td>' + mb(s.bytesPerSecond) +
      '</td><td>' + sec(s.behindLiveMs) + '</td><td>' + sec(s.maxBehindLiveMs) + '</td></tr>').join('');
    draw(data.stats.series);
  } catch (error) {
    document.title = 'crispy-streamer: dashboard offline';
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;
