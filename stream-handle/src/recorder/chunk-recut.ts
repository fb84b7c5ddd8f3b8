import { spawn } from 'node:child_process';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChunkContainer } from '@crispy-streamer/shared';

// Makes chunks again from a chunk ffmpeg wrote, when its header does not describe its frames (the
// stream's parameters changed inside it): cut at the keyframe that brings the new parameters
// (the segment muxer cuts there, in decode order, as it cut the chunk), and give the part after
// it a header of its own. ffmpeg copies: not a bit of the frames changes.

const SEGMENT_FORMAT: Record<ChunkContainer, string> = { mp4: 'mp4', webm: 'webm', mkv: 'matroska' };

function run(ffmpegPath: string, args: string[], stdin?: NodeJS.ReadableStream): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpegPath, ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args], {
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (data: Buffer) => (stderr = (stderr + data.toString()).slice(-8000)));
    if (stdin !== undefined && child.stdin !== null) stdin.pipe(child.stdin);
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

async function check(what: string, result: Promise<{ code: number | null; stderr: string }>): Promise<void> {
  const { code, stderr } = await result;
  if (code !== 0) throw new Error(`${what} failed (ffmpeg exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
}

/**
 * Cuts `chunkPath` in two at the keyframe `atSeconds` into the chunk (the first keyframe at or
 * after it), writing `outBase-0.EXT` and `outBase-1.EXT`. Returns their paths.
 */
export async function splitChunk(
  ffmpegPath: string,
  chunkPath: string,
  container: ChunkContainer,
  atSeconds: number,
  outBase: string,
): Promise<[string, string]> {
  const extension = chunkPath.slice(chunkPath.lastIndexOf('.'));
  // A hair before the keyframe: its time is rounded to the time base.
  const cut = Math.max(0.0005, atSeconds - 0.0005).toFixed(6);
  await check(
    'splitting the chunk',
    run(ffmpegPath, [
      '-i',
      chunkPath,
      '-map',
      '0',
      '-c',
      'copy',
      '-f',
      'segment',
      '-segment_times',
      cut,
      '-segment_format',
      SEGMENT_FORMAT[container],
      '-reset_timestamps',
      '1',
      `${outBase}-%d${extension}`,
    ]),
  );
  const parts = [`${outBase}-0${extension}`, `${outBase}-1${extension}`] as [string, string];
  const written = await readdir(join(outBase, '..'));
  for (const part of parts) if (!written.includes(part.slice(part.lastIndexOf('/') + 1))) throw new Error(`splitting the chunk wrote no ${part}`);
  return parts;
}

/**
 * Writes the chunks `inputs` (one, or consecutive parts of one recording) as one chunk `outPath`
 * with a header made from its own first keyframe: the video goes through MPEG-TS, whose reader
 * takes the parameters from the stream itself, and the audio is copied from the inputs beside it.
 */
export async function reheadChunk(ffmpegPath: string, inputs: readonly string[], container: ChunkContainer, codec: string, outPath: string): Promise<void> {
  const first = inputs[0];
  if (first === undefined) throw new Error('nothing to re-head');
  let source: string[] = ['-i', first];
  if (inputs.length > 1) {
    // The concat demuxer lays the parts end to end on one timeline.
    const list = `${outPath}.list`;
    await writeFile(list, inputs.map((input) => `file '${input.replace(/'/g, "'\\''")}'\n`).join(''));
    source = ['-f', 'concat', '-safe', '0', '-i', list];
  }
  try {
    const demux = spawn(ffmpegPath, ['-hide_banner', '-nostdin', '-loglevel', 'error', ...source, '-map', '0:v:0', '-c', 'copy', '-f', 'mpegts', 'pipe:1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let demuxErr = '';
    demux.stderr.on('data', (data: Buffer) => (demuxErr = (demuxErr + data.toString()).slice(-8000)));
    const demuxed = new Promise<number | null>((resolve, reject) => {
      demux.once('error', reject);
      demux.once('close', resolve);
    });
    const tag = container === 'mp4' && codec === 'hevc' ? ['-tag:v', 'hvc1'] : [];
    const muxed = run(
      ffmpegPath,
      ['-f', 'mpegts', '-i', 'pipe:0', ...source, '-map', '0:v:0', '-map', '1:a?', '-c', 'copy', ...tag, '-f', SEGMENT_FORMAT[container], '-y', outPath],
      demux.stdout,
    );
    await check('re-heading the chunk', muxed);
    const code = await demuxed;
    if (code !== 0) throw new Error(`re-heading the chunk failed (ffmpeg exit ${code}): ${demuxErr.trim()}`);
  } finally {
    if (inputs.length > 1) await rm(`${outPath}.list`, { force: true });
  }
}
