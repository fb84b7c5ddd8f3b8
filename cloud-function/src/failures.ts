import { UnreadableChunkError } from './decoder-input/decoder-input.js';
import { DecoderCrashedError, DecoderExitedError, DecoderTimedOutError, NoFrameDecodedError } from './frame-decoder.js';
import { ObjectReadError } from './object-reader.js';

/**
 * What a failure to describe a chunk means for its notification:
 * - `gone`: the object was deleted since; acknowledged with a warning.
 * - `refuse`: the stored bytes are not a chunk we can describe, and will not become one; acknowledged
 *   with an error line naming what they are (Pub/Sub would otherwise redeliver it for ever).
 * - `retry`: it may pass (network, storage, load, a cold start); thrown so Pub/Sub delivers it again.
 */
export type FailureVerdict = { action: 'gone' } | { action: 'refuse'; kind: string } | { action: 'retry' };

export function judgeFailure(error: unknown): FailureVerdict {
  if (error instanceof ObjectReadError) {
    if (error.httpStatus === 404 || error.httpStatus === 410) return { action: 'gone' };
    // The object is shorter than its own notification says: a forged or corrupt message.
    if (error.httpStatus === 416) return { action: 'refuse', kind: 'range-not-satisfiable' };
    return { action: 'retry' };
  }
  if (error instanceof UnreadableChunkError) return { action: 'refuse', kind: error.reason };
  // The decoder's answer to these bytes will not change.
  if (error instanceof DecoderExitedError || error instanceof NoFrameDecodedError) return { action: 'refuse', kind: 'undecodable' };
  if (error instanceof DecoderCrashedError) {
    // SIGKILL that we did not send is the OOM killer, which a quieter instance may not meet.
    return error.signal === 'SIGKILL' ? { action: 'retry' } : { action: 'refuse', kind: 'decoder-crash' };
  }
  if (error instanceof DecoderTimedOutError) return { action: 'retry' };
  return { action: 'retry' };
}
