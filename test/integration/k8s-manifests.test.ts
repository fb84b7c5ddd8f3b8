/**
 * deploy/k8s, offline: every YAML file parses; each overlay (and the documented component
 * combinations) builds with kustomize (kubectl's built-in, skipped with a message when kubectl is
 * missing); every built object validates against the Kubernetes OpenAPI schemas (kubernetes-models)
 * or, for KEDA's custom resources, against the fields KEDA requires; and the deployment's
 * invariants hold: one edge pod per site with recorder and workers sharing /spool, Redis with AOF,
 * noeviction and a volume, Secrets referred to and never contained, probes, requests, the
 * restricted Pod Security Standard, references that resolve after kustomize renamed things.
 *
 * The invariants are a pure function over the built objects; the "catches" tests break a copy and
 * expect the matching problem.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolume } from 'kubernetes-models/v1/PersistentVolume';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { StorageClass } from 'kubernetes-models/storage.k8s.io/v1/StorageClass';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const K8S_DIR = join(REPO_ROOT, 'deploy/k8s');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at a path of keys, or undefined. */
function at(value: Json | undefined, ...path: string[]): Json | undefined {
  let current = value;
  for (const key of path) current = isObject(current) ? current[key] : undefined;
  return current;
}

function objects(value: Json | undefined): JsonObject[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

function text(value: Json | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function objectAt(value: Json | undefined): JsonObject {
  return isObject(value) ? value : {};
}

function kindOf(object: JsonObject): string {
  return `${text(object['apiVersion']) ?? '?'}/${text(object['kind']) ?? '?'}`;
}

function nameOf(object: JsonObject): string {
  return text(at(object, 'metadata', 'name')) ?? '?';
}

// ---------------------------------------------------------------------------------------------
// Schema validation

type Validator = (object: JsonObject) => string[];

function modelValidator<T>(Model: new (data?: T) => { validate(): void }): Validator {
  return (object) => {
    try {
      new Model(object as unknown as T).validate();
      return [];
    } catch (error) {
      return [(error as Error).message];
    }
  };
}

/** KEDA's CRDs are not in the Kubernetes OpenAPI: the fields its admission requires, checked here. */
function requireFields(...paths: string[][]): Validator {
  return (object) => paths.filter((path) => at(object, ...path) === undefined).map((path) => `${path.join('.')} is required`);
}

const VALIDATORS: Record<string, Validator> = {
  'v1/ConfigMap': modelValidator(ConfigMap),
  'v1/Namespace': modelValidator(Namespace),
  'v1/PersistentVolume': modelValidator(PersistentVolume),
  'v1/PersistentVolumeClaim': modelValidator(PersistentVolumeClaim),
  'v1/Service': modelValidator(Service),
  'v1/ServiceAccount': modelValidator(ServiceAccount),
  'apps/v1/Deployment': modelValidator(Deployment),
  'apps/v1/StatefulSet': modelValidator(StatefulSet),
  'networking.k8s.io/v1/NetworkPolicy': modelValidator(NetworkPolicy),
  'storage.k8s.io/v1/StorageClass': modelValidator(StorageClass),
  'keda.sh/v1alpha1/ScaledObject': (object) => [
    ...requireFields(['metadata', 'name'], ['spec', 'scaleTargetRef', 'name'], ['spec', 'triggers'])(object),
    ...objects(at(object, 'spec', 'triggers')).flatMap((trigger, index) =>
      requireFields(['type'], ['metadata'])(trigger).map((problem) => `triggers[${index}].${problem}`),
    ),
  ],
  'keda.sh/v1alpha1/TriggerAuthentication': requireFields(['metadata', 'name'], ['spec']),
};

function schemaProblems(built: JsonObject[]): string[] {
  return built.flatMap((object) => {
    const validator = VALIDATORS[kindOf(object)];
    if (validator === undefined) return [`${kindOf(object)} ${nameOf(object)}: no validator for this kind (add one, or do not use it)`];
    return validator(object).map((problem) => `${kindOf(object)} ${nameOf(object)}: ${problem}`);
  });
}

// ---------------------------------------------------------------------------------------------
// Pods, containers and what they refer to

interface PodOwner {
  owner: JsonObject;
  pod: JsonObject;
  labels: JsonObject;
}

function podOwners(built: JsonObject[]): PodOwner[] {
  return built
    .filter((object) => object['kind'] === 'Deployment' || object['kind'] === 'StatefulSet')
    .map((owner) => ({ owner, pod: objectAt(at(owner, 'spec', 'template', 'spec')), labels: objectAt(at(owner, 'spec', 'template', 'metadata', 'labels')) }));
}

function containersOf(pod: JsonObject): JsonObject[] {
  return [...objects(pod['initContainers']), ...objects(pod['containers'])];
}

function container(pod: JsonObject, name: string): JsonObject | undefined {
  return containersOf(pod).find((candidate) => candidate['name'] === name);
}

function envEntry(containerSpec: JsonObject | undefined, name: string): JsonObject | undefined {
  return objects(containerSpec?.['env']).find((entry) => entry['name'] === name);
}

/** A literal env value, or the value of the ConfigMap key it refers to. */
function envValue(built: JsonObject[], containerSpec: JsonObject | undefined, name: string): string | undefined {
  const entry = envEntry(containerSpec, name);
  if (entry === undefined) return undefined;
  const literal = text(entry['value']);
  if (literal !== undefined) return literal;
  const ref = at(entry, 'valueFrom', 'configMapKeyRef');
  const configMap = built.find((object) => object['kind'] === 'ConfigMap' && nameOf(object) === text(at(ref, 'name')));
  return text(at(configMap, 'data', text(at(ref, 'key')) ?? ''));
}

function mountAt(containerSpec: JsonObject | undefined, path: string): JsonObject | undefined {
  return objects(containerSpec?.['volumeMounts']).find((mount) => mount['mountPath'] === path);
}

function volume(pod: JsonObject, name: Json | undefined): JsonObject | undefined {
  return objects(pod['volumes']).find((candidate) => candidate['name'] === name);
}

function selects(selector: Json | undefined, labels: JsonObject): boolean {
  const wanted = Object.entries(objectAt(selector));
  return wanted.length > 0 && wanted.every(([key, value]) => labels[key] === value);
}

/** Every Secret name the objects refer to (env, envFrom, volumes, KEDA). */
function referencedSecrets(built: JsonObject[]): Set<string> {
  const names = new Set<string>();
  for (const { pod } of podOwners(built)) {
    for (const containerSpec of containersOf(pod)) {
      for (const entry of objects(containerSpec['env'])) {
        const name = text(at(entry, 'valueFrom', 'secretKeyRef', 'name'));
        if (name !== undefined) names.add(name);
      }
      for (const source of objects(containerSpec['envFrom'])) {
        const name = text(at(source, 'secretRef', 'name'));
        if (name !== undefined) names.add(name);
      }
    }
    for (const podVolume of objects(pod['volumes'])) {
      const name = text(at(podVolume, 'secret', 'secretName'));
      if (name !== undefined) names.add(name);
    }
  }
  for (const auth of built.filter((object) => object['kind'] === 'TriggerAuthentication')) {
    for (const ref of objects(at(auth, 'spec', 'secretTargetRef'))) {
      const name = text(ref['name']);
      if (name !== undefined) names.add(name);
    }
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// The invariants

const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|RTSP_URL|SOURCE_URL)$/i;
const URL_WITH_PASSWORD = /:\/\/[^/\s:@]*:([^@\s/]+)@/;

function flagValue(args: string[], flag: string): string | undefined {
  const index = args.indexOf(flag);
  return index >= 0 ? args[index + 1] : args.find((arg) => arg.startsWith(`${flag}=`))?.slice(flag.length + 1);
}

function millisecondsToSeconds(value: string | undefined, fallbackMs: number): number {
  return Math.ceil(Number(value ?? fallbackMs) / 1000);
}

/** What every overlay must satisfy. */
function manifestProblems(built: JsonObject[], namespace: string): string[] {
  const problems: string[] = [];
  const owners = podOwners(built);
  const configMaps = built.filter((object) => object['kind'] === 'ConfigMap');
  const services = built.filter((object) => object['kind'] === 'Service');
  const claims = built.filter((object) => object['kind'] === 'PersistentVolumeClaim');

  // Secrets are referred to, never contained.
  for (const object of built.filter((candidate) => candidate['kind'] === 'Secret')) problems.push(`Secret ${nameOf(object)} is contained in the manifests: create it out of band`);
  for (const configMap of configMaps) {
    for (const [key, value] of Object.entries(objectAt(configMap['data']))) {
      if (typeof value === 'string' && URL_WITH_PASSWORD.test(value)) problems.push(`ConfigMap ${nameOf(configMap)}: ${key} holds a URL with a password`);
      if (SECRET_NAME.test(key)) problems.push(`ConfigMap ${nameOf(configMap)}: ${key} looks like a secret`);
    }
  }

  // Namespaced objects land in the overlay's namespace, which enforces the restricted standard.
  const clusterScoped = new Set(['Namespace', 'PersistentVolume', 'StorageClass']);
  for (const object of built) {
    const objectNamespace = text(at(object, 'metadata', 'namespace'));
    if (!clusterScoped.has(text(object['kind']) ?? '') && objectNamespace !== namespace) problems.push(`${kindOf(object)} ${nameOf(object)} is in namespace ${objectNamespace ?? '(none)'}, not ${namespace}`);
  }
  const namespaceObject = built.find((object) => object['kind'] === 'Namespace' && nameOf(object) === namespace);
  if (namespaceObject !== undefined && at(namespaceObject, 'metadata', 'labels', 'pod-security.kubernetes.io/enforce') !== 'restricted') {
    problems.push(`Namespace ${namespace} does not enforce the restricted Pod Security Standard`);
  }

  // The edge pod: recorder and uploader together, one replica, replaced not rolled.
  const edges = owners.filter(({ pod }) => container(pod, 'stream-handle') !== undefined);
  if (edges.length !== 1) problems.push(`expected one workload running stream-handle, found ${edges.length}`);
  for (const { owner, pod } of edges) {
    const where = `${owner['kind']} ${nameOf(owner)}`;
    const recorder = container(pod, 'stream-handle');
    const uploader = container(pod, 'upload-worker');
    if (uploader === undefined) problems.push(`${where}: no upload-worker container beside stream-handle: chunks must be uploaded from the pod that recorded them`);
    if (owner['kind'] === 'Deployment') {
      if (at(owner, 'spec', 'replicas') !== 1) problems.push(`${where}: replicas must be 1 (two recorders would cut the same cameras twice)`);
      if (at(owner, 'spec', 'strategy', 'type') !== 'Recreate') problems.push(`${where}: strategy must be Recreate (a rolling update runs two recorders at once)`);
    }
    const spoolDir = envValue(built, recorder, 'SPOOL_DIR');
    if (spoolDir === undefined) problems.push(`${where}: stream-handle has no SPOOL_DIR`);
    const recorderMount = mountAt(recorder, spoolDir ?? '/spool');
    const uploaderMount = objects(uploader?.['volumeMounts']).find((mount) => mount['name'] === recorderMount?.['name']);
    if (recorderMount === undefined) problems.push(`${where}: stream-handle mounts nothing at SPOOL_DIR ${spoolDir ?? ''}`);
    else if (uploaderMount === undefined) problems.push(`${where}: upload-worker does not mount the spool volume "${String(recorderMount['name'])}"`);
    else if (uploaderMount['mountPath'] !== recorderMount['mountPath']) problems.push(`${where}: upload-worker mounts the spool at ${String(uploaderMount['mountPath'])}, stream-handle at ${String(recorderMount['mountPath'])}: jobs name files by path`);
    const spoolVolume = volume(pod, recorderMount?.['name']);
    if (spoolVolume !== undefined && spoolVolume['emptyDir'] === undefined && spoolVolume['persistentVolumeClaim'] === undefined) {
      problems.push(`${where}: the spool must be an emptyDir or a node-local PersistentVolumeClaim`);
    }
    // SOURCES_FILE lives in the mounted sources ConfigMap.
    const sourcesFile = envValue(built, recorder, 'SOURCES_FILE');
    if (sourcesFile !== undefined) {
      const directory = dirname(sourcesFile);
      const sourcesVolume = volume(pod, mountAt(recorder, directory)?.['name']);
      const sourcesMap = configMaps.find((configMap) => nameOf(configMap) === text(at(sourcesVolume, 'configMap', 'name')));
      const document = text(at(sourcesMap, 'data', sourcesFile.slice(directory.length + 1)));
      if (document === undefined) problems.push(`${where}: SOURCES_FILE ${sourcesFile} is not a key of a ConfigMap mounted at ${directory}`);
      else if (!Array.isArray(at(parseYaml(document) as Json, 'sources'))) problems.push(`${where}: ${sourcesFile} has no "sources:" list`);
    }
  }

  // Uploaders: a bucket, Bull Board credentials from a Secret, probes on /healthz.
  for (const { owner, pod } of owners) {
    const uploader = container(pod, 'upload-worker');
    if (uploader === undefined) continue;
    const where = `${owner['kind']} ${nameOf(owner)}`;
    if (envValue(built, uploader, 'BUCKET_URL') === undefined) problems.push(`${where}: upload-worker has no BUCKET_URL`);
    const httpPort = Number(envValue(built, uploader, 'HTTP_PORT') ?? 3000);
    const portNumber = (port: Json | undefined): number | undefined =>
      typeof port === 'number' ? port : (objects(uploader['ports']).find((candidate) => candidate['name'] === port)?.['containerPort'] as number | undefined);
    for (const probe of ['readinessProbe', 'livenessProbe']) {
      const httpGet = at(uploader, probe, 'httpGet');
      if (at(httpGet, 'path') !== '/healthz' || portNumber(at(httpGet, 'port')) !== httpPort) problems.push(`${where}: upload-worker ${probe} must GET /healthz on HTTP_PORT ${httpPort}`);
    }
    const host = envValue(built, uploader, 'HTTP_HOST');
    if (host !== '0.0.0.0' && host !== '::') problems.push(`${where}: upload-worker HTTP_HOST must listen beyond loopback for its probes and Service`);
    for (const name of ['BOARD_USER', 'BOARD_PASSWORD']) {
      if (at(envEntry(uploader, name), 'valueFrom', 'secretKeyRef') === undefined) problems.push(`${where}: ${name} must come from a Secret (Bull Board is reachable beyond the pod)`);
    }
    const graceSeconds = Number(at(pod, 'terminationGracePeriodSeconds') ?? 30);
    const needed = Math.max(
      millisecondsToSeconds(envValue(built, uploader, 'SHUTDOWN_GRACE_MS'), 30_000),
      millisecondsToSeconds(envValue(built, container(pod, 'stream-handle'), 'STOP_GRACE_MS'), 10_000),
    );
    if (graceSeconds <= needed) problems.push(`${where}: terminationGracePeriodSeconds ${graceSeconds} must exceed the services' own shutdown grace (${needed} s)`);
  }

  // Bull Board's Service reaches the uploader's HTTP port.
  const board = services.find((service) => owners.some(({ pod, labels }) => selects(at(service, 'spec', 'selector'), labels) && container(pod, 'upload-worker') !== undefined));
  if (board === undefined) problems.push('no Service selects a pod running upload-worker (Bull Board)');
  for (const service of services) {
    const targets = owners.filter(({ labels }) => selects(at(service, 'spec', 'selector'), labels));
    if (targets.length === 0) problems.push(`Service ${nameOf(service)} selects no pod`);
    for (const port of objects(at(service, 'spec', 'ports'))) {
      const target = port['targetPort'] ?? port['port'];
      const served = targets.some(({ pod }) => containersOf(pod).some((containerSpec) => objects(containerSpec['ports']).some((p) => p['name'] === target || p['containerPort'] === target)));
      if (!served) problems.push(`Service ${nameOf(service)}: targetPort ${String(target)} is no container port of the pods it selects`);
    }
  }

  // Redis: AOF, noeviction, data on a claim, reachable as REDIS_URL says.
  const redisOwners = owners.filter(({ pod }) => containersOf(pod).some((containerSpec) => /(^|\/)redis(:|$)/.test(text(containerSpec['image']) ?? '')));
  if (redisOwners.length === 0) problems.push('no Redis workload (or point REDIS_URL at a managed Redis and drop this check)');
  for (const { owner, pod } of redisOwners) {
    const where = `${owner['kind']} ${nameOf(owner)}`;
    const redis = containersOf(pod).find((containerSpec) => /(^|\/)redis(:|$)/.test(text(containerSpec['image']) ?? ''));
    const args = [...(Array.isArray(redis?.['command']) ? redis['command'] : []), ...(Array.isArray(redis?.['args']) ? redis['args'] : [])].map(String);
    if (flagValue(args, '--appendonly') !== 'yes') problems.push(`${where}: redis-server needs --appendonly yes`);
    if (flagValue(args, '--maxmemory-policy') !== 'noeviction') problems.push(`${where}: redis-server needs --maxmemory-policy noeviction`);
    const dataDir = flagValue(args, '--dir') ?? '/data';
    const dataMount = mountAt(redis, dataDir);
    const templates = objects(at(owner, 'spec', 'volumeClaimTemplates')).map((template) => nameOf(template));
    const dataVolume = volume(pod, dataMount?.['name']);
    if (dataMount === undefined || (!templates.includes(String(dataMount['name'])) && at(dataVolume, 'persistentVolumeClaim') === undefined)) {
      problems.push(`${where}: ${dataDir} is not on a PersistentVolumeClaim (the AOF would die with the pod)`);
    }
  }
  // Redis is fenced by a NetworkPolicy, and every pod that uses it is let in.
  const redisPolicies = built.filter(
    (object) => object['kind'] === 'NetworkPolicy' && redisOwners.some(({ labels }) => selects(at(object, 'spec', 'podSelector', 'matchLabels'), labels)),
  );
  if (redisOwners.length > 0 && redisPolicies.length === 0) problems.push('no NetworkPolicy selects the Redis pods: anything in the cluster could reach the queue');
  const letIn = (labels: JsonObject): boolean =>
    redisPolicies.some((policy) =>
      objects(at(policy, 'spec', 'ingress')).some((rule) => objects(rule['from']).some((peer) => peer['namespaceSelector'] === undefined && selects(at(peer, 'podSelector', 'matchLabels'), labels))),
    );
  for (const { owner, pod, labels } of owners) {
    if (redisPolicies.length > 0 && containersOf(pod).some((containerSpec) => envEntry(containerSpec, 'REDIS_URL') !== undefined) && !letIn(labels)) {
      problems.push(`${owner['kind']} ${nameOf(owner)}: uses Redis but no NetworkPolicy lets its pods in`);
    }
  }
  for (const { owner, pod } of owners) {
    for (const containerSpec of containersOf(pod)) {
      const url = envValue(built, containerSpec, 'REDIS_URL');
      if (url === undefined) continue;
      const host = /^rediss?:\/\/(?:[^@/]*@)?([^:/]+)/.exec(url)?.[1] ?? '';
      const serviceName = host.split('.')[0] ?? '';
      if (!services.some((service) => nameOf(service) === serviceName && redisOwners.some(({ labels }) => selects(at(service, 'spec', 'selector'), labels)))) {
        problems.push(`${owner['kind']} ${nameOf(owner)}/${String(containerSpec['name'])}: REDIS_URL host ${host} is not the Redis Service`);
      }
    }
  }

  // Every pod: restricted Pod Security Standard, requests, no literal secrets, references resolve.
  const secretVolumeNames = new Set<string>();
  for (const { owner, pod } of owners) {
    const where = `${owner['kind']} ${nameOf(owner)}`;
    if (at(pod, 'securityContext', 'runAsNonRoot') !== true) problems.push(`${where}: securityContext.runAsNonRoot must be true`);
    if (at(pod, 'securityContext', 'seccompProfile', 'type') !== 'RuntimeDefault') problems.push(`${where}: seccompProfile must be RuntimeDefault`);
    for (const flag of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[flag] === true) problems.push(`${where}: ${flag} is not allowed`);
    for (const podVolume of objects(pod['volumes'])) {
      if (podVolume['hostPath'] !== undefined) problems.push(`${where}: hostPath volume ${String(podVolume['name'])} (use a local PersistentVolume)`);
      const claim = text(at(podVolume, 'persistentVolumeClaim', 'claimName'));
      if (claim !== undefined && !claims.some((candidate) => nameOf(candidate) === claim)) problems.push(`${where}: volume ${String(podVolume['name'])} claims ${claim}, which no PersistentVolumeClaim here provides`);
      const map = text(at(podVolume, 'configMap', 'name'));
      if (map !== undefined && !configMaps.some((candidate) => nameOf(candidate) === map)) problems.push(`${where}: volume ${String(podVolume['name'])} mounts ConfigMap ${map}, which is not built here`);
      const secretName = text(at(podVolume, 'secret', 'secretName'));
      if (secretName !== undefined) secretVolumeNames.add(secretName);
    }
    for (const containerSpec of containersOf(pod)) {
      const cwhere = `${where}/${String(containerSpec['name'])}`;
      const security = objectAt(containerSpec['securityContext']);
      if (security['allowPrivilegeEscalation'] !== false) problems.push(`${cwhere}: allowPrivilegeEscalation must be false`);
      if (security['privileged'] === true) problems.push(`${cwhere}: privileged is not allowed`);
      const dropped = at(security, 'capabilities', 'drop');
      if (!Array.isArray(dropped) || !dropped.includes('ALL')) problems.push(`${cwhere}: capabilities must drop ALL`);
      for (const resource of ['cpu', 'memory']) if (at(containerSpec, 'resources', 'requests', resource) === undefined) problems.push(`${cwhere}: no ${resource} request`);
      if (at(containerSpec, 'resources', 'limits', 'memory') === undefined) problems.push(`${cwhere}: no memory limit`);
      const image = text(containerSpec['image']) ?? '';
      if (!/:[\w.-]+$/.test(image) || image.endsWith(':latest')) problems.push(`${cwhere}: image ${image} needs a fixed tag`);
      for (const mount of objects(containerSpec['volumeMounts'])) {
        if (volume(pod, mount['name']) === undefined && !objects(at(owner, 'spec', 'volumeClaimTemplates')).some((template) => nameOf(template) === mount['name'])) {
          problems.push(`${cwhere}: mounts volume ${String(mount['name'])}, which the pod does not define`);
        }
      }
      // Kubernetes expands $(VAR) only from variables defined earlier in the list (any, in args).
      const envNames = objects(containerSpec['env']).map((entry) => String(entry['name']));
      objects(containerSpec['env']).forEach((entry, index) => {
        for (const [, variable = ''] of (text(entry['value']) ?? '').matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
          if (!envNames.slice(0, index).includes(variable)) problems.push(`${cwhere}: ${String(entry['name'])} uses $(${variable}) before it is defined, so it stays literal`);
        }
      });
      for (const arg of [...(Array.isArray(containerSpec['command']) ? containerSpec['command'] : []), ...(Array.isArray(containerSpec['args']) ? containerSpec['args'] : [])]) {
        for (const [, variable = ''] of String(arg).matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
          if (!envNames.includes(variable)) problems.push(`${cwhere}: argument ${String(arg)} uses $(${variable}), which the container does not define`);
        }
      }
      for (const entry of objects(containerSpec['env'])) {
        const name = String(entry['name']);
        const literal = text(entry['value']);
        if (SECRET_NAME.test(name) && literal !== undefined && literal !== '') problems.push(`${cwhere}: ${name} is a literal: take it from a Secret`);
        if (literal !== undefined && URL_WITH_PASSWORD.exec(literal)?.[1]?.startsWith('$(') === false) problems.push(`${cwhere}: ${name} holds a URL with a literal password`);
        const ref = objectAt(at(entry, 'valueFrom', 'configMapKeyRef'));
        if (ref['name'] !== undefined) {
          const map = configMaps.find((candidate) => nameOf(candidate) === ref['name']);
          if (map === undefined || at(map, 'data', String(ref['key'])) === undefined) problems.push(`${cwhere}: ${name} refers to ConfigMap ${String(ref['name'])} key ${String(ref['key'])}, which is not built here`);
        }
      }
    }
  }
  return problems;
}

/** The node-local spool: a claim bound through a no-provisioner class to a local PV pinned to a node. */
function nodeLocalSpoolProblems(built: JsonObject[]): string[] {
  const edge = podOwners(built).find(({ pod }) => container(pod, 'stream-handle') !== undefined);
  if (edge === undefined) return ['no edge pod'];
  const spoolVolume = volume(edge.pod, mountAt(container(edge.pod, 'stream-handle'), '/spool')?.['name']);
  const claimName = text(at(spoolVolume, 'persistentVolumeClaim', 'claimName'));
  if (claimName === undefined) return ['the spool is not a PersistentVolumeClaim'];
  if (spoolVolume?.['emptyDir'] !== undefined) return ['the spool volume has two sources (emptyDir and a claim)'];
  const claim = built.find((object) => object['kind'] === 'PersistentVolumeClaim' && nameOf(object) === claimName);
  const className = text(at(claim, 'spec', 'storageClassName'));
  const storageClass = built.find((object) => object['kind'] === 'StorageClass' && nameOf(object) === className);
  const problems: string[] = [];
  if (storageClass?.['provisioner'] !== 'kubernetes.io/no-provisioner' || storageClass['volumeBindingMode'] !== 'WaitForFirstConsumer') {
    problems.push(`claim ${claimName}: storage class ${className ?? '(none)'} must be a no-provisioner class binding on first consumer`);
  }
  const volumes = built.filter((object) => object['kind'] === 'PersistentVolume' && at(object, 'spec', 'storageClassName') === className);
  if (volumes.length === 0) problems.push(`no PersistentVolume of class ${className ?? '(none)'}`);
  for (const persistentVolume of volumes) {
    if (at(persistentVolume, 'spec', 'local', 'path') === undefined) problems.push(`PersistentVolume ${nameOf(persistentVolume)} is not a local volume`);
    if (objects(at(persistentVolume, 'spec', 'nodeAffinity', 'required', 'nodeSelectorTerms')).length === 0) problems.push(`PersistentVolume ${nameOf(persistentVolume)} is pinned to no node`);
    if (at(persistentVolume, 'spec', 'persistentVolumeReclaimPolicy') !== 'Retain') problems.push(`PersistentVolume ${nameOf(persistentVolume)} must be Retain: chunks may not be uploaded yet`);
  }
  return problems;
}

/** KEDA's trigger watches this site's queue in this site's Redis, with the Redis password Secret. */
function kedaProblems(built: JsonObject[], namespace: string): string[] {
  const problems: string[] = [];
  const scaled = built.filter((object) => object['kind'] === 'ScaledObject');
  if (scaled.length === 0) return ['no ScaledObject'];
  const queueName = text(at(built.find((object) => object['kind'] === 'ConfigMap' && nameOf(object).startsWith('edge-settings')), 'data', 'QUEUE_NAME'));
  for (const object of scaled) {
    const targetName = text(at(object, 'spec', 'scaleTargetRef', 'name'));
    const target = built.find((candidate) => candidate['kind'] === 'Deployment' && nameOf(candidate) === targetName);
    if (target === undefined) {
      problems.push(`ScaledObject ${nameOf(object)}: scale target ${targetName ?? '(none)'} is not a Deployment here`);
    } else {
      const pod = objectAt(at(target, 'spec', 'template', 'spec'));
      if (container(pod, 'stream-handle') !== undefined) problems.push(`ScaledObject ${nameOf(object)} scales the recorder: scale upload workers only`);
      if (text(at(volume(pod, mountAt(container(pod, 'upload-worker'), '/spool')?.['name']), 'persistentVolumeClaim', 'claimName')) === undefined) {
        problems.push(`ScaledObject ${nameOf(object)}: its pods do not mount the edge pod's spool claim at /spool`);
      }
    }
    for (const trigger of objects(at(object, 'spec', 'triggers'))) {
      if (trigger['type'] !== 'redis') continue;
      const listName = text(at(trigger, 'metadata', 'listName'));
      if (listName !== `bull:${queueName ?? '?'}:wait`) problems.push(`ScaledObject ${nameOf(object)}: listName ${listName ?? '(none)'} is not bull:${queueName ?? '?'}:wait`);
      const address = text(at(trigger, 'metadata', 'address')) ?? '';
      if (!address.startsWith(`redis.${namespace}.svc`)) problems.push(`ScaledObject ${nameOf(object)}: address ${address} is not the Redis Service of namespace ${namespace}`);
      const authName = text(at(trigger, 'authenticationRef', 'name'));
      if (!built.some((candidate) => candidate['kind'] === 'TriggerAuthentication' && nameOf(candidate) === authName)) problems.push(`ScaledObject ${nameOf(object)}: authenticationRef ${authName ?? '(none)'} is not defined`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Building

async function kubectlAvailable(): Promise<boolean> {
  try {
    await run('kubectl', ['version', '--client'], { timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

const KUBECTL = await kubectlAvailable();
if (!KUBECTL) console.warn('k8s-manifests: kubectl is not installed, so the overlays are not built (the raw files are still parsed)');

async function build(directory: string): Promise<JsonObject[]> {
  const { stdout } = await run('kubectl', ['kustomize', directory], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((document) => document.toJSON() as Json).filter(isObject);
}

/** A throw-away kustomization combining base and components (kustomize wants relative paths). */
async function buildCombination(scratch: string, name: string, namespace: string, components: string[]): Promise<JsonObject[]> {
  const directory = join(scratch, name);
  const relativeTo = (path: string) => relative(directory, join(K8S_DIR, path));
  await mkdir(directory, { recursive: true });
  const kustomization = [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    `namespace: ${namespace}`,
    'resources:',
    `  - ${relativeTo('base')}`,
    'components:',
    ...components.map((component) => `  - ${relativeTo(`components/${component}`)}`),
    '',
  ].join('\n');
  await writeFile(join(directory, 'kustomization.yaml'), kustomization);
  return build(directory);
}

function yamlFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((entry) => {
    const path = join(directory, entry);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry) ? [path] : [];
  });
}

/** Files a configMapGenerator turns into ConfigMap data (not manifests themselves). */
function generatorDataFiles(): string[] {
  return yamlFiles(K8S_DIR)
    .filter((file) => /kustomization\.yaml$/.test(file))
    .flatMap((file) => {
      const document = objectAt(parseYaml(readFileSync(file, 'utf8')) as Json);
      return objects(document['configMapGenerator']).flatMap((generator) =>
        (Array.isArray(generator['files']) ? generator['files'] : []).map((entry) => resolve(dirname(file), String(entry).replace(/^[^=]*=/, ''))),
      );
    });
}

function findObject(built: JsonObject[], kind: string, name: string): JsonObject {
  const found = built.find((object) => object['kind'] === kind && nameOf(object) === name);
  if (found === undefined) throw new Error(`no ${kind} ${name}`);
  return found;
}

function edgePod(built: JsonObject[]): JsonObject {
  return objectAt(at(findObject(built, 'Deployment', 'crispy-edge'), 'spec', 'template', 'spec'));
}

// ---------------------------------------------------------------------------------------------

describe('deploy/k8s files', () => {
  it('are all well-formed YAML: manifests with a kind and apiVersion, generator data as the services read it', () => {
    const files = yamlFiles(K8S_DIR);
    const data = generatorDataFiles();
    expect(files.length).toBeGreaterThan(15);
    expect(data.map((file) => relative(K8S_DIR, file))).toEqual(['base/sources.yaml']);
    for (const file of files) {
      const documents = parseAllDocuments(readFileSync(file, 'utf8'));
      for (const document of documents) {
        expect(document.errors, file).toEqual([]);
        const object = document.toJSON() as Json;
        if (data.includes(file)) {
          expect(Array.isArray(at(object, 'sources')), `${file}: a "sources:" list, as stream-handle requires`).toBe(true);
          continue;
        }
        expect(isObject(object) && typeof object['kind'] === 'string' && typeof object['apiVersion'] === 'string', `${file}: kind and apiVersion`).toBe(true);
      }
    }
  });

  it('list every file they use in a kustomization', () => {
    // A manifest nobody lists would silently never be applied.
    const kustomizations = yamlFiles(K8S_DIR).filter((file) => /kustomization\.yaml$/.test(file));
    const listed = new Set<string>();
    for (const file of kustomizations) {
      const document = objectAt(parseYaml(readFileSync(file, 'utf8')) as Json);
      const entries = [...(Array.isArray(document['resources']) ? document['resources'] : []), ...objects(document['patches']).map((patch) => patch['path'])];
      for (const generator of objects(document['configMapGenerator'])) entries.push(...(Array.isArray(generator['files']) ? generator['files'] : []));
      for (const entry of entries) if (typeof entry === 'string') listed.add(resolve(dirname(file), entry));
    }
    const unlisted = yamlFiles(K8S_DIR).filter((file) => !/kustomization\.yaml$/.test(file) && !listed.has(file));
    expect(unlisted.map((file) => relative(K8S_DIR, file))).toEqual([]);
  });
});

describe.skipIf(!KUBECTL)('deploy/k8s overlays, built with kustomize', () => {
  let scratch: string;
  let local: JsonObject[];
  let gcs: JsonObject[];
  let gcsWithKeda: JsonObject[];
  let gke: JsonObject[];

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'k8s-manifests-'));
    [local, gcs, gcsWithKeda, gke] = await Promise.all([
      build(join(K8S_DIR, 'overlays/local')),
      build(join(K8S_DIR, 'overlays/gcs')),
      // The order the KEDA component's comment prescribes.
      buildCombination(scratch, 'keda', 'crispy-streamer', ['node-local-spool', 'keda-upload-scaling', 'gcs-bucket', 'gcp-key-file']),
      buildCombination(scratch, 'gke', 'crispy-streamer', ['node-local-spool', 'gcs-bucket', 'gke-workload-identity']),
    ]);
  });

  afterAll(async () => {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  });

  it('validate against the Kubernetes schemas (and KEDA\'s required fields)', () => {
    for (const built of [local, gcs, gcsWithKeda, gke]) expect(schemaProblems(built)).toEqual([]);
  });

  it('satisfy the deployment invariants', () => {
    expect(manifestProblems(local, 'crispy-streamer-local')).toEqual([]);
    expect(manifestProblems(gcs, 'crispy-streamer')).toEqual([]);
    expect(manifestProblems(gcsWithKeda, 'crispy-streamer')).toEqual([]);
    expect(manifestProblems(gke, 'crispy-streamer')).toEqual([]);
  });

  it('refer to exactly the documented Secrets', () => {
    const base = ['crispy-streamer-board', 'crispy-streamer-camera', 'crispy-streamer-redis'];
    expect([...referencedSecrets(local)].sort()).toEqual([...base, 'crispy-streamer-local-signing'].sort());
    expect([...referencedSecrets(gcs)].sort()).toEqual([...base, 'crispy-streamer-gcp'].sort());
    expect([...referencedSecrets(gke)].sort()).toEqual(base);
    // The camera Secret is optional: a site may list only credential-free sources.
    const camera = envEntry(container(edgePod(gcs), 'stream-handle'), 'RTSP_URL');
    expect(at(camera, 'valueFrom', 'secretKeyRef', 'optional')).toBe(true);
  });

  it('local: a bucket volume, notifications to the in-cluster function, which reads back through the worker', () => {
    const pod = edgePod(local);
    const uploader = container(pod, 'upload-worker');
    expect(envValue(local, uploader, 'BUCKET_URL')).toBe('file:///bucket');
    expect(text(at(volume(pod, mountAt(uploader, '/bucket')?.['name']), 'persistentVolumeClaim', 'claimName'))).toBe('bucket');
    const notify = new URL(envValue(local, uploader, 'NOTIFY_URL') ?? '');
    const functionService = findObject(local, 'Service', notify.hostname);
    expect(objects(at(functionService, 'spec', 'ports')).map((port) => port['port'])).toContain(Number(notify.port));
    const functionPod = objectAt(at(findObject(local, 'Deployment', 'describe-chunk'), 'spec', 'template', 'spec'));
    const base = new URL(envValue(local, container(functionPod, 'describe-chunk'), 'LOCAL_BUCKET_BASE_URL') ?? '');
    const boardService = findObject(local, 'Service', base.hostname);
    expect(objects(at(boardService, 'spec', 'ports')).map((port) => port['port'])).toContain(Number(base.port));
    // The two sides sign and check URLs with the same Secret.
    const secretOf = (containerSpec: JsonObject | undefined) => at(envEntry(containerSpec, 'LOCAL_SIGNING_SECRET'), 'valueFrom', 'secretKeyRef');
    expect(secretOf(container(functionPod, 'describe-chunk'))).toEqual(secretOf(uploader));
    expect(at(pod, 'volumes')).toContainEqual(expect.objectContaining({ name: 'spool', emptyDir: expect.anything() }));
  });

  it('gcs: gs:// bucket, a mounted key file, a node-local spool, registry images', () => {
    const pod = edgePod(gcs);
    const uploader = container(pod, 'upload-worker');
    expect(envValue(gcs, uploader, 'BUCKET_URL')).toMatch(/^gs:\/\/[a-z0-9._-]+\//);
    expect(envValue(gcs, uploader, 'NOTIFY_URL')).toBeUndefined();
    const keyPath = envValue(gcs, uploader, 'GOOGLE_APPLICATION_CREDENTIALS') ?? '';
    const keyMount = mountAt(uploader, dirname(keyPath));
    expect(keyMount?.['readOnly']).toBe(true);
    const keyVolume = volume(pod, keyMount?.['name']);
    expect(objects(at(keyVolume, 'secret', 'items')).map((item) => item['path'])).toContain(keyPath.slice(dirname(keyPath).length + 1));
    expect(nodeLocalSpoolProblems(gcs)).toEqual([]);
    for (const containerSpec of containersOf(pod)) expect(containerSpec['image']).toMatch(/^[a-z0-9-]+-docker\.pkg\.dev\//);
  });

  it('gke: Workload Identity instead of a key', () => {
    const serviceAccount = findObject(gke, 'ServiceAccount', 'crispy-edge');
    expect(at(serviceAccount, 'metadata', 'annotations', 'iam.gke.io/gcp-service-account')).toMatch(/@.+\.iam\.gserviceaccount\.com$/);
    expect(at(edgePod(gke), 'serviceAccountName')).toBe('crispy-edge');
    expect(envEntry(container(edgePod(gke), 'upload-worker'), 'GOOGLE_APPLICATION_CREDENTIALS')).toBeUndefined();
  });

  it('keda: scales upload-only pods on this site\'s queue, configured like the edge pod\'s worker', () => {
    expect(kedaProblems(gcsWithKeda, 'crispy-streamer')).toEqual([]);
    const overflow = objectAt(at(findObject(gcsWithKeda, 'Deployment', 'upload-worker-overflow'), 'spec', 'template', 'spec'));
    const edgeUploader = container(edgePod(gcsWithKeda), 'upload-worker');
    for (const name of ['BUCKET_URL', 'GOOGLE_APPLICATION_CREDENTIALS', 'QUEUE_NAME', 'REDIS_URL']) {
      expect(envValue(gcsWithKeda, container(overflow, 'upload-worker'), name), name).toBe(envValue(gcsWithKeda, edgeUploader, name));
    }
    expect(nodeLocalSpoolProblems(gcsWithKeda)).toEqual([]);
  });

  describe('catch', () => {
    const broken = (built: JsonObject[], edit: (copy: JsonObject[]) => void): JsonObject[] => {
      const copy = structuredClone(built);
      edit(copy);
      return copy;
    };
    const edgeContainer = (built: JsonObject[], name: string): JsonObject => objectAt(container(edgePod(built), name));
    const cases: { name: string; edit: (copy: JsonObject[]) => void; problem: RegExp }[] = [
      { name: 'a contained Secret', edit: (c) => c.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'oops', namespace: 'crispy-streamer' }, stringData: { password: 'x' } }), problem: /Secret oops is contained/ },
      { name: 'a literal password', edit: (c) => objects(edgeContainer(c, 'upload-worker')['env']).forEach((e) => { if (e['name'] === 'BOARD_PASSWORD') { delete e['valueFrom']; e['value'] = 'hunter2'; } }), problem: /BOARD_PASSWORD is a literal|BOARD_PASSWORD must come from a Secret/ },
      { name: 'a camera password in the sources ConfigMap', edit: (c) => c.filter((o) => nameOf(o).startsWith('stream-handle-sources')).forEach((o) => (objectAt(o['data'])['sources.yaml'] = 'sources:\n  - { id: a, url: "rtsp://admin:admin@10.0.0.9/1" }\n')), problem: /holds a URL with a password/ },
      { name: 'two replicas', edit: (c) => (objectAt(findObject(c, 'Deployment', 'crispy-edge')['spec'])['replicas'] = 2), problem: /replicas must be 1/ },
      { name: 'a rolling update', edit: (c) => (objectAt(findObject(c, 'Deployment', 'crispy-edge')['spec'])['strategy'] = { type: 'RollingUpdate' }), problem: /strategy must be Recreate/ },
      { name: 'the worker in another pod', edit: (c) => { const pod = edgePod(c); pod['containers'] = objects(pod['containers']).filter((x) => x['name'] !== 'upload-worker'); }, problem: /no upload-worker container beside stream-handle/ },
      { name: 'the worker mounting the spool elsewhere', edit: (c) => objects(edgeContainer(c, 'upload-worker')['volumeMounts']).forEach((m) => { if (m['name'] === 'spool') m['mountPath'] = '/data'; }), problem: /jobs name files by path/ },
      { name: 'a hostPath spool', edit: (c) => objects(edgePod(c)['volumes']).forEach((v) => { if (v['name'] === 'spool') { delete v['persistentVolumeClaim']; v['hostPath'] = { path: '/srv/spool' }; } }), problem: /hostPath volume spool/ },
      { name: 'Redis without AOF', edit: (c) => { const redis = objectAt(container(objectAt(at(findObject(c, 'StatefulSet', 'redis'), 'spec', 'template', 'spec')), 'redis')); redis['args'] = ['--maxmemory-policy', 'noeviction']; }, problem: /--appendonly yes/ },
      { name: 'Redis that evicts', edit: (c) => { const redis = objectAt(container(objectAt(at(findObject(c, 'StatefulSet', 'redis'), 'spec', 'template', 'spec')), 'redis')); redis['args'] = ['--appendonly', 'yes', '--maxmemory-policy', 'allkeys-lru']; }, problem: /noeviction/ },
      { name: 'Redis without a claim', edit: (c) => delete objectAt(findObject(c, 'StatefulSet', 'redis')['spec'])['volumeClaimTemplates'], problem: /not on a PersistentVolumeClaim|does not define/ },
      { name: 'a REDIS_URL to nowhere', edit: (c) => objects(edgeContainer(c, 'stream-handle')['env']).forEach((e) => { if (e['name'] === 'REDIS_URL') e['value'] = 'redis://:$(REDIS_PASSWORD)@valkey:6379'; }), problem: /REDIS_URL host valkey/ },
      { name: 'a probe on the wrong path', edit: (c) => (objectAt(at(edgeContainer(c, 'upload-worker'), 'readinessProbe', 'httpGet'))['path'] = '/board'), problem: /readinessProbe must GET \/healthz/ },
      { name: 'a missing liveness probe', edit: (c) => delete edgeContainer(c, 'upload-worker')['livenessProbe'], problem: /livenessProbe must GET \/healthz/ },
      { name: 'a container without requests', edit: (c) => delete edgeContainer(c, 'stream-handle')['resources'], problem: /stream-handle: no cpu request/ },
      { name: 'a root-capable pod', edit: (c) => delete objectAt(edgePod(c)['securityContext'])['runAsNonRoot'], problem: /runAsNonRoot/ },
      { name: 'privilege escalation', edit: (c) => (objectAt(edgeContainer(c, 'upload-worker')['securityContext'])['allowPrivilegeEscalation'] = true), problem: /allowPrivilegeEscalation/ },
      { name: 'a short grace period', edit: (c) => (edgePod(c)['terminationGracePeriodSeconds'] = 20), problem: /terminationGracePeriodSeconds 20/ },
      { name: 'a Service on a port nobody serves', edit: (c) => objects(at(findObject(c, 'Service', 'upload-worker'), 'spec', 'ports')).forEach((p) => (p['targetPort'] = 'board')), problem: /targetPort board/ },
      { name: 'a stale ConfigMap name', edit: (c) => objects(edgeContainer(c, 'upload-worker')['env']).forEach((e) => { const ref = objectAt(at(e, 'valueFrom', 'configMapKeyRef')); if (ref['name'] !== undefined) ref['name'] = 'edge-settings'; }), problem: /refers to ConfigMap edge-settings key/ },
      { name: 'an untagged image', edit: (c) => (edgeContainer(c, 'stream-handle')['image'] = 'crispy-streamer/stream-handle'), problem: /needs a fixed tag/ },
      { name: 'a Redis client the NetworkPolicy keeps out', edit: (c) => delete objectAt(at(findObject(c, 'Deployment', 'crispy-edge'), 'spec', 'template', 'metadata', 'labels'))['crispy-streamer.io/redis-client'], problem: /crispy-edge: uses Redis but no NetworkPolicy lets its pods in/ },
      { name: 'Redis open to the cluster', edit: (c) => c.splice(c.findIndex((o) => o['kind'] === 'NetworkPolicy'), 1), problem: /no NetworkPolicy selects the Redis pods/ },
      { name: 'REDIS_URL expanded before REDIS_PASSWORD exists', edit: (c) => { const worker = edgeContainer(c, 'upload-worker'); const env = objects(worker['env']); worker['env'] = [...env.filter((e) => e['name'] !== 'REDIS_PASSWORD'), ...env.filter((e) => e['name'] === 'REDIS_PASSWORD')]; }, problem: /REDIS_URL uses \$\(REDIS_PASSWORD\) before it is defined/ },
      { name: 'a Redis argument with an undefined variable', edit: (c) => { const redis = objectAt(container(objectAt(at(findObject(c, 'StatefulSet', 'redis'), 'spec', 'template', 'spec')), 'redis')); redis['env'] = []; }, problem: /argument \$\(REDIS_PASSWORD\) uses \$\(REDIS_PASSWORD\), which the container does not define/ },
      { name: 'an object outside the namespace', edit: (c) => (objectAt(findObject(c, 'Service', 'redis')['metadata'])['namespace'] = 'default'), problem: /Service redis is in namespace default/ },
    ];
    for (const { name, edit, problem } of cases) {
      it(name, () => {
        expect(manifestProblems(broken(gcs, edit), 'crispy-streamer').join('\n')).toMatch(problem);
      });
    }

    it('an emptyDir left beside the node-local claim, and a PV that is deleted with its claim', () => {
      expect(nodeLocalSpoolProblems(broken(gcs, (c) => objects(edgePod(c)['volumes']).forEach((v) => { if (v['name'] === 'spool') v['emptyDir'] = {}; })))).toEqual([expect.stringMatching(/two sources/)]);
      expect(nodeLocalSpoolProblems(broken(gcs, (c) => c.filter((o) => o['kind'] === 'PersistentVolume').forEach((o) => (objectAt(o['spec'])['persistentVolumeReclaimPolicy'] = 'Delete'))))).toEqual([expect.stringMatching(/must be Retain/)]);
      expect(nodeLocalSpoolProblems(local)).toEqual(['the spool is not a PersistentVolumeClaim']);
    });

    it('KEDA watching another queue or namespace, or scaling the recorder', () => {
      const trigger = (c: JsonObject[]) => objectAt(objects(at(findObject(c, 'ScaledObject', 'upload-worker-overflow'), 'spec', 'triggers'))[0]);
      expect(kedaProblems(broken(gcsWithKeda, (c) => (objectAt(trigger(c)['metadata'])['listName'] = 'bull:chunks:delayed')), 'crispy-streamer').join('\n')).toMatch(/not bull:chunks:wait/);
      expect(kedaProblems(gcsWithKeda, 'crispy-streamer-site-2').join('\n')).toMatch(/not the Redis Service of namespace crispy-streamer-site-2/);
      expect(kedaProblems(broken(gcsWithKeda, (c) => (objectAt(at(findObject(c, 'ScaledObject', 'upload-worker-overflow'), 'spec', 'scaleTargetRef'))['name'] = 'crispy-edge')), 'crispy-streamer').join('\n')).toMatch(/scales the recorder/);
    });

    it('a schema violation and an unknown kind', () => {
      const invalid = broken(gcs, (c) => objects(edgeContainer(c, 'upload-worker')['ports']).forEach((p) => (p['containerPort'] = 'three thousand')));
      expect(schemaProblems(invalid).join('\n')).toMatch(/containerPort must be integer/);
      expect(schemaProblems([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }])).toEqual(['v1/Pod x: no validator for this kind (add one, or do not use it)']);
      expect(schemaProblems([{ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'x' }, spec: { triggers: [{ type: 'redis' }] } }])).toEqual([
        'keda.sh/v1alpha1/ScaledObject x: spec.scaleTargetRef.name is required',
        'keda.sh/v1alpha1/ScaledObject x: triggers[0].metadata is required',
      ]);
    });
  });
});

// Keep the raw-file checks meaningful where kubectl is missing: the directory must exist.
if (!existsSync(K8S_DIR)) throw new Error(`${K8S_DIR} is missing`);
