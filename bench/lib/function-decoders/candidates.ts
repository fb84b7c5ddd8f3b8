// The frame decoders measured by `npm run bench:function`. Each candidate is the function's whole
// per-chunk path for that decoder: read the chunk through its URL, decode the first frame, measure
// it. `load` does the imports, so a fresh process's first call shows the cold start.
/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access,
   @typescript-eslint/consistent-type-imports -- the in-process candidates are optional packages the bench installs into
   bench/.cache at run time: there are no types to import, and their APIs are used as documented. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '@crispy-streamer/harness/service-process';

export interface FrameResult {
  width: number;
  height: number;
  channels: number;
  pixelFormat: string | undefined;
}
export type DescribeFrame = (url: string, size: number) => Promise<FrameResult>;

export interface Candidate {
  name: string;
  /** What it runs, in a few words, for the table. */
  what: string;
  load(): Promise<DescribeFrame>;
}

export const CANDIDATES_DIR = join(REPO_ROOT, 'bench/.cache/decoder-candidates');
export const STATIC_FFMPEG = (createRequire(join(REPO_ROOT, 'cloud-function/package.json'))('@ffmpeg-installer/ffmpeg') as { path: string }).path;
export const DEBIAN_FFMPEG = '/usr/bin/ffmpeg';

// The function as compiled by `tsc -b`, the way Cloud Functions runs it.
const dist = (path: string) => pathToFileURL(join(REPO_ROOT, 'cloud-function/dist', path)).href;
type ObjectReaderModule = typeof import('../../../cloud-function/src/object-reader.js');
type ReadChunkModule = typeof import('../../../cloud-function/src/decoder-input/read-chunk.js');
type FrameProbeModule = typeof import('../../../cloud-function/src/frame-probe.js');
type FrameDecoderModule = typeof import('../../../cloud-function/src/frame-decoder.js');

async function functionModules() {
  const [reader, chunk, probe, decoder, shared] = await Promise.all([
    import(dist('object-reader.js')) as Promise<ObjectReaderModule>,
    import(dist('decoder-input/read-chunk.js')) as Promise<ReadChunkModule>,
    import(dist('frame-probe.js')) as Promise<FrameProbeModule>,
    import(dist('frame-decoder.js')) as Promise<FrameDecoderModule>,
    import('@crispy-streamer/shared'),
  ]);
  const rangeReader = (url: string, size: number) => reader.cachingRangeReader(reader.httpRangeReader(url, 30_000), size);
  return { reader, chunk, probe, decoder, shared, rangeReader };
}

/** Runs an ffmpeg that writes one PNG to stdout; returns it with the stderr text. */
function ffmpegPng(
  ffmpeg: string,
  args: string[],
  stdin?: Uint8Array,
  acceptFailureWithFrame = false,
  pngPath?: string,
): Promise<{ png: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, args, { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-32_000)));
    child.stdin?.on('error', () => {});
    child.stdin?.end(stdin);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const png = Buffer.concat(out);
      const wrote = png.byteLength > 0 || (pngPath !== undefined && existsSync(pngPath));
      if (code !== 0 && !(acceptFailureWithFrame && wrote)) reject(new Error(`ffmpeg exit ${code ?? signal}: ${stderr.slice(-300)}`));
      else resolve({ png, stderr });
    });
  });
}

const PNG_OUT = ['-map', '0:v:0', '-frames:v', '1', '-an', '-c:v', 'png', '-compression_level', '0', '-f', 'image2pipe', 'pipe:1'];

/** The function's own path: the MP4 reader, Annex B on a pipe, the PNG measured by sharp. */
function annexBCandidate(name: string, ffmpeg: string, what: string): Candidate {
  return {
    name,
    what,
    async load() {
      const m = await functionModules();
      return async (url, size) => {
        const readout = await m.chunk.readChunk(m.rangeReader(url, size), size);
        return m.probe.probeFirstFrame(ffmpeg, readout.input, 30_000);
      };
    },
  };
}

/**
 * The other input builder considered: ftyp, an mdat header, the keyframe and the moov at their
 * original offsets in a sparse file in the temp dir (RAM on Cloud Functions), read by ffmpeg's
 * mp4 demuxer with only the file protocol allowed.
 */
function sparseMp4Candidate(name: string, ffmpeg: string, what: string): Candidate {
  return {
    name,
    what,
    async load() {
      const m = await functionModules();
      let n = 0;
      return async (url, size) => {
        const read = m.rangeReader(url, size);
        const layout = await m.shared.readMp4Layout(read, size);
        const key = layout.firstSyncSample;
        const sample = await read(key.offset, key.size);
        const path = join(tmpdir(), `bench-sparse-${process.pid}-${n++}.mp4`);
        const file = await open(path, 'w');
        try {
          const mdatHeader = Buffer.alloc(8);
          mdatHeader.writeUInt32BE(layout.moov.offset - layout.ftyp.size);
          mdatHeader.write('mdat', 4);
          await file.write(layout.ftyp.bytes, 0, layout.ftyp.size, 0);
          await file.write(mdatHeader, 0, 8, layout.ftyp.size);
          await file.write(sample, 0, sample.byteLength, key.offset);
          await file.write(layout.moov.bytes, 0, layout.moov.size, layout.moov.offset);
          await file.close();
          // ffmpeg goes on to the zero-filled samples after the keyframe and exits 69 ("Conversion
          // failed!") after writing the frame: accepted here only to measure what this input costs.
          // The same output as the function's: an uncompressed PNG file that sharp reads the header of.
          const pngPath = `${path}.png`;
          const chosen = m.decoder.decoderArgs({ format: 'h264' }, pngPath);
          const { stderr } = await ffmpegPng(
            ffmpeg,
            ['-hide_banner', '-nostdin', '-protocol_whitelist', 'file', '-threads', '1', '-f', 'mp4', '-i', path, ...chosen.slice(chosen.indexOf('-map'))],
            undefined,
            true,
            pngPath,
          );
          return { ...(await m.probe.measurePng(pngPath)), pixelFormat: m.decoder.parsePixelFormat(stderr) };
        } finally {
          await file.close().catch(() => {});
          await rm(path, { force: true });
          await rm(`${path}.png`, { force: true });
        }
      };
    },
  };
}

/** Before this change: ffmpeg opened the URL itself (here an IP: the static build crashes on a name) beside the moov range reads. */
const urlBefore: Candidate = {
  name: 'before: static ffmpeg -i URL',
  what: 'the function before: ffmpeg reads the object by URL (range requests), moov read beside it',
  async load() {
    const m = await functionModules();
    return async (url, size) => {
      const [{ png, stderr }] = await Promise.all([
        ffmpegPng(STATIC_FFMPEG, ['-hide_banner', '-nostdin', '-probesize', '32768', '-i', url, ...PNG_OUT]),
        m.shared.inspectMp4(m.reader.httpRangeReader(url, 30_000), size),
      ]);
      return { ...(await m.probe.measurePng(png)), pixelFormat: m.decoder.parsePixelFormat(stderr) };
    };
  },
};

// --- in-process candidates, installed into bench/.cache/decoder-candidates by the bench --------

/** The channels ffmpeg's PNG encoder would keep for a decoded pixel format: grey, grey+alpha, colour, colour+alpha. */
export function channelsOf(pixelFormat: string): number {
  if (/^ya/.test(pixelFormat)) return 2;
  if (/^gray/.test(pixelFormat)) return 1;
  if (/^(yuva|rgba|bgra|argb|abgr|gbrap)/.test(pixelFormat)) return 4;
  return 3;
}

/** node-av: FFmpeg's libraries as a native addon (prebuilt, statically linked). */
const nodeAv: Candidate = {
  name: 'node-av 6.1.1 (in process)',
  what: "FFmpeg's h264 decoder in the node process: avcC as extradata, the keyframe as one packet",
  async load() {
    const m = await functionModules();
    const lib = (await import(pathToFileURL(join(CANDIDATES_DIR, 'node_modules/node-av/dist/lib/index.js')).href)) as Record<string, unknown>;
    const constants = (await import(pathToFileURL(join(CANDIDATES_DIR, 'node_modules/node-av/dist/constants/index.js')).href)) as Record<string, number>;
    /* eslint-disable @typescript-eslint/no-explicit-any -- an optional package without our types */
    const { Codec, CodecContext, Packet, Frame, avGetPixFmtName } = lib as any;
    return async (url, size) => {
      const read = m.rangeReader(url, size);
      const layout = await m.shared.readMp4Layout(read, size);
      const key = layout.firstSyncSample;
      const sample = await read(key.offset, key.size);
      const codecId = layout.codecConfig?.type === 'hvcC' ? constants.AV_CODEC_ID_HEVC : constants.AV_CODEC_ID_H264;
      const codec = Codec.findDecoder(codecId);
      const context = new CodecContext();
      context.allocContext3(codec);
      context.extraData = Buffer.from(layout.codecConfig?.bytes ?? []);
      context.threadCount = 1;
      if ((await context.open2(codec, null)) < 0) throw new Error('node-av: could not open the decoder');
      const packet = new Packet();
      packet.alloc();
      packet.data = Buffer.from(sample);
      const frame = new Frame();
      frame.alloc();
      try {
        await context.sendPacket(packet);
        await context.sendPacket(null);
        if ((await context.receiveFrame(frame)) < 0) throw new Error('node-av: no frame');
        const pixelFormat = avGetPixFmtName(frame.format) as string | null;
        // No PNG here: channels from the pixel format, as ffmpeg's PNG encoder would choose them.
        const channels = channelsOf(pixelFormat ?? '');
        return { width: frame.width as number, height: frame.height as number, channels, pixelFormat: pixelFormat ?? undefined };
      } finally {
        frame.free();
        packet.free();
        context.freeContext();
      }
    };
    /* eslint-enable @typescript-eslint/no-explicit-any */
  },
};

/** ffmpeg.wasm's core: the whole ffmpeg compiled to WebAssembly, run in the node process. */
const ffmpegWasm: Candidate = {
  name: '@ffmpeg/core 0.12.10 (WASM)',
  what: 'ffmpeg 5.1 as WebAssembly in the node process, the same Annex B input in its memory file system',
  async load() {
    const m = await functionModules();
    const dir = join(CANDIDATES_DIR, 'node_modules/@ffmpeg/core/dist/esm');
    // Built for browsers and workers only; a `self` is all its loader needs to run in node.
    (globalThis as { self?: unknown }).self = { location: { href: pathToFileURL(`${dir}/`).href } };
    const stderr: string[] = [];
    const { default: createCore } = (await import(pathToFileURL(join(dir, 'ffmpeg-core.js')).href)) as { default: (options: object) => Promise<any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
    const core = await createCore({ wasmBinary: readFileSync(join(dir, 'ffmpeg-core.wasm')) });
    core.setLogger(({ message }: { message: string }) => stderr.push(message));
    return async (url, size) => {
      const readout = await m.chunk.readChunk(m.rangeReader(url, size), size);
      stderr.length = 0;
      core.FS.writeFile('/in', readout.input.bytes);
      core.reset();
      const code = core.exec(
        '-hide_banner',
        '-protocol_whitelist',
        'file',
        '-f',
        readout.input.format,
        '-i',
        '/in',
        '-frames:v',
        '1',
        '-an',
        '-c:v',
        'png',
        '-compression_level',
        '0',
        '-f',
        'image2',
        '-y',
        '/out.png',
      );
      if (code !== 0) throw new Error(`ffmpeg.wasm exit ${code}: ${stderr.slice(-3).join(' | ')}`);
      const png = Buffer.from(core.FS.readFile('/out.png') as Uint8Array);
      return { ...(await m.probe.measurePng(png)), pixelFormat: m.decoder.parsePixelFormat(stderr.join('\n')) };
    };
  },
};

export const CANDIDATES: readonly Candidate[] = [
  annexBCandidate('static ffmpeg, Annex B on a pipe (chosen)', STATIC_FFMPEG, 'the @ffmpeg-installer 2018 static ffmpeg, -f h264 -protocol_whitelist pipe'),
  annexBCandidate("Debian's ffmpeg 5.1, Annex B on a pipe", DEBIAN_FFMPEG, "Debian's dynamically linked ffmpeg 5.1, the same input"),
  sparseMp4Candidate(
    'static ffmpeg, sparse MP4 file',
    STATIC_FFMPEG,
    'ftyp + mdat header + keyframe + moov at their offsets in a temp file, -f mp4 -protocol_whitelist file',
  ),
  sparseMp4Candidate("Debian's ffmpeg 5.1, sparse MP4 file", DEBIAN_FFMPEG, 'the same sparse file'),
  urlBefore,
  nodeAv,
  ffmpegWasm,
];
