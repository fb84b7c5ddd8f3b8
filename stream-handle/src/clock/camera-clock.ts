import type { CameraTimeSource, ChunkClock, Mp4ProducerTime } from '@crispy-streamer/shared';

// A live chunk's two clocks, decided from its own boxes. Pure: the caller gives the chunk's
// producer reference times (one prft per fragment, docs/evidence.md) and where this node's clock
// puts the chunk, and asks which fragments carry the camera's time and what that time is.
//
// ffmpeg writes a fragment's prft from the camera's RTCP Sender Report mapping once one has
// arrived; before it, from its own clock at the moment it writes the fragment, which is when the
// keyframe that ends the fragment arrives. So a host-written prft sits at the fragment's END on
// the host clock, and a camera's at its START on the camera clock. The rule:
//
//   a fragment's prft is the camera's when it does NOT lie within HOST_WRITE_TOLERANCE_MS of
//   the host time its fragment ended (counted back from the moment ffmpeg listed the chunk, which
//   it does right after writing its last fragment), AND it maps media time to wall time as the next fragment
//   of the chunk does (within CAMERA_STEP_TOLERANCE_MS; the last fragment needs only the first).
//
// The second half matters at the start of a run: ffmpeg buffers what arrives while it probes
// the stream and writes those first fragments in a burst, earlier than their ends, so they fail
// the first test; but fragments written in a burst do not keep one time-to-media mapping, and a
// Sender Report's mapping does (to the millisecond ffmpeg rounds it to).
//
// A camera whose clock runs ahead of the host by one fragment's length (within the tolerance)
// cannot be told from the host: it is taken as host-written, so the error is always "host time,
// labelled host", never host time labelled camera. Within one ffmpeg run a Sender Report, once
// received, stays in force (ffmpeg keeps the last one), so once a fragment was the camera's every
// later fragment of the run is too.

/** How far a host-written prft may lie from the host time its fragment ended (the listing delay and the host placement's error). */
export const HOST_WRITE_TOLERANCE_MS = 250;
/**
 * Successive camera-derived fragments whose time-to-media mappings disagree by more than this
 * saw the camera's clock step. ffmpeg rounds each prft to the millisecond; 20 ppm of drift between
 * Sender Reports five seconds apart is 0.1 ms.
 */
export const CAMERA_STEP_TOLERANCE_MS = 20;

export interface CameraClockReading {
  /** The camera's UTC time of the chunk's first frame (epoch ms). */
  cameraStartMs: number;
  /** How it was obtained. */
  source: CameraTimeSource;
  /** The first fragment whose prft was the camera's (0-based). */
  fromFragment: number;
  /** The camera's time minus media time (ms) of the chunk's last camera fragment. */
  lastMappingMs: number;
  /** The camera's time of the chunk's end by that last mapping: where the next chunk of the run should start. */
  cameraEndMs: number;
  /** The mapping of the chunk's first camera fragment. */
  firstMappingMs: number;
  /** A step of the camera clock inside the chunk: how far its mapping moved (ms, signed) and at which media second. */
  step?: { stepMs: number; atMediaSeconds: number };
}

export interface CameraClockInput {
  producerTimes: readonly Mp4ProducerTime[];
  /** The video track's first sample, on the prft's media timeline (seconds). */
  mediaStartSeconds: number;
  durationMs: number;
  /** When ffmpeg finished the chunk on this node's clock (epoch ms): it listed it, right after writing its last fragment. */
  writtenAtMs: number;
  /** An earlier chunk of this ffmpeg run had the camera's time: every fragment of this one does too. */
  senderReportSeen: boolean;
}

/** The camera's time of the chunk, or undefined when no fragment of it carries one. */
export function readCameraClock(input: CameraClockInput): CameraClockReading | undefined {
  const times = [...input.producerTimes].sort((a, b) => a.fragment - b.fragment);
  const mediaEnd = input.mediaStartSeconds + input.durationMs / 1000;
  const mapping = (time: Mp4ProducerTime) => time.wallclockMs - time.mediaSeconds * 1000;
  let from = -1;
  for (let i = 0; i < times.length; i++) {
    const time = times[i];
    if (time === undefined) continue;
    if (input.senderReportSeen) {
      from = i;
      break;
    }
    const next = times[i + 1];
    const fragmentEnd = next?.mediaSeconds ?? mediaEnd;
    const hostEndMs = input.writtenAtMs - (mediaEnd - fragmentEnd) * 1000;
    const hostLike = Math.abs(time.wallclockMs - hostEndMs) <= HOST_WRITE_TOLERANCE_MS;
    const steady = next === undefined || Math.abs(mapping(next) - mapping(time)) <= CAMERA_STEP_TOLERANCE_MS;
    if (!hostLike && steady) {
      from = i;
      break;
    }
  }
  const first = times[from];
  if (first === undefined) return undefined;
  const firstMappingMs = mapping(first);
  let lastMappingMs = firstMappingMs;
  let step: CameraClockReading['step'];
  for (const time of times.slice(from + 1)) {
    const moved = mapping(time) - lastMappingMs;
    if (Math.abs(moved) > CAMERA_STEP_TOLERANCE_MS && step === undefined) {
      step = { stepMs: Math.round(moved), atMediaSeconds: time.mediaSeconds - input.mediaStartSeconds };
    }
    lastMappingMs = mapping(time);
  }
  return {
    cameraStartMs: Math.round(firstMappingMs + input.mediaStartSeconds * 1000),
    source: from === 0 ? 'sender-report' : 'sender-report-mapped-back',
    fromFragment: from,
    firstMappingMs,
    lastMappingMs,
    cameraEndMs: Math.round(lastMappingMs + mediaEnd * 1000),
    ...(step === undefined ? {} : { step }),
  };
}

export interface ClockChoice {
  clock: ChunkClock;
  startMs: number;
  /** Why the host's clock was taken over the camera's, when it was. */
  warning?: string;
}

/**
 * Which clock a live chunk's startTime uses: the camera's when it has sent a Sender Report and
 * its offset from this node stays within `maxOffsetMs`; else this node's, with a warning. A node
 * whose own clock is not NTP-synchronised cannot vouch for the bound: the warning says so.
 */
export function chooseChunkClock(reading: CameraClockReading | undefined, hostStartMs: number, maxOffsetMs: number, hostSynchronised: boolean): ClockChoice {
  if (reading === undefined)
    return { clock: 'host', startMs: hostStartMs, warning: "the camera has sent no RTCP Sender Report: the chunk is placed on this node's clock" };
  const offsetMs = reading.cameraStartMs - hostStartMs;
  if (Math.abs(offsetMs) > maxOffsetMs) {
    return {
      clock: 'host',
      startMs: hostStartMs,
      warning: `the camera's clock is ${(offsetMs / 1000).toFixed(3)} s off this node's, beyond CAMERA_CLOCK_MAX_OFFSET_SECONDS (${maxOffsetMs / 1000} s): the chunk is placed on this node's clock`,
    };
  }
  if (!hostSynchronised)
    return {
      clock: 'camera',
      startMs: reading.cameraStartMs,
      warning: "this node's clock is not known to be NTP-synchronised: the camera's offset from it is measured against an unchecked clock",
    };
  return { clock: 'camera', startMs: reading.cameraStartMs };
}
