#!/usr/bin/env node
// `keygen --out DIR`: makes the Ed25519 key pair that signs evidence records.
//   DIR/evidence-private.pem   PKCS#8, mode 0600: stays on the recording node
//   DIR/evidence-public.pem    SubjectPublicKeyInfo: give it to whoever verifies
// Prints the key id (keyIdOf). There is no default folder, so a key never lands in the repo by
// accident, and existing key files are never overwritten: the public key they replaced may be the
// only one that verifies records already in the bucket.
// Dev: node --conditions=source --import tsx evidence-tools/src/keygen.ts --out /etc/crispy/keys
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, open } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { keyIdOf, errorMessage } from '@crispy-streamer/shared';

const USAGE = `usage: keygen --out DIR

Writes an Ed25519 key pair for signing evidence records:
  DIR/evidence-private.pem  (mode 0600; keep it on the recording node, back it up offline)
  DIR/evidence-public.pem   (for verify --public-key)
and prints the key id. DIR is created (mode 0700) if missing; existing key files are never overwritten.
`;

const PRIVATE_KEY_FILE = 'evidence-private.pem';
const PUBLIC_KEY_FILE = 'evidence-public.pem';

/** The git work tree `dir` is inside, if any: a private key there is one `git add .` from leaking. */
function enclosingRepository(dir: string): string | undefined {
  for (let current = dir; ; current = dirname(current)) {
    if (existsSync(join(current, '.git'))) return current;
    if (dirname(current) === current) return undefined;
  }
}

/** Creates the file only if absent, with `mode` from the first byte on. */
async function writeNewFile(path: string, text: string, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  // The umask may have taken bits away; this sets exactly what was asked.
  await chmod(path, mode);
}

async function main(argv: string[]): Promise<number> {
  let out: string | undefined;
  try {
    const { values } = parseArgs({ args: argv, options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } }, strict: true });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    out = values.out;
  } catch (error) {
    process.stderr.write(`keygen: ${errorMessage(error)}\n\n${USAGE}`);
    return 2;
  }
  if (out === undefined || out.trim() === '') {
    process.stderr.write(`keygen: --out DIR is required (there is no default, so keys never land in a repository by accident)\n\n${USAGE}`);
    return 2;
  }
  const dir = resolve(out);
  const privatePath = join(dir, PRIVATE_KEY_FILE);
  const publicPath = join(dir, PUBLIC_KEY_FILE);
  for (const path of [privatePath, publicPath]) {
    if (existsSync(path)) {
      process.stderr.write(`keygen: ${path} exists; refusing to replace a key (move it away first)\n`);
      return 1;
    }
  }
  const repository = enclosingRepository(dir);
  if (repository !== undefined) {
    process.stderr.write(`keygen: warning: ${dir} is inside the git work tree ${repository}; never commit ${PRIVATE_KEY_FILE}\n`);
  }

  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keyId = keyIdOf(publicKey);
  // The public half first: if writing the private one fails, nothing usable for signing is left behind.
  await writeNewFile(publicPath, publicKey.export({ type: 'spki', format: 'pem' }).toString(), 0o644);
  await writeNewFile(privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
  process.stdout.write(`key id: ${keyId}\nprivate key: ${privatePath} (mode 0600)\npublic key: ${publicPath}\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
