import { connect } from 'node:net';

/** The host and port a camera's RTSP control connection goes to (rtsp: 554, rtsps: 322 unless given). */
export function rtspEndpoint(url: string): { host: string; port: number } | undefined {
  try {
    const parsed = new URL(url);
    const port = parsed.port === '' ? (parsed.protocol === 'rtsps:' ? 322 : 554) : Number(parsed.port);
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    return host === '' ? undefined : { host, port };
  } catch {
    return undefined;
  }
}

export type CameraAnswers = (url: string, timeoutMs: number) => Promise<boolean>;

/**
 * The cheapest sign that a camera is back: its RTSP port accepts a TCP connection. Nothing is
 * sent; the connection is closed at once.
 */
export const cameraAnswers: CameraAnswers = (url, timeoutMs) =>
  new Promise((resolve) => {
    const endpoint = rtspEndpoint(url);
    if (endpoint === undefined) {
      resolve(true); // let ffmpeg say what is wrong with the URL
      return;
    }
    const socket = connect({ host: endpoint.host, port: endpoint.port });
    const done = (answered: boolean) => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
