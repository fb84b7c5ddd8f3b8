// npm run bench:inspect — how long stream-handle's MP4 inspector takes on one real 3 s 720p30
// chunk, against spawning ffprobe for the same facts. Prints the figures; asserts nothing.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { inspectMp4Buffer, inspectMp4File } from '@crispy-streamer/shared';

const run = promisify(execFile);

async function meanMs(times: number, action: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < times; i++) await action();
  return (performance.now() - started) / times;
}

const dir = await mkdtemp(join(tmpdir(), 'inspect-speed-'));
try {
  // 9 s of 720p30 with a 1 s GOP, cut into 3 s chunks exactly as stream-handle cuts them.
  await run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=1280x720:rate=30',
    '-t',
    '9',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-g',
    '30',
    '-pix_fmt',
    'yuv420p',
    '-f',
    'segment',
    '-segment_time',
    '3',
    '-reset_timestamps',
    '1',
    '-segment_format',
    'mp4',
    join(dir, 'seg%03d.mp4'),
  ]);
  const file = join(dir, (await readdir(dir)).sort()[1] ?? 'seg001.mp4');
  const bytes = await readFile(file);
  await meanMs(50, () => inspectMp4File(file)); // warm the JIT and the page cache
  const fileMs = await meanMs(500, () => inspectMp4File(file));
  const bufferMs = await meanMs(2000, () => inspectMp4Buffer(bytes));
  const probeMs = await meanMs(10, () =>
    run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height,nb_frames,duration', '-of', 'json', file]),
  );
  console.log(`one 3 s 720p30 chunk, ${bytes.byteLength} bytes, mean of many runs:`);
  console.log(`  inspectMp4File (read + parse)  ${(fileMs * 1000).toFixed(0)} µs`);
  console.log(`  inspectMp4Buffer (parse only)  ${(bufferMs * 1000).toFixed(1)} µs`);
  console.log(`  ffprobe spawn                  ${probeMs.toFixed(1)} ms (${(probeMs / fileMs).toFixed(0)}x the inspector)`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
