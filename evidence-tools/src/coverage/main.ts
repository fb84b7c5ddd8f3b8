#!/usr/bin/env node
// `coverage`: what a source recorded in a time range, from the bucket and the nodes' spools.
// Dev: node --conditions=source --import tsx evidence-tools/src/coverage/main.ts --help
import { runCoverageCommand } from './cli.js';

process.exitCode = await runCoverageCommand(process.argv.slice(2), process.env, {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
