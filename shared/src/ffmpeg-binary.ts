import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface FfmpegBinary {
  path: string;
  /** Where it came from, for the start-up log. */
  origin: 'FFMPEG_PATH' | 'PATH' | 'bundled';
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findOnPath(name: string, pathVariable = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathVariable.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The static ffmpeg shipped in the npm package @ffmpeg-installer/ffmpeg, if the caller's workspace
 * has it installed. `requireFrom` is the caller's `createRequire(import.meta.url)`: the package is
 * the caller's dependency, not this one's.
 */
export function bundledFfmpegPath(requireFrom: (id: string) => unknown): string | undefined {
  try {
    return (requireFrom('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  } catch {
    return undefined;
  }
}

/**
 * FFMPEG_PATH, else `ffmpeg` on PATH, else the binary bundled through npm (an old static build,
 * used where no system ffmpeg exists, such as Cloud Functions). With `prefer: 'bundled'` the
 * bundled binary comes before PATH: the function decodes one frame per call, and the static build
 * starts in a third of the time of a dynamically linked one (no shared libraries to load).
 */
export function resolveFfmpeg(
  env: Record<string, string | undefined>,
  bundledPath: () => string | undefined,
  prefer: 'path' | 'bundled' = 'path',
): FfmpegBinary {
  const configured = env.FFMPEG_PATH?.trim();
  if (configured) {
    if (!isExecutable(configured)) {
      throw new Error(`FFMPEG_PATH=${configured} is not an executable file: point it at ffmpeg, or unset it to use the one on PATH`);
    }
    return { path: configured, origin: 'FFMPEG_PATH' };
  }
  const fromPath = (): FfmpegBinary | undefined => {
    const onPath = findOnPath('ffmpeg', env.PATH);
    return onPath === undefined ? undefined : { path: onPath, origin: 'PATH' };
  };
  const fromBundle = (): FfmpegBinary | undefined => {
    const bundled = bundledPath();
    return bundled !== undefined && isExecutable(bundled) ? { path: bundled, origin: 'bundled' } : undefined;
  };
  const found = prefer === 'bundled' ? (fromBundle() ?? fromPath()) : (fromPath() ?? fromBundle());
  if (found !== undefined) return found;
  throw new Error('no ffmpeg found: install it (apt-get install ffmpeg), or set FFMPEG_PATH');
}

/** The major version, or undefined for builds that print a git revision instead. */
export function parseFfmpegMajorVersion(versionOutput: string): number | undefined {
  const match = /ffmpeg version n?(\d+)\.(\d+)/.exec(versionOutput);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

export async function ffmpegMajorVersion(path: string): Promise<number | undefined> {
  const { stdout } = await run(path, ['-hide_banner', '-version'], { timeout: 10_000 });
  return parseFfmpegMajorVersion(stdout);
}
