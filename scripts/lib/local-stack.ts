import { join } from 'node:path';
import { REPO_ROOT, nodeArgsForSource, spawnService, type ServiceProcess } from './service-process.js';

// Starts crispy-streamer's three services as separate processes, the way they run in production,
// for the demo command and the end-to-end tests.

/** The function through functions-framework, bound to 127.0.0.1 (see cloud-function/src/serve.ts). */
export function startFunctionService(options: { port: number; env: Record<string, string>; logFile?: string }): ServiceProcess {
  const args = nodeArgsForSource(join(REPO_ROOT, 'cloud-function/src/serve.ts'));
  return spawnService('cloud-function', args, { HOST: '127.0.0.1', PORT: String(options.port), ...options.env }, options.logFile);
}

export function startUploadWorker(options: { env: Record<string, string>; logFile?: string }): ServiceProcess {
  return spawnService('upload-worker', nodeArgsForSource(join(REPO_ROOT, 'upload-worker/src/main.ts')), options.env, options.logFile);
}

export function startStreamHandle(options: { env: Record<string, string>; args?: string[]; logFile?: string }): ServiceProcess {
  return spawnService('stream-handle', nodeArgsForSource(join(REPO_ROOT, 'stream-handle/src/main.ts'), options.args ?? []), options.env, options.logFile);
}

/** Polls until the URL answers at all. */
export async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
