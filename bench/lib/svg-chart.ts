import { cdfPoints } from './percentiles.js';

// A dependency-free SVG: the latency distributions as CDFs on a log time axis, and throughput as
// horizontal bars on a log axis, each with the issue's target drawn in.

export interface CdfSeries {
  label: string;
  values: number[];
  color: string;
  dashed?: boolean;
}

export interface Bar {
  label: string;
  value: number;
  color: string;
}

export interface ChartSpec {
  title: string;
  subtitle: string;
  cdf?: { title: string; series: CdfSeries[]; markers: { value: number; label: string }[] };
  bars?: { title: string; unit: string; items: Bar[]; markers: { value: number; label: string }[] };
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let decade = Math.floor(Math.log10(min)); decade <= Math.ceil(Math.log10(max)); decade++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** decade;
      if (v >= min * 0.999 && v <= max * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

function tickLabel(v: number, unit: 'ms' | ''): string {
  if (unit === 'ms') return v >= 1000 ? `${v / 1000} s` : `${v} ms`;
  return v >= 1000 ? `${v / 1000}k` : String(v);
}

export function renderChart(spec: ChartSpec): string {
  const width = 1000;
  const margin = { left: 70, right: 30 };
  const plotWidth = width - margin.left - margin.right;
  const parts: string[] = [];
  let y = 20;
  parts.push(`<text x="${width / 2}" y="${y + 8}" text-anchor="middle" font-size="18" font-weight="bold">${escape(spec.title)}</text>`);
  y += 26;
  parts.push(`<text x="${width / 2}" y="${y}" text-anchor="middle" font-size="12" fill="#555">${escape(spec.subtitle)}</text>`);
  y += 24;

  if (spec.cdf !== undefined && spec.cdf.series.some((s) => s.values.length > 0)) {
    const series = spec.cdf.series.filter((s) => s.values.length > 0);
    const all = series.flatMap((s) => s.values).filter((v) => v > 0);
    const min = 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...all))));
    const max = 10 ** Math.ceil(Math.log10(Math.max(...all, ...spec.cdf.markers.map((m) => m.value))));
    const top = y + 24;
    const height = 300;
    const sx = (v: number) => margin.left + ((Math.log10(Math.max(v, min)) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))) * plotWidth;
    const sy = (f: number) => top + height - f * height;
    parts.push(`<text x="${margin.left}" y="${y + 10}" font-size="14" font-weight="bold">${escape(spec.cdf.title)}</text>`);
    parts.push(`<rect x="${margin.left}" y="${top}" width="${plotWidth}" height="${height}" fill="#fafafa" stroke="#ccc"/>`);
    for (const tick of logTicks(min, max)) {
      parts.push(`<line x1="${sx(tick)}" y1="${top}" x2="${sx(tick)}" y2="${top + height}" stroke="#e5e5e5"/>`);
      parts.push(`<text x="${sx(tick)}" y="${top + height + 16}" text-anchor="middle" font-size="11">${tickLabel(tick, 'ms')}</text>`);
    }
    for (const f of [0, 0.25, 0.5, 0.75, 0.95, 1]) {
      parts.push(
        `<line x1="${margin.left}" y1="${sy(f)}" x2="${margin.left + plotWidth}" y2="${sy(f)}" stroke="${f === 0.95 ? '#bbb' : '#e5e5e5'}"${f === 0.95 ? ' stroke-dasharray="3,3"' : ''}/>`,
      );
      parts.push(`<text x="${margin.left - 6}" y="${sy(f) + 4}" text-anchor="end" font-size="11">${f === 0.95 ? 'p95' : `${f * 100} %`}</text>`);
    }
    for (const marker of spec.cdf.markers) {
      parts.push(`<line x1="${sx(marker.value)}" y1="${top}" x2="${sx(marker.value)}" y2="${top + height}" stroke="#000" stroke-dasharray="6,4"/>`);
      parts.push(`<text x="${sx(marker.value) + 4}" y="${top + 12}" font-size="11">${escape(marker.label)}</text>`);
    }
    for (const s of series) {
      const points = cdfPoints(s.values, 300);
      // A step function: each sample raises the curve at its value.
      let d = `M ${sx(points[0]?.value ?? min).toFixed(1)} ${sy(0).toFixed(1)}`;
      let previous = 0;
      for (const p of points) {
        d += ` L ${sx(p.value).toFixed(1)} ${sy(previous).toFixed(1)} L ${sx(p.value).toFixed(1)} ${sy(p.fraction).toFixed(1)}`;
        previous = p.fraction;
      }
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="7,3"' : ''}/>`);
    }
    parts.push(
      `<text x="${margin.left + plotWidth / 2}" y="${top + height + 34}" text-anchor="middle" font-size="12">latency from the chunk being queued (log scale); share of chunks at or below</text>`,
    );
    y = top + height + 50;
    // Legend, two columns.
    series.forEach((s, i) => {
      const lx = margin.left + (i % 2) * (plotWidth / 2);
      const ly = y + Math.floor(i / 2) * 18;
      parts.push(
        `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 28}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="7,3"' : ''}/>`,
      );
      parts.push(`<text x="${lx + 34}" y="${ly}" font-size="12">${escape(s.label)} (n=${s.values.length})</text>`);
    });
    y += Math.ceil(series.length / 2) * 18 + 20;
  }

  if (spec.bars !== undefined && spec.bars.items.length > 0) {
    const items = spec.bars.items.filter((b) => Number.isFinite(b.value) && b.value > 0);
    const labelWidth = 260;
    const left = margin.left + labelWidth - 70;
    const barsWidth = width - left - margin.right - 60;
    const min = 10 ** Math.floor(Math.log10(Math.min(...items.map((b) => b.value), ...spec.bars.markers.map((m) => m.value))));
    const max = 10 ** Math.ceil(Math.log10(Math.max(...items.map((b) => b.value), ...spec.bars.markers.map((m) => m.value))));
    const sx = (v: number) => left + ((Math.log10(v) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))) * barsWidth;
    parts.push(`<text x="${margin.left}" y="${y + 10}" font-size="14" font-weight="bold">${escape(spec.bars.title)}</text>`);
    const top = y + 24;
    const rowHeight = 22;
    const height = items.length * rowHeight;
    for (const tick of logTicks(min, max)) {
      parts.push(`<line x1="${sx(tick)}" y1="${top}" x2="${sx(tick)}" y2="${top + height}" stroke="#e5e5e5"/>`);
      parts.push(`<text x="${sx(tick)}" y="${top + height + 16}" text-anchor="middle" font-size="11">${tickLabel(tick, '')}</text>`);
    }
    items.forEach((bar, i) => {
      const by = top + i * rowHeight;
      parts.push(`<text x="${left - 8}" y="${by + 15}" text-anchor="end" font-size="12">${escape(bar.label)}</text>`);
      parts.push(`<rect x="${left}" y="${by + 3}" width="${Math.max(1, sx(bar.value) - left).toFixed(1)}" height="${rowHeight - 6}" fill="${bar.color}"/>`);
      parts.push(
        `<text x="${(sx(bar.value) + 4).toFixed(1)}" y="${by + 15}" font-size="11">${bar.value >= 100 ? bar.value.toFixed(0) : bar.value.toFixed(1)}</text>`,
      );
    });
    for (const marker of spec.bars.markers) {
      parts.push(`<line x1="${sx(marker.value)}" y1="${top - 6}" x2="${sx(marker.value)}" y2="${top + height}" stroke="#000" stroke-dasharray="6,4"/>`);
      parts.push(`<text x="${sx(marker.value) + 4}" y="${top - 8}" font-size="11">${escape(marker.label)}</text>`);
    }
    parts.push(`<text x="${left + barsWidth / 2}" y="${top + height + 34}" text-anchor="middle" font-size="12">${escape(spec.bars.unit)} (log scale)</text>`);
    y = top + height + 50;
  }

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${y}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
