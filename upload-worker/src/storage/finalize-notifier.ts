import http from 'node:http';
import https from 'node:https';
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
 * Through node:http with kept-alive connections rather than fetch: fetch's machinery cost the worker
 * about 1 ms of CPU per chunk, as much as storing the chunk's resource.
 */
export function pushDelivery(endpoint: string, subscription: string, timeoutMs = 30_000): (object: StorageObjectResource) => Promise<void> {
  const url = new URL(endpoint);
  const client = url.protocol === 'https:' ? https : http;
  const agent = new client.Agent({ keepAlive: true, maxSockets: 16 });
  return async (object) => {
    const body = JSON.stringify(pubsubPushBody('OBJECT_FINALIZE', object, subscription));
    let status: number;
    try {
      status = await new Promise<number>((resolve, reject) => {
        const request = client.request(
          url,
          {
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
            signal: AbortSignal.timeout(timeoutMs),
          },
          (response) => {
            response.resume();
            response.once('end', () => resolve(response.statusCode ?? 0));
            response.once('error', reject);
          },
        );
        request.once('error', reject);
        request.end(body);
      });
    } catch (error) {
      throw new Error(`notification for ${object.name} not accepted by ${endpoint}: ${errorMessage(error)}`, { cause: error });
    }
    if (!ACKNOWLEDGED.has(status)) throw new Error(`notification for ${object.name} not accepted by ${endpoint}: HTTP ${status}`);
  };
}
