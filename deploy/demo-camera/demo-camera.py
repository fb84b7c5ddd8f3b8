#!/usr/bin/python3
"""The compose demo profile's camera: a live test pattern served over RTSP, TCP only.

1280x720 at 30 fps by default, H.264 from x264 with a keyframe every 2 s, one shared pipeline
for every client (as a real camera has), on rtsp://ADDRESS:PORT/MOUNT.

    demo-camera.py [--address 0.0.0.0] [--port 8554] [--mount demo]   serve
    demo-camera.py --health [--port 8554] [--mount demo]                exit 0 if it answers RTSP

The tests' camera (harness/src/rtsp-camera.py) does much more (files, auth, faults) and binds
to loopback only; this one is the small, always-on camera a user points stream-handle at.
"""

import argparse
import signal
import socket
import sys


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--address', default='0.0.0.0')
    parser.add_argument('--port', type=int, default=8554)
    parser.add_argument('--mount', default='demo')
    parser.add_argument('--width', type=int, default=1280)
    parser.add_argument('--height', type=int, default=720)
    parser.add_argument('--fps', type=int, default=30)
    parser.add_argument('--gop-seconds', type=int, default=2)
    parser.add_argument('--health', action='store_true', help='ask the running camera for OPTIONS and exit 0 on 200')
    return parser.parse_args()


def health(args):
    """An RTSP OPTIONS request: proves the server answers, not only that its port is open."""
    url = f'rtsp://127.0.0.1:{args.port}/{args.mount}'
    try:
        with socket.create_connection(('127.0.0.1', args.port), timeout=3) as connection:
            connection.sendall(f'OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\n\r\n'.encode())
            answer = connection.recv(512).decode(errors='replace')
    except OSError as error:
        print(f'demo-camera: {url}: {error}', file=sys.stderr)
        return 1
    if not answer.startswith('RTSP/1.0 200'):
        print(f'demo-camera: {url} answered {answer.splitlines()[0] if answer else "nothing"}', file=sys.stderr)
        return 1
    return 0


def serve(args):
    import gi

    gi.require_version('Gst', '1.0')
    gi.require_version('GstRtsp', '1.0')
    gi.require_version('GstRtspServer', '1.0')
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

    Gst.init(None)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        '( videotestsrc is-live=true horizontal-speed=2 '
        f'! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1 '
        f'! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps * args.gop_seconds} '
        '! rtph264pay name=pay0 pt=96 config-interval=1 )'
    )
    factory.set_shared(True)
    # Interleaved in the RTSP connection: works through Docker's NAT and any firewall.
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    # Unseekable: a new client's `Range: npt=0-` must not restart the stream of those watching.
    factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    server.get_mount_points().add_factory(f'/{args.mount}', factory)
    if server.attach(None) == 0:
        print(f'demo-camera: cannot listen on {args.address}:{args.port}', file=sys.stderr, flush=True)
        return 1

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, lambda: loop.quit() or False)
    print(
        f'demo-camera: serving rtsp://{args.address}:{args.port}/{args.mount} '
        f'({args.width}x{args.height}, {args.fps} fps, H.264, keyframe every {args.gop_seconds} s, TCP)',
        flush=True,
    )
    loop.run()
    return 0


def main():
    args = parse_args()
    sys.exit(health(args) if args.health else serve(args))


if __name__ == '__main__':
    main()
