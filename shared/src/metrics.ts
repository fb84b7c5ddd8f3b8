import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// Prometheus metrics, one registry per process. Names start with crispy_ and carry the source
// as a label, so a dashboard can follow one camera.

export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export interface RecorderMetrics {
  chunksRecorded: Counter<'source'>;
  chunksEnqueued: Counter<'source'>;
  chunksDropped: Counter<'source' | 'reason'>;
  chunksQuarantined: Counter<'source'>;
  ffmpegRestarts: Counter<'source' | 'reason'>;
  gapSeconds: Counter<'source'>;
  waitingToQueue: Gauge<'source'>;
  sourceUp: Gauge<'source'>;
}

export function createRecorderMetrics(registry: Registry): RecorderMetrics {
  const registers = [registry];
  return {
    chunksRecorded: new Counter({ name: 'crispy_chunks_recorded_total', help: 'Chunks finalised in the spool', labelNames: ['source'], registers }),
    chunksEnqueued: new Counter({ name: 'crispy_chunks_enqueued_total', help: 'Chunks handed to the upload queue', labelNames: ['source'], registers }),
    chunksDropped: new Counter({ name: 'crispy_chunks_dropped_total', help: 'Chunks deleted before upload by the spool policy', labelNames: ['source', 'reason'], registers }),
    chunksQuarantined: new Counter({ name: 'crispy_chunks_quarantined_total', help: 'Unfinished chunk files moved aside', labelNames: ['source'], registers }),
    ffmpegRestarts: new Counter({ name: 'crispy_ffmpeg_restarts_total', help: 'Times a live source was restarted', labelNames: ['source', 'reason'], registers }),
    gapSeconds: new Counter({ name: 'crispy_recording_gap_seconds_total', help: 'Seconds of video not recorded between chunks', labelNames: ['source'], registers }),
    waitingToQueue: new Gauge({ name: 'crispy_chunks_waiting_to_queue', help: 'Finalised chunks Redis has not taken yet', labelNames: ['source'], registers }),
    sourceUp: new Gauge({ name: 'crispy_source_up', help: '1 while ffmpeg is running for the source', labelNames: ['source'], registers }),
  };
}

export interface UploaderMetrics {
  chunksUploaded: Counter<'source' | 'outcome'>;
  uploadFailures: Counter<'source' | 'final'>;
  uploadedBytes: Counter<'source'>;
  closedToStoredSeconds: Histogram<'source'>;
  uploadSeconds: Histogram<'source'>;
}

export function createUploaderMetrics(registry: Registry): UploaderMetrics {
  const registers = [registry];
  return {
    chunksUploaded: new Counter({ name: 'crispy_chunks_uploaded_total', help: 'Chunks stored in the bucket', labelNames: ['source', 'outcome'], registers }),
    uploadFailures: new Counter({ name: 'crispy_chunk_upload_failures_total', help: 'Upload attempts that failed; final=true when retries are exhausted', labelNames: ['source', 'final'], registers }),
    uploadedBytes: new Counter({ name: 'crispy_uploaded_bytes_total', help: 'Bytes stored in the bucket', labelNames: ['source'], registers }),
    closedToStoredSeconds: new Histogram({
      name: 'crispy_chunk_closed_to_stored_seconds',
      help: 'From the chunk being queued (just after ffmpeg closed it) to the bucket confirming it',
      labelNames: ['source'],
      buckets: [0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers,
    }),
    uploadSeconds: new Histogram({
      name: 'crispy_chunk_upload_seconds',
      help: 'One upload attempt, from reading the file to the bucket confirming it',
      labelNames: ['source'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30],
      registers,
    }),
  };
}
