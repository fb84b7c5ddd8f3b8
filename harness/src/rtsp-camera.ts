import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { runCommandOrThrow, spawnChild, type Child } from './child-process.js';
import { freePort } from './free-port.js';
import { FFPROBE_BIN } from './sample-video.js';

export interface RtspCamera {
  port: number;
  mounts: readonly string[];
  /** rtsp://[user:pass@]127.0.0.1:PORT/mount; mount defaults to 'cam0'. */
  url(mount?: string): string;
  /** Pid of the current server process (changes on restart). */
  readonly pid: number;
  /** SIGTERM, then SIGKILL after a grace period. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL: clients see their TCP connections reset at once. */
  kill(): Promise<void>;
  /** SIGSTOP: connections stay open and silent, like a hung camera. */
  freeze(): void;
  /** SIGCONT after freeze(). */
  thaw(): void;
  /** Stops the server if it still runs, then starts it again on the same port. */
  restart(): Promise<void>;
  /**
   * Starts the server again after kill() or stop(), on the same port, and resolves with the
   * moment (epoch ms) it was serving again: its RTSP port accepted connections.
   */
  start(): Promise<number>;
  /** The current server's output lines so far (DROPPED ..., SIZE_CHANGED ...). */
  readonly output: readonly string[];
  /** Resolves with the first line of the camera's output that matches (SIZE_CHANGED ...). */
  waitForLine(matches: (line: string) => boolean, timeoutMs: number, what: string): Promise<string>;
}

/** The RTP transport a camera is limited to, as gst-rtsp-server's media factory restricts it. */
export type CameraProtocols = 'any' | 'tcp' | 'udp' | 'udp_multicast' | 'http';

export interface RtspCameraOptions {
  /** Default ['cam0']. */
  mounts?: string[];
  /** Encoded size; ignored with sourceFile. Default 1280x720. */
  width?: number;
  height?: number;
  /** Default 30; ignored with sourceFile. */
  fps?: number;
  /** Frames between keyframes; default 2 s worth; ignored with sourceFile. */
  gopFrames?: number;
  /** Require RTSP Basic auth with these; anything else gets 401 Unauthorized. */
  credentials?: { user: string; password: string };
  /** Serve this pre-encoded mp4 (H.264 or H.265) in an endless loop instead of encoding. */
  sourceFile?: string;
  /** The codec the test pattern is encoded with (x264enc or x265enc). Default h264. */
  codec?: 'h264' | 'h265';
  /** Offer only this transport: a SETUP asking another is answered 461 Unsupported transport. Default any. */
  protocols?: CameraProtocols;
  /** An audio track beside the video (G.711 mu-law/A-law at 8 kHz, AAC, Opus). Default none. */
  audio?: 'none' | 'pcmu' | 'pcma' | 'aac' | 'opus';
  /** How credentials are asked for. Default basic. */
  auth?: 'basic' | 'digest';
  /** Change the picture size this long after the camera is ready, with clients connected. */
  changeSize?: { afterSeconds: number; width: number; height: number };
  /** Drop one video RTP packet in this many. */
  dropEvery?: number;
  /** Run inside this network namespace (`ip netns exec`), listening on `address`. */
  netns?: string;
  /** The address to listen on. Default 127.0.0.1. */
  address?: string;
  /**
   * Run the camera's clock off the host's (libfaketime, `DONT_FAKE_MONOTONIC=1`): a file whose
   * content is a faketime offset such as `+3600` or `-3` (seconds), read again every second, so
   * a test can step the camera's clock mid-recording by rewriting it.
   */
  clockOffsetFile?: string;
  /** Send no RTCP (so no Sender Reports, the camera's only way to tell its time). */
  noRtcp?: boolean;
}

/** The system interpreter: it has python3-gi, which pyenv interpreters usually lack. */
export const RTSP_CAMERA_PYTHON = process.env.RTSP_CAMERA_PYTHON ?? '/usr/bin/python3';
export const RTSP_CAMERA_SCRIPT = fileURLToPath(new URL('./rtsp-camera.py', import.meta.url));

const DEBIAN_PACKAGES =
  'python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly';
const MISSING_BINDINGS_EXIT_CODE = 3;
/** Debian's libfaketime (package faketime), the multi-threaded variant: GStreamer runs threads. */
export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
const READY_TIMEOUT_MS = 20_000;

function missingBindingsError(detail: string): Error {
  return new Error(
    `The fake RTSP camera needs GStreamer's RTSP server and its Python bindings for ${RTSP_CAMERA_PYTHON} (${detail}). ` +
      `On Debian/Ubuntu: sudo apt-get install ${DEBIAN_PACKAGES}`,
  );
}

/** True when the camera can run here; lets a test file skip with a clear reason. */
export function rtspCameraAvailable(): boolean {
  if (!existsSync(RTSP_CAMERA_PYTHON)) return false;
  const probe = spawnSync(
    RTSP_CAMERA_PYTHON,
    ['-c', "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"],
    { stdio: 'ignore', timeout: 10_000 },
  );
  return probe.status === 0;
}

export async function startRtspCamera(options: RtspCameraOptions = {}): Promise<RtspCamera> {
  if (!existsSync(RTSP_CAMERA_PYTHON)) throw missingBindingsError(`${RTSP_CAMERA_PYTHON} does not exist`);
  const mounts = options.mounts ?? ['cam0'];
  if (mounts.length === 0) throw new Error('a camera needs at least one mount');
  for (const mount of mounts) {
    if (!/^[A-Za-z0-9._-]+$/.test(mount)) throw new Error(`mount names are single path segments, not ${JSON.stringify(mount)}`);
  }
  const fps = options.fps ?? 30;
  const scriptArgs = [
    '--width',
    String(options.width ?? 1280),
    '--height',
    String(options.height ?? 720),
    '--fps',
    String(fps),
    '--gop',
    String(options.gopFrames ?? fps * 2),
    ...mounts.flatMap((mount) => ['--mount', mount]),
  ];
  if (options.credentials !== undefined) {
    scriptArgs.push('--user', options.credentials.user, '--password', options.credentials.password);
  }
  if (options.sourceFile !== undefined) {
    scriptArgs.push('--file', options.sourceFile, '--codec', await probeCodec(options.sourceFile));
  } else if (options.codec !== undefined) {
    scriptArgs.push('--codec', options.codec);
  }
  const address = options.address ?? '127.0.0.1';
  scriptArgs.push('--address', address, '--protocols', options.protocols ?? 'any', '--audio', options.audio ?? 'none', '--auth', options.auth ?? 'basic');
  if (options.changeSize !== undefined)
    scriptArgs.push(
      '--change-size-after',
      String(options.changeSize.afterSeconds),
      '--change-size',
      `${options.changeSize.width}x${options.changeSize.height}`,
    );
  if (options.dropEvery !== undefined) scriptArgs.push('--drop-every', String(options.dropEvery));
  if (options.noRtcp === true) scriptArgs.push('--no-rtcp');
  const launchOptions = { netns: options.netns, clockOffsetFile: options.clockOffsetFile };

  let port = await freePort();
  let child: Child | undefined;
  // freePort() cannot reserve the port: someone may take it before the camera binds it.
  for (let attempt = 1; child === undefined; attempt += 1) {
    try {
      child = await launch(port, scriptArgs, launchOptions);
    } catch (error) {
      if (attempt >= 3 || !String(error).includes('cannot listen')) throw error;
      port = await freePort();
    }
  }
  let current: Child = child;

  const credentialsPart =
    options.credentials === undefined ? '' : `${encodeURIComponent(options.credentials.user)}:${encodeURIComponent(options.credentials.password)}@`;
  return {
    port,
    mounts,
    url: (mount = 'cam0') => `rtsp://${credentialsPart}${address}:${port}/${mount}`,
    get pid() {
      return current.pid;
    },
    async stop() {
      await current.stop(3_000);
    },
    async kill() {
      await current.kill();
    },
    freeze() {
      current.signal('SIGSTOP');
    },
    thaw() {
      current.signal('SIGCONT');
    },
    async restart() {
      await current.stop(3_000);
      current = await launch(port, scriptArgs, launchOptions);
    },
    async start() {
      if (current.exitStatus === null) throw new Error('the camera is still running: kill() or stop() it first');
      let servingAtMs = 0;
      current = await launch(port, scriptArgs, { ...launchOptions, onServing: (atMs) => (servingAtMs = atMs) });
      return servingAtMs;
    },
    get output() {
      return current.lines;
    },
    waitForLine(matches, timeoutMs, what) {
      return current.waitForLine(matches, timeoutMs, what);
    },
  };
}

interface LaunchOptions {
  netns?: string | undefined;
  clockOffsetFile?: string | undefined;
  /** Called once, with the moment the server's port first accepted a connection. */
  onServing?: (atMs: number) => void;
}

/** Polls the camera's port until it accepts a TCP connection; the moment it does. */
async function watchServing(host: string, port: number, onServing: (atMs: number) => void, until: Promise<unknown>): Promise<void> {
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (accepted) {
      onServing(Date.now());
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function launch(port: number, scriptArgs: readonly string[], options: LaunchOptions = {}): Promise<Child> {
  if (options.clockOffsetFile !== undefined && !existsSync(LIBFAKETIME))
    throw new Error(`a camera with its own clock needs libfaketime (${LIBFAKETIME}): sudo apt-get install faketime`);
  const command = options.netns === undefined ? [RTSP_CAMERA_PYTHON] : ['ip', 'netns', 'exec', options.netns, RTSP_CAMERA_PYTHON];
  // libfaketime, preloaded as the faketime wrapper does (the wrapper's own FAKETIME would win over
  // the file): the realtime clock only (faking the monotonic one too stops GStreamer serving),
  // offset by what the file says, looked at again every second.
  const clockEnv =
    options.clockOffsetFile === undefined
      ? {}
      : { LD_PRELOAD: LIBFAKETIME, DONT_FAKE_MONOTONIC: '1', FAKETIME_TIMESTAMP_FILE: options.clockOffsetFile, FAKETIME_CACHE_DURATION: '1' };
  const child = spawnChild(
    command[0] ?? RTSP_CAMERA_PYTHON,
    [...command.slice(1), RTSP_CAMERA_SCRIPT, '--port', String(port), '--exit-on-stdin-eof', ...scriptArgs],
    {
      name: `rtsp-camera:${port}`,
      // GStreamer's own warnings are still printed; the registry cache is shared and fine.
      env: { ...process.env, PYTHONUNBUFFERED: '1', ...clockEnv },
    },
  );
  const ready = child.waitForLine((line) => line.startsWith('READY '), READY_TIMEOUT_MS, 'READY');
  const address = scriptArgs[scriptArgs.indexOf('--address') + 1] ?? '127.0.0.1';
  const serving =
    options.onServing === undefined
      ? Promise.resolve()
      : watchServing(
          address,
          port,
          options.onServing,
          ready.catch(() => undefined),
        );
  try {
    await ready;
    await serving;
  } catch (error) {
    await child.kill();
    if (child.exitStatus?.code === MISSING_BINDINGS_EXIT_CODE) {
      const detail = child.lines.find((line) => line.startsWith('MISSING_BINDINGS')) ?? 'import failed';
      throw missingBindingsError(detail.replace(/^MISSING_BINDINGS\s*/, ''));
    }
    throw error;
  }
  return child;
}

async function probeCodec(path: string): Promise<'h264' | 'h265'> {
  const { stdout } = await runCommandOrThrow(
    FFPROBE_BIN,
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', path],
    { timeoutMs: 30_000 },
  );
  const codec = stdout.trim();
  if (codec === 'h264') return 'h264';
  if (codec === 'hevc') return 'h265';
  throw new Error(`the camera can only serve H.264 or H.265 files, and ${path} holds ${JSON.stringify(codec)}`);
}
