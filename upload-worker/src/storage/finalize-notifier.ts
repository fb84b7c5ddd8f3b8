import { setTimeout as sleep } from 'node:timers/promises';
import { pubsubPushBody, type StorageObjectResource } from '@crispy-streamer/shared';

/**
 * What a Cloud Storage bucket does through Pub/Sub, for the local bucket: POST the
 * OBJECT_FINALIZE notification to a push endpoint (the function's /projects/P/topics/T path).
 */
export interface FinalizeNotifier {
  notify(object: StorageObjectResource): Promise<void>;
}

export function createPushNotifier(endpoint: string, subscription: string, attempts = 4): FinalizeNotifier {
  return {
    async notify(object) {
      const body = JSON.stringify(pubsubPushBody('OBJECT_FINALIZE', object, subscription));
      let lastError = '';
      for (let attempt = 1; attempt <= attempts; attempt++) {
        try {
          const response = await fetch(endpoint, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
            signal: AbortSignal.timeout(30_000),
          });
          // Pub/Sub treats 102, 200, 201, 202 and 204 as acknowledged.
          if ([102, 200, 201, 202, 204].includes(response.status)) return;
          lastError = `HTTP ${response.status}`;
        } catch (error) {
          lastError = (error as Error).message;
        }
        if (attempt < attempts) await sleep(200 * 2 ** attempt);
      }
      throw new Error(`notification for ${object.name} not accepted by ${endpoint}: ${lastError}`);
    },
  };
}
