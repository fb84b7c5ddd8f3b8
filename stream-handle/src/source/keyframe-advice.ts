// Copy mode cuts where the source put its keyframes; this says so when that cannot give the length asked for.

/**
 * What to tell a user whose source's keyframe interval (`gop` seconds) does not divide the chunk
 * length asked for, or undefined when it does. Copy mode cuts at the first keyframe at or after
 * each multiple of chunkSeconds, so the chunks average chunkSeconds but each is whole GOPs.
 */
export function gopAdvice(gop: number, chunkSeconds: number, frameRate: number): string | undefined {
  if (gop <= 0) return undefined;
  const ratio = chunkSeconds / gop;
  if (Math.abs(ratio - Math.round(ratio)) < 0.02 && Math.round(ratio) >= 1) return undefined;
  // Intervals that divide chunkSeconds and are whole frames.
  const divisors = [1, 2, 3, 4, 5, 6, 10]
    .map((n) => chunkSeconds / n)
    .filter((s) => s >= 0.5 && (frameRate <= 0 ? Number.isInteger(s) : Math.abs(s * frameRate - Math.round(s * frameRate)) < 1e-6));
  const suggestion = divisors
    .slice(0, 3)
    .map((s) => `${s} s${frameRate > 0 ? ` (${Math.round(s * frameRate)} frames)` : ''}`)
    .join(' or ');
  const shape =
    gop > chunkSeconds
      ? `every chunk is one keyframe interval, ${gop.toFixed(1)} s`
      : `chunks are whole keyframe intervals, ${Math.floor(ratio) * gop} or ${Math.ceil(ratio) * gop} s long, ${chunkSeconds} s on average`;
  return `the source sends a keyframe every ${gop.toFixed(1)} s, which does not divide chunkSeconds ${chunkSeconds}: ${shape}. For ${chunkSeconds} s chunks, set its keyframe (I-frame, GOP) interval to ${suggestion}, or use mode: encode`;
}
