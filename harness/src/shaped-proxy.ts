import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

// A TCP proxy on 127.0.0.1 that behaves like a slow uplink: bytes from the client to the target
// flow at `bitsPerSecond`, and a blackout stops every byte in both directions without closing a
// connection (as a link that goes down and comes back does; TCP itself just waits). The kernel has
// no netem here, and shaping loopback would slow every other test on the machine.

export interface ShapedProxy {
  /** http://127.0.0.1:PORT, to use instead of the target's URL */
  url: string;
  port: number;
  /** No byte moves either way until `ms` have passed. */
  blackout(ms: number): void;
  /** Resets every open connection (the client gets a TCP RST, as from a middlebox); returns how many. */
  resetConnections(): number;
  /** Bytes the client sent that reached the target. */
  readonly forwardedBytes: number;
  stop(): Promise<void>;
}

export async function startShapedProxy(target: { host: string; port: number }, bitsPerSecond: number): Promise<ShapedProxy> {
  const bytesPerMs = bitsPerSecond / 8 / 1000;
  let blackoutUntil = 0;
  let forwardedBytes = 0;
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();

  /** Copies `from` to `to`, no faster than the rate when `shaped`, never during a blackout. */
  const pump = (from: Socket, to: Socket, shaped: boolean): void => {
    let allowance = 0;
    let last = Date.now();
    const queue: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const drain = (): void => {
      timer = undefined;
      const now = Date.now();
      if (now < blackoutUntil) {
        last = now;
        timer = setTimeout(drain, Math.min(100, blackoutUntil - now));
        return;
      }
      allowance = shaped ? Math.min(allowance + (now - last) * bytesPerMs, 64 * 1024) : Number.POSITIVE_INFINITY;
      last = now;
      while (queue.length > 0 && allowance >= 1) {
        const head = queue[0] as Buffer;
        const take = Math.min(head.length, Math.floor(allowance));
        to.write(head.subarray(0, take));
        if (shaped) forwardedBytes += take;
        allowance -= take;
        if (take === head.length) queue.shift();
        else queue[0] = head.subarray(take);
      }
      if (queue.length > 0) timer = setTimeout(drain, 5);
      else from.resume();
    };
    from.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      // Stop reading while bytes wait: the sender's socket fills and it stalls, as on a slow link.
      from.pause();
      if (timer === undefined) drain();
    });
    from.on('end', () => {
      const finish = (): void => {
        if (queue.length === 0) to.end();
        else setTimeout(finish, 10);
      };
      finish();
    });
  };

  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    clients.add(client);
    client.on('close', () => clients.delete(client));
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    pump(client, upstream, true);
    pump(upstream, client, false);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    blackout(ms) {
      blackoutUntil = Date.now() + ms;
    },
    resetConnections() {
      const count = clients.size;
      for (const client of [...clients]) client.resetAndDestroy();
      return count;
    },
    get forwardedBytes() {
      return forwardedBytes;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
