// The cloud-function image's HEALTHCHECK. functions-framework serves no health endpoint, and a
// GET / makes the CloudEvent handler fail with a stack trace. So this delivers what the function is
// for, a Pub/Sub push, carrying an event type no bucket sends: the framework must parse it into a
// CloudEvent and the loaded function must run and acknowledge it (2xx) as "not a new object",
// touching no storage and logging only at debug level. A function that did not load, a hung event
// loop or a framework that cannot route events answers otherwise, and the check fails.
const port = process.env.PORT || '8080';
const body = JSON.stringify({
  message: {
    // functions-framework turns a push into a CloudEvent only when the message carries data.
    data: Buffer.from('{"kind":"crispy#healthcheck"}').toString('base64'),
    attributes: { eventType: 'CRISPY_HEALTHCHECK' },
    messageId: `healthcheck-${Date.now()}`,
    publishTime: new Date().toISOString(),
  },
  subscription: 'projects/local/subscriptions/healthcheck',
});
try {
  const response = await fetch(`http://127.0.0.1:${port}/projects/local/topics/healthcheck`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(4000),
  });
  if (!response.ok) {
    process.stderr.write(`function health: the push was answered ${response.status}\n`);
    process.exit(1);
  }
} catch (error) {
  process.stderr.write(`function health: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
