import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnChild, type Child } from './child-process.js';
import { freePort } from './free-port.js';

export interface PubsubEmulator {
  /** 127.0.0.1:PORT, the value for PUBSUB_EMULATOR_HOST. */
  host: string;
  /** http://127.0.0.1:PORT */
  url: string;
  projectId: string;
  /** Kills the emulator's whole process tree (launcher script and Java). Safe to call twice. */
  stop(): Promise<void>;
  /** Creates projects/P/topics/name; an existing topic is fine. */
  createTopic(name: string): Promise<void>;
  /** Creates a subscription whose messages the emulator POSTs to pushEndpoint. */
  createPushSubscription(name: string, topic: string, pushEndpoint: string): Promise<void>;
  createPullSubscription(name: string, topic: string): Promise<void>;
  /** Publishes one message; returns its message id. */
  publish(topic: string, data: string | Uint8Array, attributes?: Record<string, string>): Promise<string>;
}

export interface PubsubEmulatorOptions {
  /** Default 'crispy-test'. */
  projectId?: string;
}

export const PUBSUB_EMULATOR_BIN = process.env.PUBSUB_EMULATOR_BIN ?? '/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator';

const READY_TIMEOUT_MS = 30_000;

export function pubsubEmulatorAvailable(): boolean {
  return existsSync(PUBSUB_EMULATOR_BIN);
}

export async function startPubsubEmulator(options: PubsubEmulatorOptions = {}): Promise<PubsubEmulator> {
  if (!pubsubEmulatorAvailable()) {
    throw new Error(
      `No Pub/Sub emulator at ${PUBSUB_EMULATOR_BIN}. Install it with \`gcloud components install pubsub-emulator\` ` +
        '(or the google-cloud-cli-pubsub-emulator apt package), or point PUBSUB_EMULATOR_BIN at it.',
    );
  }
  const projectId = options.projectId ?? 'crispy-test';
  let port = await freePort();
  let child: Child | undefined;
  // freePort() cannot reserve the port: someone may take it before Java binds it.
  for (let attempt = 1; child === undefined; attempt += 1) {
    try {
      child = await launch(port);
    } catch (error) {
      if (attempt >= 3 || !/already in use|BindException/i.test(String(error))) throw error;
      port = await freePort();
    }
  }
  const emulator: Child = child;
  const url = `http://127.0.0.1:${port}`;
  const projectPath = `projects/${encodeURIComponent(projectId)}`;

  const call = async (method: 'PUT' | 'POST', path: string, body: unknown, allowConflict = false): Promise<unknown> => {
    const response = await fetch(`${url}/v1/${projectPath}/${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (response.ok) return text === '' ? {} : (JSON.parse(text) as unknown);
    if (allowConflict && response.status === 409) return {};
    throw new Error(`Pub/Sub emulator: ${method} ${path} answered ${response.status}: ${text}`);
  };
  const topicPath = (topic: string): string => `${projectPath}/topics/${encodeURIComponent(topic)}`;

  return {
    host: `127.0.0.1:${port}`,
    url,
    projectId,
    async stop() {
      await emulator.stop(3_000);
    },
    async createTopic(name) {
      await call('PUT', `topics/${encodeURIComponent(name)}`, {}, true);
    },
    async createPushSubscription(name, topic, pushEndpoint) {
      await call('PUT', `subscriptions/${encodeURIComponent(name)}`, {
        topic: topicPath(topic),
        pushConfig: { pushEndpoint },
        ackDeadlineSeconds: 10,
      });
    },
    async createPullSubscription(name, topic) {
      await call('PUT', `subscriptions/${encodeURIComponent(name)}`, { topic: topicPath(topic), ackDeadlineSeconds: 10 });
    },
    async publish(topic, data, attributes = {}) {
      const reply = (await call('POST', `topics/${encodeURIComponent(topic)}:publish`, {
        messages: [{ data: Buffer.from(data).toString('base64'), attributes }],
      })) as { messageIds?: string[] };
      const id = reply.messageIds?.[0];
      if (id === undefined) throw new Error(`Pub/Sub emulator returned no message id: ${JSON.stringify(reply)}`);
      return id;
    },
  };
}

async function launch(port: number): Promise<Child> {
  // Spawned as its own process group: the launcher script execs Java, and stop()
  // signals the group, so nothing of the emulator survives it.
  const child = spawnChild(PUBSUB_EMULATOR_BIN, ['--host=127.0.0.1', `--port=${port}`], { name: `pubsub-emulator:${port}` });
  try {
    await Promise.race([
      waitForHttp(`http://127.0.0.1:${port}/`, READY_TIMEOUT_MS),
      child.exited.then((status) => {
        throw new Error(`Pub/Sub emulator exited with ${JSON.stringify(status)} before answering HTTP`);
      }),
    ]);
  } catch (error) {
    await child.kill();
    throw new Error(`${(error as Error).message}\nLast output:\n${child.tail()}`, { cause: error });
  }
  return child;
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastProblem = 'no answer';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.ok) return;
      lastProblem = `HTTP ${response.status}`;
    } catch (error) {
      lastProblem = (error as Error).message;
    }
    await sleep(50);
  }
  throw new Error(`Pub/Sub emulator at ${url} did not answer within ${timeoutMs} ms (${lastProblem})`);
}
