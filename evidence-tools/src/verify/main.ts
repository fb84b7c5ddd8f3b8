#!/usr/bin/env node
// `verify`: checks a source's chunks in a bucket against their evidence records.
// Dev: node --conditions=source --import tsx evidence-tools/src/verify/main.ts --help
import { runVerifyCommand } from './cli.js';

process.exitCode = await runVerifyCommand(process.argv.slice(2), process.env, {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
