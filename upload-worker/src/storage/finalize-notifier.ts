import { pubsubPushBody, type StorageObjectResource, errorMessage } from '@crispy-streamer/shared';

/**
 * What a Cloud Storage bucket does through Pub/Sub, for the local bucket: tell of every object
 * stored. The outbox (notification-outbox.ts) records each notification and delivers it.
 */
export interface FinalizeNotifier {
  notify(object: StorageObjectResource): Promise<void>;
}

/** Pub/Sub treats these push responses as an acknowledgement. */
const ACKNOWLEDGED = new Set([102, 200, 201, 202, 204]);

/**
 * One push delivery of the OBJECT_FINALIZE notification to `endpoint` (the function's
 * /projects/P/topics/T path), as a Pub/Sub push subscription would make it. Throws unless acknowledged.
 */
export function pushDelivery(endpoint: string, subscription: string, timeoutMs = 30_000): (object: StorageObjectResource) => Promise<void> {
  return async (object) => {
    let response: Response;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(pubsubPushBody('OBJECT_FINALIZE', object, subscription)),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new Error(`notification for ${object.name} not accepted by ${endpoint}: ${errorMessage(error)}`, { cause: error });
    }
    await response.body?.cancel();
    if (!ACKNOWLEDGED.has(response.status)) throw new Error(`notification for ${object.name} not accepted by ${endpoint}: HTTP ${response.status}`);
  };
}
