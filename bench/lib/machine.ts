import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  ffmpeg: string;
  node: string;
  redis: string;
  gstreamer: string;
}

function firstLine(command: string, args: string[]): string {
  try {
    return (
      execFileSync(command, args, { stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .split('\n')[0]
        ?.trim() ?? ''
    );
  } catch {
    return 'not installed';
  }
}

export function machineInfo(): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
  } catch {
    // not Linux
  }
  return {
    nproc: Number(firstLine('nproc', [])) || cpus().length,
    cpuModel,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    ffmpeg: firstLine('ffmpeg', ['-hide_banner', '-version']).replace(/ Copyright.*$/, ''),
    node: process.version,
    redis: firstLine('redis-server', ['--version']),
    gstreamer: firstLine('gst-launch-1.0', ['--version']),
  };
}
