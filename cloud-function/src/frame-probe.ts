import sharp from 'sharp';
import type { DecoderInput } from './decoder-input/decoder-input.js';
import { NoFrameDecodedError, withDecodedFrame } from './frame-decoder.js';

export interface FrameFacts {
  width: number;
  height: number;
  /** Channels of the decoded frame as sharp reads its PNG: 3 for colour, 4 with alpha, 1 for grey. */
  channels: number;
  /** The source's pixel format as the decoder reports it (yuv420p, gray, yuva420p...). */
  pixelFormat: string | undefined;
}

/** Size and channels of a PNG (a file or its bytes), from its header. */
export async function measurePng(png: Buffer | string): Promise<Pick<FrameFacts, 'width' | 'height' | 'channels'>> {
  const meta = await sharp(png).metadata();
  if (meta.width === undefined || meta.height === undefined || meta.channels === undefined) {
    throw new NoFrameDecodedError('the decoded frame has no size');
  }
  return { width: meta.width, height: meta.height, channels: meta.channels };
}

/** Decodes the keyframe with ffmpeg and measures the picture with sharp. */
export async function probeFirstFrame(ffmpegPath: string, input: DecoderInput, timeoutMs: number): Promise<FrameFacts> {
  return withDecodedFrame(ffmpegPath, input, timeoutMs, async (frame) => ({ ...(await measurePng(frame.pngPath)), pixelFormat: frame.pixelFormat }));
}
