import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnChild, type Child } from './child-process.js';
import { freePort } from './free-port.js';
import { errorMessage } from '@crispy-streamer/shared';

export interface RedisServer {
  /** redis://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Working directory holding the AOF (and nothing else of anyone's). */
  dir: string;
  /** Pid of the current redis-server process. */
  readonly pid: number;
  /** SIGTERM (Redis flushes the AOF), then removes dir. Safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILL, as in a crash; dir stays for restart(). */
  kill(): Promise<void>;
  /** Stops Redis if it still runs, then starts it again on the same port and dir. */
  restart(): Promise<void>;
}

export interface RedisServerOptions {
  appendOnly?: boolean;
  port?: number;
  /** Clients must AUTH with this (requirepass); `url` then carries it. */
  password?: string;
}

const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const READY_TIMEOUT_MS = 15_000;

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'crispy-redis-'));
  const appendOnly = options.appendOnly ?? false;
  let port = options.port ?? (await freePort());
  let child: Child;
  try {
    // freePort() cannot reserve the port: someone may take it before Redis binds it.
    for (let attempt = 1; ; attempt += 1) {
      try {
        child = await launch(port, dir, appendOnly, options.password);
        break;
      } catch (error) {
        if (options.port !== undefined || attempt >= 3 || !String(error).includes('Address already in use')) throw error;
        port = await freePort();
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  let stopped = false;
  return {
    url: options.password === undefined ? `redis://127.0.0.1:${port}` : `redis://default:${encodeURIComponent(options.password)}@127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child.pid;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await child.stop();
      await rm(dir, { recursive: true, force: true });
    },
    async kill() {
      await child.kill();
    },
    async restart() {
      if (stopped) throw new Error('this Redis was stopped and its directory removed; start a new one');
      await child.stop();
      child = await launch(port, dir, appendOnly, options.password);
    },
  };
}

async function launch(port: number, dir: string, appendOnly: boolean, password: string | undefined): Promise<Child> {
  const child = spawnChild(
    REDIS_SERVER_BIN,
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      appendOnly ? 'yes' : 'no',
      '--maxmemory-policy',
      'noeviction',
      '--daemonize',
      'no',
      '--logfile',
      '',
      ...(password === undefined ? [] : ['--requirepass', password]),
    ],
    { name: `redis-server:${port}` },
  );
  try {
    await Promise.race([
      waitForPong(port, READY_TIMEOUT_MS, password !== undefined),
      child.exited.then((status) => {
        throw new Error(`redis-server on port ${port} exited with ${JSON.stringify(status)} before answering PING:\n${child.tail()}`);
      }),
    ]);
  } catch (error) {
    await child.kill();
    throw error;
  }
  return child;
}

/** Sends inline PINGs until one gets +PONG (a Redis loading its AOF answers -LOADING). */
async function waitForPong(port: number, timeoutMs: number, needsAuth = false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = 'no answer';
  while (Date.now() < deadline) {
    try {
      const reply = await ping(port, Math.max(100, deadline - Date.now()));
      // With a password, being asked for it is the answer of a Redis that is up.
      if (reply === '+PONG' || (needsAuth && reply.startsWith('-NOAUTH'))) return;
      lastProblem = `answered ${reply}`;
    } catch (error) {
      lastProblem = errorMessage(error);
    }
    await sleep(20);
  }
  throw new Error(`Redis on 127.0.0.1:${port} did not answer PING within ${timeoutMs} ms (${lastProblem})`);
}

function ping(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('PING timed out')));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
      const end = received.indexOf('\r\n');
      if (end >= 0) {
        socket.destroy();
        resolve(received.slice(0, end));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('connection closed without a reply')));
  });
}
