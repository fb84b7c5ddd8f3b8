import { getTestServer } from '@google-cloud/functions-framework/testing';
import { FUNCTION_NAME } from './index.js';

// Runs the function locally through functions-framework's own server, bound to HOST (default
// 127.0.0.1) rather than every interface as the `functions-framework` command does. Cloud
// Functions and the container image use the `functions-framework --target=describeChunk` command.

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 8080);
const server = getTestServer(FUNCTION_NAME);
server.listen(port, host, () => {
  process.stdout.write(
    `${JSON.stringify({ severity: 'INFO', service: 'cloud-function', message: 'function listening', url: `http://${host}:${port}`, target: FUNCTION_NAME })}\n`,
  );
});
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
