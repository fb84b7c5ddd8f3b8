import type { Coverage, SegmentKind } from '@crispy-streamer/shared/coverage';

// The coverage as a picture: one bar for the range, coloured by what covers each moment, with a
// time axis in UTC and the longest gaps labelled with their exact times. Plain SVG, no library.

export const SEGMENT_COLORS: Readonly<Record<SegmentKind, string>> = { stored: '#2e9d5b', pending: '#e0a000', gap: '#d9342b', 'in-progress': '#8fd19e' };
const LABELS: Readonly<Record<SegmentKind, string>> = {
  stored: 'in the bucket',
  pending: 'recorded, not yet uploaded',
  gap: 'gap',
  'in-progress': 'recording now',
};
const TICK_STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800].map((s) => s * 1000);

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function tickLabel(ms: number, stepMs: number): string {
  const iso = new Date(ms).toISOString();
  if (stepMs >= 86_400_000) return iso.slice(0, 10);
  if (stepMs >= 60_000) return iso.slice(11, 16);
  return iso.slice(11, 19);
}

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export function coverageSvg(coverage: Coverage, title: string, width = 1200): string {
  const left = 20;
  const barWidth = width - 2 * left;
  const barTop = 62;
  const barHeight = 34;
  const span = Math.max(1, coverage.toMs - coverage.fromMs);
  const x = (ms: number) => left + ((ms - coverage.fromMs) / span) * barWidth;
  const out: string[] = [];
  const labelled = [...coverage.gaps]
    .sort((a, b) => b.durationMs - a.durationMs)
    .slice(0, 6)
    .sort((a, b) => a.fromMs - b.fromMs);
  const height = barTop + barHeight + 56 + labelled.length * 18 + 24;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif">`,
  );
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="24" font-size="16" font-weight="bold" fill="#1d2733">${escape(title)}</text>`);
  const pct = (ms: number) => `${((ms / span) * 100).toFixed(2)} %`;
  out.push(
    `<text x="${left}" y="44" font-size="12" fill="#4a5866">${escape(`${new Date(coverage.fromMs).toISOString()} to ${new Date(coverage.toMs).toISOString()}: in the bucket ${pct(coverage.storedMs)}, waiting upload ${pct(coverage.pendingMs)}, gaps ${pct(coverage.gapMs)} (${coverage.gaps.length}, longest ${formatSeconds(coverage.longestGapMs)})`)}</text>`,
  );
  out.push(`<rect x="${left}" y="${barTop}" width="${barWidth}" height="${barHeight}" fill="#e4e8ec"/>`);
  for (const segment of coverage.segments) {
    // At least one pixel: a one-second gap in a day is still drawn.
    const from = x(segment.fromMs);
    const w = Math.max(1, x(segment.toMs) - from);
    out.push(
      `<rect x="${from.toFixed(2)}" y="${barTop}" width="${w.toFixed(2)}" height="${barHeight}" fill="${SEGMENT_COLORS[segment.kind]}"><title>${escape(`${LABELS[segment.kind]}: ${new Date(segment.fromMs).toISOString()} to ${new Date(segment.toMs).toISOString()}`)}</title></rect>`,
    );
  }
  out.push(`<rect x="${left}" y="${barTop}" width="${barWidth}" height="${barHeight}" fill="none" stroke="#9aa6b2"/>`);
  const step = TICK_STEPS_MS.find((candidate) => span / candidate <= 10) ?? TICK_STEPS_MS[TICK_STEPS_MS.length - 1] ?? 86_400_000;
  for (let tick = Math.ceil(coverage.fromMs / step) * step; tick <= coverage.toMs; tick += step) {
    const tx = x(tick).toFixed(2);
    out.push(`<line x1="${tx}" x2="${tx}" y1="${barTop + barHeight}" y2="${barTop + barHeight + 5}" stroke="#687684"/>`);
    out.push(`<text x="${tx}" y="${barTop + barHeight + 18}" font-size="11" text-anchor="middle" fill="#4a5866">${tickLabel(tick, step)}</text>`);
  }
  let y = barTop + barHeight + 40;
  let lx = left;
  for (const kind of ['stored', 'pending', 'gap', 'in-progress'] as const) {
    out.push(
      `<rect x="${lx}" y="${y - 10}" width="12" height="10" fill="${SEGMENT_COLORS[kind]}"/><text x="${lx + 16}" y="${y}" font-size="11" fill="#4a5866">${LABELS[kind]}</text>`,
    );
    lx += 30 + LABELS[kind].length * 6.5;
  }
  y += 8;
  for (const gap of labelled) {
    y += 18;
    const where =
      gap.missingSequences === undefined
        ? gap.edge === 'start'
          ? 'no chunk before it'
          : gap.edge === 'end'
            ? 'nothing since'
            : 'not recorded'
        : `chunks ${gap.missingSequences.first}-${gap.missingSequences.last} missing`;
    out.push(
      `<text x="${left}" y="${y}" font-size="12" fill="#9d1c14">${escape(`gap ${new Date(gap.fromMs).toISOString()} to ${new Date(gap.toMs).toISOString()} (${formatSeconds(gap.durationMs)}, ${where})`)}</text>`,
    );
    const gx = x(gap.fromMs).toFixed(2);
    out.push(`<line x1="${gx}" x2="${gx}" y1="${barTop - 4}" y2="${barTop + barHeight + 4}" stroke="#9d1c14" stroke-width="1"/>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
