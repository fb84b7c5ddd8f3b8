// Creates, once, what the pipeline needs in a Google Cloud project: the bucket (in a location,
// with uniform bucket-level access and public access prevention), the Pub/Sub topic, the bucket
// service agent's right to publish to it, and the bucket's OBJECT_FINALIZE notification in
// JSON_API_V1 format to that topic. Whatever already exists is left alone (a bucket that differs is
// reported, never changed), so running it again creates nothing. Then it prints the command that
// deploys the function (docs/deploy.md).
//
//   npx tsx scripts/provision-gcp.ts --project my-project --bucket my-bucket \
//     [--topic chunk-finalized] [--location europe-west1] [--region europe-west1] \
//     [--function-service-account fn@my-project.iam.gserviceaccount.com] [--dry-run]
//
// GCS_API_ENDPOINT (or STORAGE_EMULATOR_HOST) and PUBSUB_EMULATOR_HOST point it at test servers
// or emulators; emulators have no IAM, so the publisher grant is then skipped.
// Exit codes: 0 done (or planned, with --dry-run), 1 a call failed, 2 bad flags.

import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PubSub } from '@google-cloud/pubsub';
import { Storage, type Bucket } from '@google-cloud/storage';
import { EnvReader, bucketNameProblem, errorMessage, readGcsApiEndpoint } from '@crispy-streamer/shared';

export interface ProvisionOptions {
  project: string;
  bucket: string;
  topic: string;
  /** Bucket location: a region (europe-west1), dual- or multi-region (EU). */
  location: string;
  /** The function's region; defaults to the location when that is a region. */
  region: string | undefined;
  functionServiceAccount: string | undefined;
  dryRun: boolean;
}

export interface ObservedBucket {
  location: string;
  uniformAccess: boolean;
  publicAccessPrevention: string | undefined;
}

export interface ObservedNotification {
  id: string;
  topic: string;
  eventTypes: string[];
  payloadFormat: string;
  objectNamePrefix: string;
}

/** What exists now. `publisher` is 'not-checked' where IAM cannot be read (emulators). */
export interface ObservedState {
  bucket: ObservedBucket | undefined;
  topicExists: boolean;
  notifications: ObservedNotification[];
  publisher: 'granted' | 'missing' | 'not-checked';
  /** The bucket service agent (service-N@gs-project-accounts...), when known. */
  serviceAgent: string | undefined;
}

export type Step =
  | { kind: 'create-bucket'; bucket: string; location: string }
  | { kind: 'create-topic'; topic: string }
  | { kind: 'grant-publisher'; topic: string; member: string }
  | { kind: 'create-notification'; bucket: string; topic: string };

export interface Plan {
  steps: Step[];
  /** What is already there and why it is fine. */
  notes: string[];
  /** What is there and not as this pipeline wants it: reported, never changed. */
  warnings: string[];
}

const PUBLISHER_ROLE = 'roles/pubsub.publisher';
const DEFAULTS = { topic: 'chunk-finalized', location: 'europe-west1' };
const TOPIC_NAME = /^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$/;
const REGION = /^[a-z]+-[a-z]+\d+$/;

export function topicPath(project: string, topic: string): string {
  return `projects/${project}/topics/${topic}`;
}

/** Notification configs name topics as //pubsub.googleapis.com/projects/P/topics/T. */
export function sameTopic(notificationTopic: string, project: string, topic: string): boolean {
  return notificationTopic.replace(/^\/\/pubsub\.[^/]+\//, '') === topicPath(project, topic);
}

/** A notification the function can work from: finalize events (alone or among all), full JSON payload, every object. */
export function deliversChunks(notification: ObservedNotification, project: string, topic: string): boolean {
  const eventsCovered = notification.eventTypes.length === 0 || notification.eventTypes.includes('OBJECT_FINALIZE');
  return sameTopic(notification.topic, project, topic) && notification.payloadFormat === 'JSON_API_V1' && eventsCovered && notification.objectNamePrefix === '';
}

/** Decides what to create from what exists. Pure: the tests drive it with made-up states. */
export function planProvisioning(options: ProvisionOptions, observed: ObservedState): Plan {
  const plan: Plan = { steps: [], notes: [], warnings: [] };
  const gsBucket = `gs://${options.bucket}`;

  if (observed.bucket === undefined) {
    plan.steps.push({ kind: 'create-bucket', bucket: options.bucket, location: options.location });
  } else {
    plan.notes.push(`${gsBucket} exists in ${observed.bucket.location}`);
    if (observed.bucket.location.toUpperCase() !== options.location.toUpperCase()) {
      plan.warnings.push(
        `${gsBucket} is in ${observed.bucket.location}, not ${options.location}: a bucket cannot move; keep it (mind egress) or choose another --bucket`,
      );
    }
    if (!observed.bucket.uniformAccess) {
      plan.warnings.push(
        `${gsBucket} uses fine-grained ACLs: enable uniform bucket-level access (gcloud storage buckets update ${gsBucket} --uniform-bucket-level-access)`,
      );
    }
    if (observed.bucket.publicAccessPrevention !== 'enforced') {
      plan.warnings.push(
        `${gsBucket} does not enforce public access prevention: chunks are evidence (gcloud storage buckets update ${gsBucket} --public-access-prevention)`,
      );
    }
  }

  const fullTopic = topicPath(options.project, options.topic);
  if (observed.topicExists) plan.notes.push(`topic ${fullTopic} exists`);
  else plan.steps.push({ kind: 'create-topic', topic: options.topic });

  if (observed.publisher === 'missing') {
    if (observed.serviceAgent === undefined) throw new Error('the bucket service agent is unknown: cannot plan its publisher grant');
    plan.steps.push({ kind: 'grant-publisher', topic: options.topic, member: `serviceAccount:${observed.serviceAgent}` });
  } else if (observed.publisher === 'granted') {
    plan.notes.push(`${observed.serviceAgent ?? 'the bucket service agent'} may publish to ${fullTopic}`);
  } else {
    plan.notes.push(`IAM not checked (emulator): on Google Cloud the bucket service agent needs ${PUBLISHER_ROLE} on ${fullTopic}`);
  }

  const delivering = observed.notifications.filter((notification) => deliversChunks(notification, options.project, options.topic));
  if (delivering.length === 0) {
    plan.steps.push({ kind: 'create-notification', bucket: options.bucket, topic: options.topic });
  } else {
    plan.notes.push(
      `notification ${delivering.map((notification) => notification.id).join(', ')} of ${gsBucket} delivers OBJECT_FINALIZE (JSON_API_V1) to ${fullTopic}`,
    );
    if (delivering.length > 1)
      plan.warnings.push(
        `${gsBucket} has ${delivering.length} equivalent notifications to ${fullTopic}: every chunk is announced ${delivering.length} times; delete all but one`,
      );
    for (const notification of delivering.filter((candidate) => candidate.eventTypes.length === 0)) {
      plan.warnings.push(`notification ${notification.id} sends every event type: the function skips all but OBJECT_FINALIZE, at a cost per message`);
    }
  }
  for (const notification of observed.notifications) {
    if (sameTopic(notification.topic, options.project, options.topic) && !delivering.includes(notification)) {
      plan.warnings.push(
        `notification ${notification.id} also publishes to ${fullTopic} (payload ${notification.payloadFormat}, events ${notification.eventTypes.join(',') || 'all'}` +
          `${notification.objectNamePrefix === '' ? '' : `, prefix ${notification.objectNamePrefix}`}): the function cannot describe those messages; ` +
          `delete it (gcloud storage buckets notifications delete projects/_/buckets/${options.bucket}/notificationConfigs/${notification.id})`,
      );
    }
  }
  return plan;
}

export function describeStep(step: Step, project: string): string {
  switch (step.kind) {
    case 'create-bucket':
      return `create gs://${step.bucket} in ${step.location} (uniform bucket-level access, public access prevention enforced)`;
    case 'create-topic':
      return `create topic ${topicPath(project, step.topic)}`;
    case 'grant-publisher':
      return `grant ${PUBLISHER_ROLE} on ${topicPath(project, step.topic)} to ${step.member}`;
    case 'create-notification':
      return `create notification: gs://${step.bucket} OBJECT_FINALIZE -> ${topicPath(project, step.topic)} (JSON_API_V1)`;
  }
}

/** The commands that deploy the function onto this topic (docs/deploy.md). */
export function functionDeployCommands(options: ProvisionOptions): string[] {
  const region = options.region ?? (REGION.test(options.location.toLowerCase()) ? options.location.toLowerCase() : 'REGION');
  const serviceAccount = options.functionServiceAccount ?? `FN_SA@${options.project}.iam.gserviceaccount.com`;
  return [
    'bash scripts/package-function.sh',
    `gcloud functions deploy describe-chunk --gen2 --project=${options.project} --region=${region} --runtime=nodejs20 \\`,
    `  --entry-point=describeChunk --trigger-topic=${options.topic} --retry \\`,
    `  --service-account=${serviceAccount} --set-env-vars=SIGNED_URL_SECONDS=3600 --source=deploy/cloud-function`,
    '# The function signs URLs through IAM signBlob and reads the chunks:',
    `gcloud iam service-accounts add-iam-policy-binding ${serviceAccount} --project=${options.project} \\`,
    `  --member=serviceAccount:${serviceAccount} --role=roles/iam.serviceAccountTokenCreator`,
    `gcloud storage buckets add-iam-policy-binding gs://${options.bucket} --member=serviceAccount:${serviceAccount} --role=roles/storage.objectViewer`,
  ];
}

// ---------------------------------------------------------------------------------------------
// Reading and changing the real thing

export interface Clients {
  storage: Storage;
  pubsub: PubSub;
  /** True when IAM cannot be read or set (an emulator or test server is in use). */
  emulated: boolean;
}

export function clientsFromEnvironment(project: string, env: NodeJS.ProcessEnv = process.env): Clients {
  const gcsEndpoint = readGcsApiEndpoint(new EnvReader(env));
  const storage = new Storage({ projectId: project, ...(gcsEndpoint !== undefined && gcsEndpoint !== '' ? { apiEndpoint: gcsEndpoint } : {}) });
  // The Pub/Sub client finds PUBSUB_EMULATOR_HOST itself.
  const pubsub = new PubSub({ projectId: project });
  const emulated = Boolean(gcsEndpoint) || Boolean(env['PUBSUB_EMULATOR_HOST']);
  return { storage, pubsub, emulated };
}

function statusOf(error: unknown): number | undefined {
  const shaped = error as { code?: unknown; response?: { status?: unknown } };
  for (const candidate of [shaped.code, shaped.response?.status]) if (typeof candidate === 'number') return candidate;
  return undefined;
}

/** gRPC ALREADY_EXISTS, or HTTP 409. */
function alreadyExists(error: unknown): boolean {
  const code = statusOf(error);
  return code === 6 || code === 409;
}

async function observeBucket(bucket: Bucket): Promise<ObservedBucket | undefined> {
  try {
    const [metadata] = await bucket.getMetadata();
    return {
      location: metadata.location ?? 'unknown',
      uniformAccess: metadata.iamConfiguration?.uniformBucketLevelAccess?.enabled === true,
      publicAccessPrevention: metadata.iamConfiguration?.publicAccessPrevention,
    };
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    if (statusOf(error) === 403) {
      throw new Error(
        `gs://${bucket.name} exists but this account cannot read it: bucket names are global, so choose another --bucket, or get storage.buckets.get on it`,
        { cause: error },
      );
    }
    throw error;
  }
}

export async function observe(options: ProvisionOptions, clients: Clients): Promise<ObservedState> {
  const bucket = clients.storage.bucket(options.bucket);
  const observedBucket = await observeBucket(bucket);
  const notifications: ObservedNotification[] = [];
  if (observedBucket !== undefined) {
    const [found] = await bucket.getNotifications();
    for (const notification of found) {
      const metadata = notification.metadata;
      notifications.push({
        id: String(metadata.id ?? notification.id),
        topic: metadata.topic ?? '',
        eventTypes: metadata.event_types ?? [],
        payloadFormat: metadata.payload_format ?? 'NONE',
        objectNamePrefix: metadata.object_name_prefix ?? '',
      });
    }
  }
  const topic = clients.pubsub.topic(options.topic);
  const [topicExists] = await topic.exists();

  let publisher: ObservedState['publisher'] = 'not-checked';
  let serviceAgent: string | undefined;
  if (!clients.emulated) {
    const [account] = await clients.storage.getServiceAccount();
    serviceAgent = account.emailAddress;
    if (serviceAgent === undefined) throw new Error(`Cloud Storage named no service agent for project ${options.project}`);
    publisher = 'missing';
    if (topicExists) {
      const [policy] = await topic.iam.getPolicy();
      const member = `serviceAccount:${serviceAgent}`;
      const granted = (policy.bindings ?? []).some((binding) => binding.role === PUBLISHER_ROLE && (binding.members ?? []).includes(member));
      if (granted) publisher = 'granted';
    }
  }
  return { bucket: observedBucket, topicExists, notifications, publisher, serviceAgent };
}

export async function apply(step: Step, options: ProvisionOptions, clients: Clients): Promise<void> {
  switch (step.kind) {
    case 'create-bucket':
      try {
        await clients.storage.createBucket(step.bucket, {
          location: step.location,
          iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' },
        });
      } catch (error) {
        // 409 for a bucket we own means another run created it meanwhile; one we cannot read was refused earlier.
        if (!alreadyExists(error)) throw error;
      }
      return;
    case 'create-topic':
      try {
        await clients.pubsub.createTopic(step.topic);
      } catch (error) {
        if (!alreadyExists(error)) throw error;
      }
      return;
    case 'grant-publisher': {
      const topic = clients.pubsub.topic(step.topic);
      const [policy] = await topic.iam.getPolicy();
      const bindings = policy.bindings ?? [];
      const binding = bindings.find((candidate) => candidate.role === PUBLISHER_ROLE && (candidate.condition === null || candidate.condition === undefined));
      if (binding === undefined) bindings.push({ role: PUBLISHER_ROLE, members: [step.member] });
      else if (!(binding.members ?? []).includes(step.member)) binding.members = [...(binding.members ?? []), step.member];
      // The policy's etag makes a concurrent change fail instead of being overwritten.
      await topic.iam.setPolicy({ ...policy, bindings });
      return;
    }
    case 'create-notification':
      await clients.storage.bucket(step.bucket).createNotification(topicPath(options.project, step.topic), {
        eventTypes: ['OBJECT_FINALIZE'],
        payloadFormat: 'JSON_API_V1',
      });
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Command line

export class UsageError extends Error {}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): ProvisionOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        project: { type: 'string' },
        bucket: { type: 'string' },
        topic: { type: 'string', default: DEFAULTS.topic },
        location: { type: 'string', default: DEFAULTS.location },
        region: { type: 'string' },
        'function-service-account': { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
  const project = (values['project'] as string | undefined) ?? env['GOOGLE_CLOUD_PROJECT'];
  const bucket = values['bucket'] as string | undefined;
  const topic = values['topic'] as string;
  const problems: string[] = [];
  if (project === undefined || project === '') problems.push('--project is required (or set GOOGLE_CLOUD_PROJECT)');
  const bucketProblem = bucket === undefined ? 'is required' : bucketNameProblem(bucket);
  if (bucketProblem !== undefined) problems.push(`--bucket ${bucket ?? '(missing)'}: ${bucketProblem}`);
  if (!TOPIC_NAME.test(topic) || topic.startsWith('goog'))
    problems.push(`--topic ${topic} is not a topic id: 3-255 characters, starting with a letter, not with "goog"`);
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return {
    project: project ?? '',
    bucket: bucket ?? '',
    topic,
    location: values['location'] as string,
    region: values['region'] as string | undefined,
    functionServiceAccount: values['function-service-account'] as string | undefined,
    dryRun: values['dry-run'] === true,
  };
}

export async function provision(options: ProvisionOptions, clients: Clients, log: (line: string) => void): Promise<Plan> {
  const plan = planProvisioning(options, await observe(options, clients));
  for (const note of plan.notes) log(`ok      ${note}`);
  for (const warning of plan.warnings) log(`WARNING ${warning}`);
  if (plan.steps.length === 0) log('nothing to create');
  for (const step of plan.steps) {
    if (options.dryRun) {
      log(`would   ${describeStep(step, options.project)}`);
      continue;
    }
    await apply(step, options, clients);
    log(`created ${describeStep(step, options.project)}`);
  }
  return plan;
}

async function main(): Promise<number> {
  let options: ProvisionOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(
      `${error.message}\nusage: npx tsx scripts/provision-gcp.ts --project P --bucket B [--topic T] [--location L] [--region R] [--function-service-account SA] [--dry-run]`,
    );
    return 2;
  }
  const clients = clientsFromEnvironment(options.project);
  try {
    await provision(options, clients, (line) => console.log(line));
  } catch (error) {
    console.error(`provisioning failed: ${errorMessage(error)}`);
    return 1;
  } finally {
    await clients.pubsub.close();
  }
  console.log(options.dryRun ? '\n(dry run: nothing was changed)' : '');
  console.log('Deploy the function onto the topic (docs/deploy.md):');
  for (const line of functionDeployCommands(options)) console.log(`  ${line}`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
