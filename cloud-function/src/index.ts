import { createRequire } from 'node:module';
import * as functions from '@google-cloud/functions-framework';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { createLogger, loadPublicKeys, redactEverywhere, resolveFfmpeg, errorMessage, bundledFfmpegPath } from '@crispy-streamer/shared';
import { checkIntegrity } from './integrity.js';
import { loadFunctionConfig } from './config.js';
import { describeChunk } from './describe-chunk.js';
import { readChunk } from './decoder-input/read-chunk.js';
import { judgeFailure } from './failures.js';
import { probeFirstFrame } from './frame-probe.js';
import { cachingRangeReader, httpRangeReader } from './object-reader.js';
import { MalformedNotificationError, RecentKeys, parseStorageNotification } from './notification.js';
import { gcsUrlSigner, localUrlSigner } from './url-signer.js';

// Configuration errors surface when the instance starts, with the settings to fix.
const config = loadFunctionConfig(process.env);
redactEverywhere(config.localBucket?.secret);
const logger = createLogger({ service: 'cloud-function', level: config.logLevel, pretty: false });
// Cloud Functions has no system ffmpeg: the npm-bundled static binary is the one it deploys with,
// and it is preferred everywhere (FFMPEG_PATH aside) since it starts faster for a one-frame decode.
// It only ever reads a pipe (see frame-decoder.ts): the 2018 build crashes resolving host names.
const ffmpeg = resolveFfmpeg(process.env, () => bundledFfmpegPath(createRequire(import.meta.url)), 'bundled');
const signUrl = config.localBucket !== undefined ? localUrlSigner(config.localBucket) : gcsUrlSigner({ apiEndpoint: config.gcsApiEndpoint });
const described = new RecentKeys();
const publicKeys = loadPublicKeys(config.evidencePublicKeyFiles);

/** Pub/Sub-triggered: one Cloud Storage OBJECT_FINALIZE notification per call. */
export async function describeChunkEvent(event: CloudEvent<unknown>): Promise<void> {
  let notification;
  try {
    notification = parseStorageNotification(event.data, { buckets: config.buckets });
  } catch (error) {
    if (error instanceof MalformedNotificationError) {
      // Acknowledged: a retry would fail the same way, forever.
      logger.error({ eventId: event.id, eventType: event.type, reason: error.message }, 'notification ignored: malformed');
      return;
    }
    throw error;
  }
  if (notification.action === 'refuse') {
    // Acknowledged: no URL is signed and nothing is read for a bucket this function does not serve.
    logger.error(
      { eventId: event.id, bucket: notification.bucket, object: notification.objectName, reason: notification.reason },
      'notification refused: bucket not configured',
    );
    return;
  }
  if (notification.action === 'skip') {
    logger.debug({ bucket: notification.bucket, object: notification.objectName, reason: notification.reason }, 'notification skipped');
    return;
  }
  const { object } = notification;
  if (!described.add(notification.dedupeKey)) {
    logger.info({ bucket: object.bucket, object: object.name, generation: object.generation }, 'duplicate notification: chunk already described');
    return;
  }
  try {
    const outcome = await describeChunk(object, {
      signUrl,
      readChunk: (url, size) => readChunk(cachingRangeReader(httpRangeReader(url, config.frameTimeoutMs), size), size),
      probeFrame: (input) => probeFirstFrame(ffmpeg.path, input, config.frameTimeoutMs),
      signedUrlSeconds: config.signedUrlSeconds,
      durationToleranceMs: config.durationToleranceMs,
      logger,
    });
    if (outcome.status === 'gone') {
      logger.warn(
        { bucket: object.bucket, object: object.name, generation: object.generation, reason: outcome.reason },
        'chunk deleted before it could be described',
      );
      return;
    }
    const { description } = outcome;
    const integrity = checkIntegrity(object, publicKeys);
    const suspicious = description.durationCheck === 'mismatch' || integrity.integrity === 'INVALID';
    logger[suspicious ? 'warn' : 'info'](
      { ...description, ...integrity, 'logging.googleapis.com/labels': { source: description.source ?? '', sequence: String(description.sequence ?? '') } },
      integrity.integrity === 'INVALID'
        ? `chunk described: integrity INVALID (${integrity.reason ?? ''})`
        : description.durationCheck === 'mismatch'
          ? 'chunk described: duration differs from the probe'
          : 'chunk described',
    );
  } catch (error) {
    const verdict = judgeFailure(error);
    const where = { bucket: object.bucket, object: object.name, generation: object.generation };
    if (verdict.action === 'refuse') {
      // Acknowledged: these bytes will never describe, and a redelivery would read them again for ever.
      logger.error({ ...where, kind: verdict.kind, reason: errorMessage(error) }, 'chunk refused: not a chunk that can be described');
      return;
    }
    // Let Pub/Sub deliver it again: the failure may pass (network, storage, load, a cold start).
    described.forget(notification.dedupeKey);
    logger.error({ ...where, err: error }, 'chunk could not be described; Pub/Sub will retry');
    throw error;
  }
}

export const FUNCTION_NAME = 'describeChunk';
functions.cloudEvent(FUNCTION_NAME, describeChunkEvent);
