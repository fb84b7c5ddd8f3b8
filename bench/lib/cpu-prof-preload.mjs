// Loaded into a service with NODE_OPTIONS=--import (node refuses --cpu-prof in NODE_OPTIONS):
// samples the process with V8's profiler from start to exit and writes a .cpuprofile like
// `node --cpu-prof` would, into CPU_PROF_DIR.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.once('exit', () => {
    // The in-process session answers synchronously, so this completes before the process ends.
    session.post('Profiler.stop', (error, result) => {
      if (error || !result) return;
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
      writeFileSync(join(dir, `CPU.${stamp}.${process.pid}.0.001.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
