import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// Prometheus metrics, one registry per process. Names start with crispy_ and carry the source
// as a label, so a dashboard can follow one camera.

/** `labels`: more labels on every series, one value per process (stream-handle's `node`). */
export function createMetricsRegistry(service: string, labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ ...labels, service });
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
  /** A camera's clock minus this node's, as its last chunk measured it. */
  cameraClockOffset: Gauge<'source'>;
  /** Steps of a camera's clock (`camera`), or of this node's wall clock against its monotonic clock (`host`). */
  clockSteps: Counter<'source' | 'clock'>;
  /** Chunks whose camera offset was beyond CAMERA_CLOCK_MAX_OFFSET_SECONDS (placed on the host clock). */
  cameraClockOutOfBound: Counter<'source'>;
}

export function createRecorderMetrics(registry: Registry): RecorderMetrics {
  const registers = [registry];
  return {
    chunksRecorded: new Counter({ name: 'crispy_chunks_recorded_total', help: 'Chunks finalised in the spool', labelNames: ['source'], registers }),
    chunksEnqueued: new Counter({ name: 'crispy_chunks_enqueued_total', help: 'Chunks handed to the upload queue', labelNames: ['source'], registers }),
    chunksDropped: new Counter({
      name: 'crispy_chunks_dropped_total',
      help: 'Chunks deleted before upload by the spool policy',
      labelNames: ['source', 'reason'],
      registers,
    }),
    chunksQuarantined: new Counter({ name: 'crispy_chunks_quarantined_total', help: 'Unfinished chunk files moved aside', labelNames: ['source'], registers }),
    ffmpegRestarts: new Counter({
      name: 'crispy_ffmpeg_restarts_total',
      help: 'Times a live source was restarted',
      labelNames: ['source', 'reason'],
      registers,
    }),
    gapSeconds: new Counter({
      name: 'crispy_recording_gap_seconds_total',
      help: 'Seconds of video not recorded between chunks',
      labelNames: ['source'],
      registers,
    }),
    waitingToQueue: new Gauge({ name: 'crispy_chunks_waiting_to_queue', help: 'Finalised chunks Redis has not taken yet', labelNames: ['source'], registers }),
    sourceUp: new Gauge({ name: 'crispy_source_up', help: '1 while ffmpeg is running for the source', labelNames: ['source'], registers }),
    cameraClockOffset: new Gauge({
      name: 'crispy_camera_clock_offset_seconds',
      help: "The camera's clock minus this node's (RTCP Sender Report time against arrival), last chunk",
      labelNames: ['source'],
      registers,
    }),
    clockSteps: new Counter({
      name: 'crispy_clock_steps_total',
      help: "Steps of a camera clock (clock=camera) or of this node's wall clock against its monotonic clock (clock=host)",
      labelNames: ['source', 'clock'],
      registers,
    }),
    cameraClockOutOfBound: new Counter({
      name: 'crispy_camera_clock_out_of_bound_chunks_total',
      help: 'Chunks whose camera clock was beyond CAMERA_CLOCK_MAX_OFFSET_SECONDS from this node (placed on the host clock)',
      labelNames: ['source'],
      registers,
    }),
  };
}

/** One source as the camera gauges read it, when scraped. */
export interface CameraReading {
  source: string;
  live: boolean;
  state: string;
  recording: boolean;
  /** End of the last chunk recorded, epoch ms. */
  lastChunkEndMs: number | undefined;
  waitingChunks: number;
  waitingBytes: number;
  /** How long the oldest chunk in the spool has waited for the bucket (0 for none). */
  oldestWaitingAgeMs: number;
}

export interface NodeReading {
  cameras: CameraReading[];
  /** How close the spool is to full by its policy (1 = full); undefined before it was measured. */
  spoolUsageRatio: number | undefined;
  clockSync: string;
}

export const SOURCE_STATES = ['starting', 'recording', 'reconnecting', 'paused', 'failed', 'finished', 'stopped'] as const;
export const CLOCK_SYNC_STATES = ['synchronised', 'unsynchronised', 'unknown'] as const;

/**
 * Gauges read from the node's own state when scraped (nothing is kept twice). Cardinality is
 * bounded: a series per source (and per state of a closed list), none per chunk.
 */
export function createCameraMetrics(registry: Registry, read: () => NodeReading): { gaps: Counter<'source'> } {
  const registers = [registry];
  new Gauge({
    name: 'crispy_source_recording',
    help: '1 while a live source records (chunks arriving), 0 while it reconnects, is paused or is stalled; live sources only',
    labelNames: ['source'],
    registers,
    collect() {
      for (const camera of read().cameras) if (camera.live) this.set({ source: camera.source }, camera.recording ? 1 : 0);
    },
  });
  new Gauge({
    name: 'crispy_source_state',
    help: 'The source state: 1 for the state it is in, 0 for the others',
    labelNames: ['source', 'state'],
    registers,
    collect() {
      for (const camera of read().cameras) for (const state of SOURCE_STATES) this.set({ source: camera.source, state }, camera.state === state ? 1 : 0);
    },
  });
  new Gauge({
    name: 'crispy_source_last_chunk_end_timestamp_seconds',
    help: 'End of the footage of the last chunk recorded (Unix time)',
    labelNames: ['source'],
    registers,
    collect() {
      for (const camera of read().cameras) if (camera.lastChunkEndMs !== undefined) this.set({ source: camera.source }, camera.lastChunkEndMs / 1000);
    },
  });
  new Gauge({
    name: 'crispy_spool_waiting_chunks',
    help: 'Chunks recorded and waiting in the spool for the bucket',
    labelNames: ['source'],
    registers,
    collect() {
      for (const camera of read().cameras) this.set({ source: camera.source }, camera.waitingChunks);
    },
  });
  new Gauge({
    name: 'crispy_spool_waiting_bytes',
    help: 'Bytes of the chunks waiting in the spool for the bucket',
    labelNames: ['source'],
    registers,
    collect() {
      for (const camera of read().cameras) this.set({ source: camera.source }, camera.waitingBytes);
    },
  });
  new Gauge({
    name: 'crispy_spool_oldest_chunk_age_seconds',
    help: 'How long the oldest chunk waiting in the spool has waited for the bucket, since its footage ended (0 when none waits)',
    labelNames: ['source'],
    registers,
    collect() {
      for (const camera of read().cameras) this.set({ source: camera.source }, camera.oldestWaitingAgeMs / 1000);
    },
  });
  new Gauge({
    name: 'crispy_spool_usage_ratio',
    help: 'How close the spool is to full by its policy: 1 means full (quota reached or free space at SPOOL_MIN_FREE_BYTES)',
    registers,
    collect() {
      const ratio = read().spoolUsageRatio;
      if (ratio !== undefined) this.set(ratio);
    },
  });
  new Gauge({
    name: 'crispy_host_clock_sync_state',
    help: "Whether the host clock (chunk start times) is NTP-synchronised: 1 for the probe's answer, 0 for the others",
    labelNames: ['state'],
    registers,
    collect() {
      const current = read().clockSync;
      for (const state of CLOCK_SYNC_STATES) this.set({ state }, current === state ? 1 : 0);
    },
  });
  return {
    gaps: new Counter({
      name: 'crispy_recording_gaps_total',
      help: 'Gaps between chunks (footage not recorded); their seconds are in crispy_recording_gap_seconds_total',
      labelNames: ['source'],
      registers,
    }),
  };
}

/** The upload queue's jobs by state, read from Redis when scraped (every worker of a queue reports the same). */
export function createQueueMetrics(registry: Registry, counts: () => Promise<Record<string, number>>): void {
  new Gauge({
    name: 'crispy_queue_jobs',
    help: 'Upload jobs by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      for (const [state, count] of Object.entries(await counts())) this.set({ state }, count);
    },
  });
}

/** Buckets of crispy_chunk_closed_to_stored_seconds; the fleet page's upload figures use the same. */
export const CLOSED_TO_STORED_BUCKETS_SECONDS = [0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30, 60, 300] as const;

export interface UploaderMetrics {
  chunksUploaded: Counter<'source' | 'outcome'>;
  uploadFailures: Counter<'source' | 'final'>;
  uploadedBytes: Counter<'source'>;
  closedToStoredSeconds: Histogram<'source'>;
  uploadSeconds: Histogram<'source'>;
  lastStored: Gauge<'source'>;
}

export function createUploaderMetrics(registry: Registry): UploaderMetrics {
  const registers = [registry];
  return {
    chunksUploaded: new Counter({ name: 'crispy_chunks_uploaded_total', help: 'Chunks stored in the bucket', labelNames: ['source', 'outcome'], registers }),
    uploadFailures: new Counter({
      name: 'crispy_chunk_upload_failures_total',
      help: 'Upload attempts that failed; final=true when retries are exhausted',
      labelNames: ['source', 'final'],
      registers,
    }),
    uploadedBytes: new Counter({ name: 'crispy_uploaded_bytes_total', help: 'Bytes stored in the bucket', labelNames: ['source'], registers }),
    closedToStoredSeconds: new Histogram({
      name: 'crispy_chunk_closed_to_stored_seconds',
      help: 'From the chunk being queued (just after ffmpeg closed it) to the bucket confirming it',
      labelNames: ['source'],
      buckets: [...CLOSED_TO_STORED_BUCKETS_SECONDS],
      registers,
    }),
    uploadSeconds: new Histogram({
      name: 'crispy_chunk_upload_seconds',
      help: 'One upload attempt, from reading the file to the bucket confirming it',
      labelNames: ['source'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30],
      registers,
    }),
    lastStored: new Gauge({
      name: 'crispy_chunk_last_stored_timestamp_seconds',
      help: 'When this worker last stored a chunk of the source in the bucket (Unix time); take the max over workers',
      labelNames: ['source'],
      registers,
    }),
  };
}
