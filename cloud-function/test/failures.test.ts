import { describe, expect, it } from 'vitest';
import { UnreadableChunkError } from '../src/decoder-input/decoder-input.js';
import { judgeFailure, type FailureVerdict } from '../src/failures.js';
import { DecoderCrashedError, DecoderExitedError, DecoderTimedOutError, DecoderUnavailableError, NoFrameDecodedError } from '../src/frame-decoder.js';
import { ObjectReadError } from '../src/object-reader.js';

describe('judgeFailure: what a failure means for the notification', () => {
  it.each<[string, unknown, FailureVerdict]>([
    ['404 reading the object', new ObjectReadError('HTTP 404', 404), { action: 'gone' }],
    ['410 reading the object', new ObjectReadError('HTTP 410', 410), { action: 'gone' }],
    ['403 (IAM not yet propagated)', new ObjectReadError('HTTP 403', 403), { action: 'retry' }],
    ['503 from storage', new ObjectReadError('HTTP 503', 503), { action: 'retry' }],
    ['no answer at all', new ObjectReadError('ECONNRESET', undefined), { action: 'retry' }],
    ['416: the object is shorter than the notification says', new ObjectReadError('HTTP 416', 416), { action: 'refuse', kind: 'range-not-satisfiable' }],
    ['an HLS playlist named .mp4', new UnreadableChunkError('not-a-video-container', 'an HLS playlist'), { action: 'refuse', kind: 'not-a-video-container' }],
    ['a truncated chunk', new UnreadableChunkError('incomplete', 'truncated'), { action: 'refuse', kind: 'incomplete' }],
    ['an MPEG-4 part 2 chunk', new UnreadableChunkError('unsupported', 'mpeg4'), { action: 'refuse', kind: 'unsupported' }],
    ['ffmpeg refused the keyframe', new DecoderExitedError(1, 'Invalid data'), { action: 'refuse', kind: 'undecodable' }],
    ['ffmpeg wrote no frame', new NoFrameDecodedError(''), { action: 'refuse', kind: 'undecodable' }],
    ['ffmpeg crashed with SIGSEGV', new DecoderCrashedError('SIGSEGV', ''), { action: 'refuse', kind: 'decoder-crash' }],
    ['ffmpeg killed by the OOM killer', new DecoderCrashedError('SIGKILL', ''), { action: 'retry' }],
    ['ffmpeg timed out', new DecoderTimedOutError(30_000, ''), { action: 'retry' }],
    ['ffmpeg missing', new DecoderUnavailableError('/x/ffmpeg', Object.assign(new Error('spawn'), { code: 'ENOENT' })), { action: 'retry' }],
    ['anything else', new Error('surprise'), { action: 'retry' }],
  ])('%s', (_case, error, verdict) => {
    expect(judgeFailure(error)).toEqual(verdict);
  });
});
