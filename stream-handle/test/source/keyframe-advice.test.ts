import { describe, expect, it } from 'vitest';
import { gopAdvice } from '../../src/source/keyframe-advice.js';

describe('gopAdvice', () => {
  it('says nothing when the keyframe interval divides the chunk length', () => {
    expect(gopAdvice(1, 3, 25)).toBeUndefined();
    expect(gopAdvice(2, 4, 30)).toBeUndefined();
    expect(gopAdvice(3, 3, 25)).toBeUndefined();
    expect(gopAdvice(1.0004, 3, 25)).toBeUndefined();
  });

  it('a 3 s request on a 2 s GOP: 4 s and 2 s chunks, and what to set on the camera', () => {
    expect(gopAdvice(2, 3, 30)).toBe(
      'the source sends a keyframe every 2.0 s, which does not divide chunkSeconds 3: chunks are whole keyframe intervals, 2 or 4 s long, 3 s on average. For 3 s chunks, set its keyframe (I-frame, GOP) interval to 3 s (90 frames) or 1.5 s (45 frames) or 1 s (30 frames), or use mode: encode',
    );
  });

  it('a keyframe interval longer than the chunk: every chunk is one interval', () => {
    expect(gopAdvice(4, 3, 25)).toMatch(/every chunk is one keyframe interval, 4.0 s/);
  });
});
