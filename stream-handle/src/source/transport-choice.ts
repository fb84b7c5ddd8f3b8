import { RTSP_TRANSPORTS, type RtspTransport } from '@crispy-streamer/shared';
import type { SourceFailure } from '../recorder/ffmpeg-log.js';
import type { RtspTransportSetting } from './source-config.js';

// `transport: auto`: TCP first (it passes NAT and firewalls, and loses nothing), then the others
// in turn, each tried once the camera refused the one before (461 Unsupported transport, or UDP
// that never delivered a packet). What worked is tried first from then on.

/** The order in which to try transports: the one that worked last, then tcp, udp, udp_multicast, http. */
export function transportCandidates(setting: RtspTransportSetting, worked: RtspTransport | undefined): RtspTransport[] {
  if (setting !== 'auto') return [setting];
  const order: RtspTransport[] = worked === undefined ? [] : [worked];
  for (const transport of RTSP_TRANSPORTS) if (!order.includes(transport)) order.push(transport);
  return order;
}

/** Whether a failed attempt over `transport` says to try the next transport, rather than wait. */
export function refusesTransport(failure: SourceFailure, transport: RtspTransport, recordedAnything: boolean): boolean {
  if (recordedAnything) return false;
  if (failure.kind === 'unsupported-transport') return true;
  // Packets that never came over UDP: a firewall, or a camera that only pretends to offer it.
  return failure.kind === 'timeout' && (transport === 'udp' || transport === 'udp_multicast');
}
