#!/usr/bin/python3
"""A fake RTSP camera for tests, built on GstRtspServer.

Serves one or more mounts on 127.0.0.1, either encoding a live test pattern with x264
or re-sending the frames of a pre-encoded mp4 in an endless loop (no encoder at all).
Prints `READY port=N mounts=a,b` on stdout once an internal client receives frames
from every mount. Exits on SIGTERM/SIGINT, and with --exit-on-stdin-eof also
when stdin reaches EOF (the parent that started us is gone).

Exit code 3 means GStreamer's Python bindings or the RTSP server library are missing.
"""

import argparse
import os
import signal
import sys
import threading

MISSING_BINDINGS_EXIT_CODE = 3


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--mount', action='append', dest='mounts', help='mount name, repeatable; default cam0')
    parser.add_argument('--width', type=int, default=1280)
    parser.add_argument('--height', type=int, default=720)
    parser.add_argument('--fps', type=int, default=30)
    parser.add_argument('--gop', type=int, default=60, help='frames between keyframes')
    parser.add_argument('--user')
    parser.add_argument('--password')
    parser.add_argument('--file', help='pre-encoded mp4 to serve in a loop instead of encoding')
    parser.add_argument('--codec', choices=['h264', 'h265'], default='h264', help='codec of --file, or the codec to encode')
    parser.add_argument('--address', default='127.0.0.1', help='address to listen on (a namespace\'s own)')
    parser.add_argument('--protocols', choices=['any', 'tcp', 'udp', 'udp_multicast', 'http'], default='any',
                        help='the only RTP transport offered; others get 461 Unsupported transport')
    parser.add_argument('--audio', choices=['none', 'pcmu', 'pcma', 'aac', 'opus'], default='none', help='an audio track beside the video')
    parser.add_argument('--auth', choices=['basic', 'digest'], default='basic', help='how --user/--password are asked for')
    parser.add_argument('--change-size-after', type=float, help='seconds after READY at which the picture size changes')
    parser.add_argument('--change-size', help='the new size, WxH (with --change-size-after)')
    parser.add_argument('--drop-every', type=int, help='drop one video RTP packet in this many (loss on the way)')
    parser.add_argument('--no-rtcp', action='store_true', help='send no RTCP at all, so no Sender Report: a camera without a clock to share')
    parser.add_argument('--exit-on-stdin-eof', action='store_true', help='quit when the parent closes our stdin')
    args = parser.parse_args()
    args.mounts = args.mounts or ['cam0']
    if (args.user is None) != (args.password is None):
        parser.error('--user and --password go together')
    if (args.change_size_after is None) != (args.change_size is None):
        parser.error('--change-size-after and --change-size go together')
    if args.file is not None and (args.audio != 'none' or args.change_size is not None):
        parser.error('--audio and --change-size need an encoded test pattern, not --file')
    return args


def load_gstreamer():
    try:
        import gi
        gi.require_version('Gst', '1.0')
        gi.require_version('GstRtspServer', '1.0')
        gi.require_version('GstRtsp', '1.0')
        from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
    except (ImportError, ValueError) as error:
        print(f'MISSING_BINDINGS {error}', file=sys.stderr, flush=True)
        sys.exit(MISSING_BINDINGS_EXIT_CODE)
    Gst.init(None)
    return GLib, Gst, GstRtsp, GstRtspServer


GLib, Gst, GstRtsp, GstRtspServer = load_gstreamer()

AUDIO_BRANCHES = {
    'pcmu': 'audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0',
    'pcma': 'audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8',
    'aac': 'audio/x-raw,rate=16000,channels=1 ! voaacenc ! rtpmp4apay name=pay1 pt=97',
    'opus': 'audio/x-raw,rate=48000,channels=1 ! opusenc ! rtpopuspay name=pay1 pt=97',
}
LOWER_TRANSPORTS = {
    'tcp': GstRtsp.RTSPLowerTrans.TCP,
    'udp': GstRtsp.RTSPLowerTrans.UDP,
    'udp_multicast': GstRtsp.RTSPLowerTrans.UDP_MCAST,
    # Tunnelled RTSP carries RTP interleaved, as over TCP; untunnelled clients are refused in SETUP.
    'http': GstRtsp.RTSPLowerTrans.TCP,
}
# What the internal client asks for, per transport offered.
KEEPER_PROTOCOLS = {'any': 'tcp', 'tcp': 'tcp', 'udp': 'udp', 'udp_multicast': 'udp-mcast', 'http': 'tcp'}


def fail(message):
    print(f'FATAL {message}', file=sys.stderr, flush=True)
    os._exit(1)


class LoopingFileFeeder:
    """Reads an mp4 at real-time pace, forever, and hands each frame to the appsrc of
    every media currently built from it, re-timestamped on that media's clock.

    Decoupling the file from the RTSP media avoids both an encoder and the EOS that a
    plain `filesrc ! qtdemux` media would send to every client at the end of the file.
    """

    def __init__(self, path, codec):
        self.attached = {}  # appsrc -> has it seen a keyframe yet
        self.rewinding = False
        self.lock = threading.Lock()
        self.reader = Gst.parse_launch(
            f'filesrc name=file ! qtdemux ! {codec}parse config-interval=-1 '
            f'! video/x-{codec},stream-format=byte-stream,alignment=au '
            '! appsink name=sink sync=true emit-signals=true max-buffers=4'
        )
        self.reader.get_by_name('file').set_property('location', path)
        sink = self.reader.get_by_name('sink')
        sink.connect('new-sample', self.on_sample)
        sink.connect('new-preroll', lambda _sink: Gst.FlowReturn.OK)
        bus = self.reader.get_bus()
        bus.add_signal_watch()
        bus.connect('message::eos', self.on_eos)
        bus.connect('message::error', self.on_error)
        self.reader.set_state(Gst.State.PAUSED)
        result, _state, _pending = self.reader.get_state(10 * Gst.SECOND)
        if result == Gst.StateChangeReturn.FAILURE:
            fail(f'cannot read {path} as {codec} in mp4')
        self.caps = sink.get_static_pad('sink').get_current_caps()
        if self.caps is None:
            fail(f'no {codec} stream found in {path}')
        self.reader.set_state(Gst.State.PLAYING)

    def on_eos(self, _bus, _message):
        self.rewind()

    def rewind(self):
        # A flushing seek also restarts the reader's running time, so pacing goes on.
        self.reader.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
        self.rewinding = False
        return False

    def on_error(self, _bus, message):
        error, debug = message.parse_error()
        fail(f'file reader: {error.message} ({debug})')

    def attach(self, appsrc):
        appsrc.set_property('caps', self.caps)
        with self.lock:
            self.attached[appsrc] = False

    def detach(self, appsrc):
        with self.lock:
            self.attached.pop(appsrc, None)

    def on_sample(self, sink):
        sample = sink.emit('pull-sample')
        source_buffer = sample.get_buffer()
        is_keyframe = not source_buffer.has_flags(Gst.BufferFlags.DELTA_UNIT)
        pts, dts = source_buffer.pts, source_buffer.dts
        reorder_delay = pts - dts if pts != Gst.CLOCK_TIME_NONE and dts != Gst.CLOCK_TIME_NONE else 0
        with self.lock:
            targets = [
                (appsrc, started)
                for appsrc, started in self.attached.items()
                if appsrc.get_clock() is not None and appsrc.get_state(0)[1] == Gst.State.PLAYING
            ]
        if not targets:
            return Gst.FlowReturn.OK
        if not is_keyframe and not any(started for _appsrc, started in targets):
            if not self.rewinding:
                # Nobody has had a frame yet: restart the file rather than make the
                # first client wait most of a GOP for the next keyframe.
                self.rewinding = True
                GLib.idle_add(self.rewind)
            return Gst.FlowReturn.OK
        for appsrc, started in targets:
            if not started:
                if not is_keyframe:
                    continue  # a decoder could do nothing with frames before the first keyframe
                with self.lock:
                    if appsrc in self.attached:
                        self.attached[appsrc] = True
            running_time = appsrc.get_clock().get_time() - appsrc.get_base_time()
            buffer = source_buffer.copy()
            buffer.dts = running_time
            buffer.pts = running_time + reorder_delay
            appsrc.emit('push-buffer', buffer)
        return Gst.FlowReturn.OK


class Camera:
    def __init__(self, args):
        self.args = args
        self.loop = GLib.MainLoop()
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address(args.address)
        self.server.set_service(str(args.port))
        self.feeders = {}  # mount -> LoopingFileFeeder; also keeps them from being collected
        self.keepers = {}  # mount -> internal client pipeline
        self.ready = False
        self.live_media = {}  # mount -> its media (one each: they are shared)
        self.drop_counters = {}  # mount -> RTP packets seen and dropped (--drop-every)
        if args.user is not None:
            self.install_basic_auth(args.user, args.password)
        mount_points = self.server.get_mount_points()
        for mount in args.mounts:
            mount_points.add_factory(f'/{mount}', self.make_factory(mount))

    def install_basic_auth(self, user, password):
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string('media.factory.role', 'viewer')
        if self.args.auth == 'digest':
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(user, password, token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        # No default token: anyone without the right credentials gets 401.
        self.server.set_auth(auth)

    def make_factory(self, mount):
        args = self.args
        factory = GstRtspServer.RTSPMediaFactory()
        if args.file is None:
            encoder = (
                f'x265enc name=encoder tune=zerolatency speed-preset=ultrafast key-int-max={args.gop} ! video/x-h265,profile=main '
                if args.codec == 'h265'
                else f'x264enc name=encoder tune=zerolatency speed-preset=ultrafast key-int-max={args.gop} '
            )
            audio = '' if args.audio == 'none' else f' audiotestsrc is-live=true wave=sine freq=440 ! {AUDIO_BRANCHES[args.audio]}'
            factory.set_launch(
                '( videotestsrc is-live=true horizontal-speed=2 '
                f'! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1 '
                # The picture's size can change while clients stay connected (a new SPS).
                f'! videoscale ! capsfilter name=size caps=video/x-raw,width={args.width},height={args.height} '
                f'! {encoder}'
                f'! rtp{args.codec}pay name=pay0 pt=96 config-interval=1{audio} )'
            )
        else:
            feeder = LoopingFileFeeder(args.file, args.codec)
            self.feeders[mount] = feeder
            factory.set_launch(
                f'( appsrc name=src is-live=true format=time ! rtp{args.codec}pay name=pay0 pt=96 config-interval=1 )'
            )
            factory.connect('media-configure', self.on_file_media_configure, feeder)
        factory.connect('media-configure', self.on_media_configure, mount)
        if args.protocols != 'any':
            factory.set_protocols(LOWER_TRANSPORTS[args.protocols])
        if args.protocols == 'udp_multicast':
            pool = GstRtspServer.RTSPAddressPool()
            pool.add_range('224.3.0.1', '224.3.0.20', 5000, 5100, 1)
            factory.set_address_pool(pool)
        if args.no_rtcp:
            factory.set_enable_rtcp(False)
        # One pipeline for all clients, like a real camera.
        factory.set_shared(True)
        # Makes the media unseekable: otherwise the `Range: npt=0-` in each new
        # client's PLAY restarts the timestamps of every client already watching.
        factory.set_publish_clock_mode(GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)
        if args.user is not None:
            role = Gst.Structure.from_string(
                'viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true'
            )[0]
            factory.add_role_from_structure(role)
        return factory

    def on_media_configure(self, _factory, media, mount):
        self.live_media[mount] = media
        media.connect('unprepared', lambda _media: self.live_media.pop(mount, None))
        if self.args.drop_every is not None:
            counter = {'n': 0, 'dropped': 0}

            def drop(_pad, _info):
                counter['n'] += 1
                if counter['n'] % self.args.drop_every != 0:
                    return Gst.PadProbeReturn.OK
                counter['dropped'] += 1
                return Gst.PadProbeReturn.DROP

            payloader = media.get_element().get_by_name('pay0')
            payloader.get_static_pad('src').add_probe(Gst.PadProbeType.BUFFER, drop)
            self.drop_counters[mount] = counter

            def report():
                print(f'DROPPED mount={mount} dropped={counter["dropped"]} of={counter["n"]}', flush=True)
                return True

            GLib.timeout_add(1000, report)

    def change_size(self):
        width, height = (int(v) for v in self.args.change_size.split('x'))
        for mount, media in list(self.live_media.items()):
            size = media.get_element().get_by_name('size')
            if size is not None:
                size.set_property('caps', Gst.Caps.from_string(f'video/x-raw,width={width},height={height}'))
                print(f'SIZE_CHANGED mount={mount} size={width}x{height}', flush=True)
        return False

    @staticmethod
    def on_file_media_configure(_factory, media, feeder):
        appsrc = media.get_element().get_by_name('src')
        feeder.attach(appsrc)
        media.connect('unprepared', lambda _media: feeder.detach(appsrc))

    def start_keepers(self, on_all_flowing):
        """Connects one internal RTSP client to each mount and keeps it connected.

        A real camera encodes whether or not anyone watches. With a watcher always
        present the shared media stays playing, so clients join a live stream at once
        (no start-up delay, no backlog burst from a paused pipeline) and many clients
        arriving together never hit an idle mount (which crashed the server).
        """
        waiting = set(self.args.mounts)
        lock = threading.Lock()

        def on_first_buffer(mount):
            with lock:
                waiting.discard(mount)
                done = not waiting
            if done:
                GLib.idle_add(on_all_flowing)

        for mount in self.args.mounts:
            self.start_keeper(mount, on_first_buffer)

    def start_keeper(self, mount, on_first_buffer=None):
        keeper = Gst.Pipeline.new(f'keeper-{mount}')
        source = Gst.ElementFactory.make('rtspsrc', 'src')
        keeper.add(source)
        scheme = 'rtsph' if self.args.protocols == 'http' else 'rtsp'
        source.set_property('location', f'{scheme}://{self.args.address}:{self.args.port}/{mount}')
        source.set_property('latency', 0)
        source.set_property('protocols', KEEPER_PROTOCOLS[self.args.protocols])
        if self.args.user is not None:
            source.set_property('user-id', self.args.user)
            source.set_property('user-pw', self.args.password)
        first = {'seen': False}

        def on_pad(_src, pad):
            # One sink per stream: video, and audio when there is some.
            sink = Gst.ElementFactory.make('fakesink')
            sink.set_property('sync', False)
            sink.set_property('async', False)
            keeper.add(sink)
            sink.sync_state_with_parent()
            pad.link(sink.get_static_pad('sink'))
            if on_first_buffer is not None:

                def probe(_pad, _info):
                    if not first['seen']:
                        first['seen'] = True
                        on_first_buffer(mount)
                    return Gst.PadProbeReturn.REMOVE

                sink.get_static_pad('sink').add_probe(Gst.PadProbeType.BUFFER, probe)

        source.connect('pad-added', on_pad)
        bus = keeper.get_bus()
        bus.add_signal_watch()
        bus.connect('message::error', self.on_keeper_trouble, keeper, mount)
        bus.connect('message::eos', self.on_keeper_trouble, keeper, mount)
        keeper.set_state(Gst.State.PLAYING)
        self.keepers[mount] = keeper
        return False

    def on_keeper_trouble(self, bus, message, keeper, mount):
        if self.keepers.get(mount) is not keeper:
            return  # a late message from a keeper already replaced
        if message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            problem = f'{error.message} ({debug})'
        else:
            problem = 'stream ended'
        if not self.ready:
            fail(f'internal client of mount {mount}: {problem}')
        # Later trouble (say its session expired while we were SIGSTOPped): replace it.
        # A fresh pipeline, because parse_launch links rtspsrc's dynamic pad only once.
        print(f'WARN internal client of mount {mount}: {problem}; reconnecting', file=sys.stderr, flush=True)
        bus.remove_signal_watch()
        keeper.set_state(Gst.State.NULL)
        del self.keepers[mount]
        GLib.timeout_add(200, self.start_keeper, mount)

    def on_client_connected(self, _server, client):
        client.connect('play-request', self.on_play_request)
        if self.args.protocols == 'http':
            client.connect('pre-setup-request', self.refuse_untunnelled)

    @staticmethod
    def refuse_untunnelled(client, _context):
        connection = client.get_connection()
        if connection is not None and connection.is_tunneled():
            return GstRtsp.RTSPStatusCode.OK
        return GstRtsp.RTSPStatusCode.UNSUPPORTED_TRANSPORT

    def on_play_request(self, _client, context):
        if self.args.file is not None:
            return  # nothing to ask a keyframe of
        mount = context.uri.abspath.strip('/') if context.uri is not None else ''
        # Give the new client's transport a moment to be linked, then have the encoder
        # start a GOP, so the client need not wait up to a GOP for its first keyframe.
        # Many cameras do the same on a new session.
        GLib.timeout_add(50, self.force_keyframe, mount)

    def force_keyframe(self, mount):
        media = self.live_media.get(mount)
        encoder = media.get_element().get_by_name('encoder') if media is not None else None
        if encoder is not None:
            structure = Gst.Structure.new_from_string('GstForceKeyUnit, all-headers=(boolean)true')
            encoder.send_event(Gst.Event.new_custom(Gst.EventType.CUSTOM_UPSTREAM, structure))
        return False

    def run(self):
        if self.server.attach(None) == 0:
            fail(f'cannot listen on 127.0.0.1:{self.args.port}')
        for signum in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, self.quit)
        if self.args.exit_on_stdin_eof:
            GLib.io_add_watch(
                sys.stdin.fileno(), GLib.PRIORITY_DEFAULT, GLib.IOCondition.IN | GLib.IOCondition.HUP, self.on_stdin
            )

        self.server.connect('client-connected', self.on_client_connected)

        def report_ready():
            self.ready = True
            print(f'READY port={self.args.port} mounts={",".join(self.args.mounts)}', flush=True)
            if self.args.change_size_after is not None:
                GLib.timeout_add(int(self.args.change_size_after * 1000), self.change_size)
            return False

        if self.args.protocols == 'udp_multicast':
            # An internal client beside the server would bind the group's ports the server binds
            # (the reason the tests put the camera in a namespace of its own): the first real
            # client prepares the media instead.
            GLib.idle_add(report_ready)
        else:
            self.start_keepers(report_ready)
        self.loop.run()

    def on_stdin(self, fd, _condition):
        if os.read(fd, 4096) == b'':
            self.quit()
            return False
        return True

    def quit(self):
        self.loop.quit()
        return False


def main():
    args = parse_args()
    if args.file is not None and not os.path.isfile(args.file):
        fail(f'no such file: {args.file}')
    Camera(args).run()
    # Skip interpreter and GStreamer teardown: nothing to flush, and it can hang.
    os._exit(0)


if __name__ == '__main__':
    main()
