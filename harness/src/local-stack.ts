import { join } from 'node:path';
import { REPO_ROOT, nodeArgsForSource, spawnService, type ServiceProcess } from './service-process.js';
import { errorMessage } from '@crispy-streamer/shared';

// Starts crispy-streamer's three services as separate processes, the way they run in production,
// for the demo command, the end-to-end tests and the benchmarks.

/**
 * Node arguments for a service's entry point: its TypeScript through tsx by default, or with
 * CRISPY_RUN_COMPILED=1 the JavaScript `tsc -b` wrote to dist/, as the images run it (the
 * benchmarks use this: compiling on the fly costs each process ~0.5 s of CPU at start).
 */
export function serviceEntryArgs(workspace: string, entry: string, args: string[] = []): string[] {
  if (process.env.CRISPY_RUN_COMPILED === '1') return [join(REPO_ROOT, workspace, 'dist', `${entry}.js`), ...args];
  return nodeArgsForSource(join(REPO_ROOT, workspace, 'src', `${entry}.ts`), args);
}

/** The function through functions-framework, bound to 127.0.0.1 (see cloud-function/src/serve.ts). */
export function startFunctionService(options: { port: number; env: Record<string, string>; logFile?: string }): ServiceProcess {
  const args = serviceEntryArgs('cloud-function', 'serve');
  return spawnService('cloud-function', args, { HOST: '127.0.0.1', PORT: String(options.port), ...options.env }, options.logFile);
}

export function startUploadWorker(options: { env: Record<string, string>; logFile?: string }): ServiceProcess {
  return spawnService('upload-worker', serviceEntryArgs('upload-worker', 'main'), options.env, options.logFile);
}

export function startStreamHandle(options: { env: Record<string, string>; args?: string[]; logFile?: string }): ServiceProcess {
  return spawnService('stream-handle', serviceEntryArgs('stream-handle', 'main', options.args ?? []), options.env, options.logFile);
}

/** Polls until the URL answers at all. */
export async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms: ${errorMessage(error)}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
