#!/usr/bin/env python3
"""A point-to-point IP link with a rate, a delay and packet loss, between the host's network
namespace and one the test made: two TUN devices and this forwarder between them. The kernel here
has no netem, so the impairment is done in user space, per packet (see test/support/impaired-link.ts).

Prints "ready" once both devices exist. Reads commands on stdin, one a line:
  stats N -> prints one JSON line: N, and the counters per direction
  quit    -> exits (the devices vanish with it)
"""
import argparse, ctypes, fcntl, heapq, json, os, random, select, struct, sys, time

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000

def open_tun(name):
    fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    return fd

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--netns', required=True)
    p.add_argument('--outer', required=True, help='TUN device in this (the host) namespace')
    p.add_argument('--inner', required=True, help='TUN device in --netns')
    p.add_argument('--rate-bps', type=float, required=True)
    p.add_argument('--delay-ms', type=float, default=0, help='one way')
    p.add_argument('--loss', type=float, default=0, help='share of packets dropped, each way')
    p.add_argument('--queue-bytes', type=int, default=256 * 1024)
    p.add_argument('--seed', type=int, default=1)
    a = p.parse_args()
    rng = random.Random(a.seed)
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open('/proc/self/ns/net', os.O_RDONLY)
    outer = open_tun(a.outer)
    target = os.open(f'/var/run/netns/{a.netns}', os.O_RDONLY)
    if libc.setns(target, CLONE_NEWNET) != 0:
        sys.exit(f'setns into {a.netns} failed: errno {ctypes.get_errno()}')
    inner = open_tun(a.inner)
    libc.setns(home, CLONE_NEWNET)

    # One direction: packets leave at the link rate (serialised one after another), arrive a delay later.
    class Direction:
        def __init__(self, name, src, dst):
            self.name, self.src, self.dst = name, src, dst
            self.free_at = 0.0  # when the link finishes sending what it holds
            self.counts = {'packets': 0, 'bytes': 0, 'lost': 0, 'queueDrops': 0, 'writeErrors': 0}

    out = Direction('outToIn', outer, inner)
    back = Direction('inToOut', inner, outer)
    by_fd = {outer: out, inner: back}
    due = []  # (deliver_at, seq, direction, packet)
    seq = 0
    print('ready', flush=True)
    stdin = sys.stdin.fileno()
    while True:
        now = time.monotonic()
        timeout = max(0.0, due[0][0] - now) if due else 1.0
        readable, _, _ = select.select([outer, inner, stdin], [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            if fd == stdin:
                line = sys.stdin.readline()
                if line == '' or line.strip() == 'quit':
                    return
                words = line.split()
                if words and words[0] == 'stats':
                    print(json.dumps({'n': int(words[1]) if len(words) > 1 else 0, **{d.name: d.counts for d in (out, back)}}), flush=True)
                continue
            d = by_fd[fd]
            while True:
                try:
                    packet = os.read(fd, 65535)
                except BlockingIOError:
                    break
                except OSError:
                    break
                if rng.random() < a.loss:
                    d.counts['lost'] += 1
                    continue
                # A FIFO in front of the wire: what it holds is what the wire has not sent yet.
                backlog = max(0.0, d.free_at - now) * a.rate_bps / 8
                if backlog + len(packet) > a.queue_bytes:
                    d.counts['queueDrops'] += 1
                    continue
                start = max(now, d.free_at)
                d.free_at = start + len(packet) * 8 / a.rate_bps
                seq += 1
                heapq.heappush(due, (d.free_at + a.delay_ms / 1000, seq, d, packet))
        while due and due[0][0] <= now:
            _, _, d, packet = heapq.heappop(due)
            try:
                os.write(d.dst, packet)
                d.counts['packets'] += 1
                d.counts['bytes'] += len(packet)
            except OSError:
                # The device is down (a blackout): the packet is lost, as on a dead wire.
                d.counts['writeErrors'] += 1

if __name__ == '__main__':
    main()
