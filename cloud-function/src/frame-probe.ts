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

/**
 * Decodes the keyframe with ffmpeg and measures what it wrote with sharp: the first row of the
 * picture, so its width and channels are the decoded frame's. The height is the decoder's stream
 * line; the row's width must agree with that line, or the frame is not what the line says.
 */
export async function probeFirstFrame(ffmpegPath: string, input: DecoderInput, timeoutMs: number): Promise<FrameFacts> {
  return withDecodedFrame(ffmpegPath, input, timeoutMs, async (frame) => {
    const row = await measurePng(frame.pngPath);
    if (frame.size === undefined) throw new NoFrameDecodedError('the decoder reported no picture size');
    if (row.width !== frame.size.width || row.height !== 1) {
      throw new NoFrameDecodedError(`the decoded row is ${row.width}x${row.height}, the decoder reported ${frame.size.width}x${frame.size.height}`);
    }
    return { width: row.width, height: frame.size.height, channels: row.channels, pixelFormat: frame.pixelFormat };
  });
}
