import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { runCommandOrThrow, spawnChild, type Child } from '@crispy-streamer/harness/child-process';

// A real IP link between this (the host's) network namespace and one made for the test: a TUN
// device on each side and a forwarder (impaired-link.py) that carries packets between them at a
// rate, with a delay and packet loss, since this kernel has no netem. Services on host loopback are
// exposed on the far side (`expose`): a client on the host that connects to farAddress:port goes
// across the link, through a relay inside the namespace, back to the service over a Unix socket.
// So the service keeps listening on 127.0.0.1, and only the traffic the test points at the far
// address crosses the impaired link. Blackouts take both devices down (`ip link set DEV down`);
// resets are the kernel's own (`ss -K`, SOCK_DESTROY), for sockets to the far address only.
// Needs root (network namespaces, TUN devices), iproute2, socat and python3.

export interface ImpairedLinkOptions {
  rateBitsPerSecond: number;
  /** one way; the round trip adds both */
  delayMs: number;
  /** share of packets dropped, each way, 0..1 */
  loss: number;
  /** bytes the link's queue holds before it drops (tail drop); default 256 KiB */
  queueBytes?: number;
  seed?: number;
}

export interface LinkDirectionStats {
  /** packets and IP bytes delivered (headers and retransmissions included: what crossed the wire) */
  packets: number;
  bytes: number;
  /** dropped by the loss setting */
  lost: number;
  /** dropped because the queue was full */
  queueDrops: number;
  /** dropped because the far device was down (a blackout) */
  writeErrors: number;
}

export interface LinkStats {
  /** host -> namespace: what the client sent */
  outbound: LinkDirectionStats;
  /** namespace -> host: the answers */
  inbound: LinkDirectionStats;
}

export interface ImpairedLink {
  netns: string;
  /** the namespace's address, where exposed services are reached */
  farAddress: string;
  /** the host side's address on the link */
  nearAddress: string;
  /** Makes a TCP service on host loopback reachable at http://farAddress:PORT across the link (same port number). */
  expose(port: number): Promise<string>;
  /** Both devices down for `ms`, then up again; resolves once the link carries packets again. */
  blackout(ms: number): Promise<void>;
  /** Resets every TCP connection from the host to the far address; resolves with how many. */
  resetConnections(): Promise<number>;
  stats(): Promise<LinkStats>;
  /** Removes the relays, the forwarder, both devices and the namespace. Safe to call twice. */
  stop(): Promise<void>;
}

const FORWARDER = fileURLToPath(new URL('./impaired-link.py', import.meta.url));
const PYTHON = process.env.IMPAIRED_LINK_PYTHON ?? '/usr/bin/python3';

/** Why the link cannot be made here, or undefined when it can: lets a test skip with a clear reason. */
export function impairedLinkUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces and TUN devices); run the tests as root, as CI does';
  if (!existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  for (const [bin, pkg] of [
    ['ip', 'iproute2'],
    ['socat', 'socat'],
    ['ss', 'iproute2'],
  ] as const) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      return `needs ${bin} (apt-get install ${pkg})`;
    }
  }
  if (!existsSync(PYTHON)) return `needs ${PYTHON}`;
  return undefined;
}

const run = (args: string[]) => runCommandOrThrow(args[0] ?? '', args.slice(1), { timeoutMs: 10_000 });

async function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

export async function startImpairedLink(options: ImpairedLinkOptions): Promise<ImpairedLink> {
  const unavailable = impairedLinkUnavailable();
  if (unavailable !== undefined) throw new Error(`cannot make an impaired link: ${unavailable}`);
  const id = randomBytes(3).toString('hex');
  const netns = `crispy-link-${process.pid}-${id}`;
  const outer = `cl${id}o`;
  const inner = `cl${id}i`;
  // A /30 of its own per run: 10.213.X.Y, the block chosen at random and checked to be unused.
  const used = execFileSync('ip', ['-4', '-o', 'addr']).toString();
  let base = '';
  for (let tries = 0; tries < 50 && (base === '' || used.includes(`${base}.`)); tries++)
    base = `10.213.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 64) * 4}`;
  const [a, b, c, d] = base.split('.').map(Number) as [number, number, number, number];
  const nearAddress = `${a}.${b}.${c}.${d + 1}`;
  const farAddress = `${a}.${b}.${c}.${d + 2}`;
  const sockDir = await mkdtemp(join(tmpdir(), 'crispy-link-'));
  const relays: Child[] = [];
  let forwarder: Child | undefined;
  let stopped = false;
  const removeNamespace = () => {
    try {
      execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  };
  // A test process that dies must not leave the namespace behind.
  process.once('exit', removeNamespace);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const relay of relays) await relay.stop(2000);
    if (forwarder !== undefined && forwarder.exitStatus === null) {
      forwarder.writeStdin('quit\n');
      await Promise.race([forwarder.exited, sleep(2000)]);
      await forwarder.stop(1000);
    }
    removeNamespace();
    process.removeListener('exit', removeNamespace);
    await rm(sockDir, { recursive: true, force: true });
  };

  try {
    await run(['ip', 'netns', 'add', netns]);
    await run(['ip', 'netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up']);
    forwarder = spawnChild(
      PYTHON,
      [
        FORWARDER,
        '--netns',
        netns,
        '--outer',
        outer,
        '--inner',
        inner,
        '--rate-bps',
        String(options.rateBitsPerSecond),
        '--delay-ms',
        String(options.delayMs),
        '--loss',
        String(options.loss),
        '--queue-bytes',
        String(options.queueBytes ?? 256 * 1024),
        '--seed',
        String(options.seed ?? 1),
      ],
      { name: 'impaired-link forwarder' },
    );
    await forwarder.waitForLine((line) => line === 'ready', 10_000, 'the forwarder to make its devices');
    await run(['ip', 'addr', 'add', `${nearAddress}/30`, 'dev', outer]);
    await run(['ip', 'link', 'set', outer, 'up']);
    await run(['ip', 'netns', 'exec', netns, 'ip', 'addr', 'add', `${farAddress}/30`, 'dev', inner]);
    await run(['ip', 'netns', 'exec', netns, 'ip', 'link', 'set', inner, 'up']);
  } catch (error) {
    await stop();
    throw error;
  }
  const link = forwarder;
  let statsSeen = 0;

  return {
    netns,
    farAddress,
    nearAddress,
    async expose(port) {
      const sock = join(sockDir, `${port}.sock`);
      relays.push(spawnChild('socat', [`UNIX-LISTEN:${sock},fork,unlink-early`, `TCP:127.0.0.1:${port}`], { name: `relay to 127.0.0.1:${port}` }));
      const deadline = Date.now() + 10_000;
      while (!existsSync(sock) && Date.now() < deadline) await sleep(20);
      relays.push(
        spawnChild('ip', ['netns', 'exec', netns, 'socat', `TCP-LISTEN:${port},bind=${farAddress},fork,reuseaddr`, `UNIX-CONNECT:${sock}`], {
          name: `relay on ${farAddress}:${port}`,
        }),
      );
      while (!(await canConnect(farAddress, port, 2000))) {
        if (Date.now() > deadline) throw new Error(`${farAddress}:${port} did not answer across the link within 10 s`);
        await sleep(100);
      }
      return `http://${farAddress}:${port}`;
    },
    async blackout(ms) {
      await run(['ip', 'link', 'set', outer, 'down']);
      await run(['ip', 'netns', 'exec', netns, 'ip', 'link', 'set', inner, 'down']);
      await sleep(ms);
      await run(['ip', 'netns', 'exec', netns, 'ip', 'link', 'set', inner, 'up']);
      await run(['ip', 'link', 'set', outer, 'up']);
    },
    async resetConnections() {
      // -K destroys each matching socket: the host side sees ECONNABORTED, the far side a reset.
      const out = execFileSync('ss', ['-K', '-t', '-n', '-H', 'dst', farAddress]).toString();
      return out.split('\n').filter((line) => line.trim() !== '').length;
    },
    async stats() {
      // Numbered, so an answer is told from the ones before it (they may read the same).
      const n = ++statsSeen;
      link.writeStdin(`stats ${n}\n`);
      const line = await link.waitForLine((l) => l.startsWith(`{"n": ${n},`), 5000, `link stats #${n}`);
      const raw = JSON.parse(line) as { outToIn: LinkDirectionStats; inToOut: LinkDirectionStats };
      return { outbound: raw.outToIn, inbound: raw.inToOut };
    },
    stop,
  };
}
