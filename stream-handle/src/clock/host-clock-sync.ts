import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { ClockSync } from '@crispy-streamer/shared';

const run = promisify(execFile);

/** `timedatectl show --property=NTPSynchronized --value` prints yes or no. */
export function parseTimedatectl(output: string): ClockSync | undefined {
  const value = output.trim();
  if (value === 'yes') return 'synchronised';
  if (value === 'no') return 'unsynchronised';
  return undefined;
}

/** `chronyc -n tracking`: "Leap status : Normal" once synchronised. */
export function parseChronyTracking(output: string): ClockSync | undefined {
  const leap = /Leap status\s*:\s*(.+)/.exec(output)?.[1]?.trim();
  if (leap === undefined) return undefined;
  return leap === 'Not synchronised' ? 'unsynchronised' : 'synchronised';
}

/**
 * Whether this node's clock is kept by NTP, asked of whatever keeps it here (systemd-timesyncd,
 * chrony); `unknown` where neither answers (containers usually inherit the host's clock).
 */
export async function probeHostClockSync(): Promise<ClockSync> {
  const attempts: [string, string[], (output: string) => ClockSync | undefined][] = [
    ['timedatectl', ['show', '--property=NTPSynchronized', '--value'], parseTimedatectl],
    ['chronyc', ['-n', 'tracking'], parseChronyTracking],
  ];
  for (const [command, args, parse] of attempts) {
    try {
      const { stdout } = await run(command, args, { timeout: 3000 });
      const answer = parse(stdout);
      if (answer !== undefined) return answer;
    } catch {
      // Not installed or not running here: ask the next one.
    }
  }
  return access('/run/systemd/timesync/synchronized').then(
    () => 'synchronised',
    () => 'unknown',
  );
}
