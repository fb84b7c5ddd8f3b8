// deploy/k8s checked offline: builds each overlay with kustomize (kubectl's built-in), validates
// the built objects against the Kubernetes OpenAPI schemas (kubernetes-models) or, for KEDA's custom
// resources, against the fields KEDA requires, and states the deployment's invariants as pure
// functions over the built objects. Used by test/integration/k8s-manifests.test.ts; its own cases
// in test/checks/k8s-manifests.test.ts break copies and expect the matching problem.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
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

const run = promisify(execFile);
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const K8S_DIR = join(REPO_ROOT, 'deploy/k8s');

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at a path of keys, or undefined. */
export function at(value: Json | undefined, ...path: string[]): Json | undefined {
  let current = value;
  for (const key of path) current = isObject(current) ? current[key] : undefined;
  return current;
}

export function objects(value: Json | undefined): JsonObject[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

/** A JSON value as a person reads it in a problem: strings as they are, anything else as JSON. */
export function show(value: Json | undefined): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? 'undefined');
}

export function text(value: Json | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function objectAt(value: Json | undefined): JsonObject {
  return isObject(value) ? value : {};
}

export function kindOf(object: JsonObject): string {
  return `${text(object['apiVersion']) ?? '?'}/${text(object['kind']) ?? '?'}`;
}

export function nameOf(object: JsonObject): string {
  return text(at(object, 'metadata', 'name')) ?? '?';
}

// ---------------------------------------------------------------------------------------------
// Schema validation

export type Validator = (object: JsonObject) => string[];

export function modelValidator<T>(Model: new (data?: T) => { validate(): void }): Validator {
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
export function requireFields(...paths: string[][]): Validator {
  return (object) => paths.filter((path) => at(object, ...path) === undefined).map((path) => `${path.join('.')} is required`);
}

export const VALIDATORS: Record<string, Validator> = {
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

export function schemaProblems(built: JsonObject[]): string[] {
  return built.flatMap((object) => {
    const validator = VALIDATORS[kindOf(object)];
    if (validator === undefined) return [`${kindOf(object)} ${nameOf(object)}: no validator for this kind (add one, or do not use it)`];
    return validator(object).map((problem) => `${kindOf(object)} ${nameOf(object)}: ${problem}`);
  });
}

// ---------------------------------------------------------------------------------------------
// Pods, containers and what they refer to

export interface PodOwner {
  owner: JsonObject;
  pod: JsonObject;
  labels: JsonObject;
}

export function podOwners(built: JsonObject[]): PodOwner[] {
  return built
    .filter((object) => object['kind'] === 'Deployment' || object['kind'] === 'StatefulSet')
    .map((owner) => ({ owner, pod: objectAt(at(owner, 'spec', 'template', 'spec')), labels: objectAt(at(owner, 'spec', 'template', 'metadata', 'labels')) }));
}

export function containersOf(pod: JsonObject): JsonObject[] {
  return [...objects(pod['initContainers']), ...objects(pod['containers'])];
}

export function container(pod: JsonObject, name: string): JsonObject | undefined {
  return containersOf(pod).find((candidate) => candidate['name'] === name);
}

export function envEntry(containerSpec: JsonObject | undefined, name: string): JsonObject | undefined {
  return objects(containerSpec?.['env']).find((entry) => entry['name'] === name);
}

/** A literal env value, or the value of the ConfigMap key it refers to. */
export function envValue(built: JsonObject[], containerSpec: JsonObject | undefined, name: string): string | undefined {
  const entry = envEntry(containerSpec, name);
  if (entry === undefined) return undefined;
  const literal = text(entry['value']);
  if (literal !== undefined) return literal;
  const ref = at(entry, 'valueFrom', 'configMapKeyRef');
  const configMap = built.find((object) => object['kind'] === 'ConfigMap' && nameOf(object) === text(at(ref, 'name')));
  return text(at(configMap, 'data', text(at(ref, 'key')) ?? ''));
}

export function mountAt(containerSpec: JsonObject | undefined, path: string): JsonObject | undefined {
  return objects(containerSpec?.['volumeMounts']).find((mount) => mount['mountPath'] === path);
}

export function volume(pod: JsonObject, name: Json | undefined): JsonObject | undefined {
  return objects(pod['volumes']).find((candidate) => candidate['name'] === name);
}

export function selects(selector: Json | undefined, labels: JsonObject): boolean {
  const wanted = Object.entries(objectAt(selector));
  return wanted.length > 0 && wanted.every(([key, value]) => labels[key] === value);
}

/** Every Secret name the objects refer to (env, envFrom, volumes, KEDA). */
export function referencedSecrets(built: JsonObject[]): Set<string> {
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

export const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|RTSP_URL|SOURCE_URL)$/i;
export const URL_WITH_PASSWORD = /:\/\/[^/\s:@]*:([^@\s/]+)@/;

export function flagValue(args: string[], flag: string): string | undefined {
  const index = args.indexOf(flag);
  return index >= 0 ? args[index + 1] : args.find((arg) => arg.startsWith(`${flag}=`))?.slice(flag.length + 1);
}

export function millisecondsToSeconds(value: string | undefined, fallbackMs: number): number {
  return Math.ceil(Number(value ?? fallbackMs) / 1000);
}

/** What every overlay must satisfy. */
export function manifestProblems(built: JsonObject[], namespace: string): string[] {
  const problems: string[] = [];
  const owners = podOwners(built);
  const configMaps = built.filter((object) => object['kind'] === 'ConfigMap');
  const services = built.filter((object) => object['kind'] === 'Service');
  const claims = built.filter((object) => object['kind'] === 'PersistentVolumeClaim');

  // Secrets are referred to, never contained.
  for (const object of built.filter((candidate) => candidate['kind'] === 'Secret'))
    problems.push(`Secret ${nameOf(object)} is contained in the manifests: create it out of band`);
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
    if (!clusterScoped.has(text(object['kind']) ?? '') && objectNamespace !== namespace)
      problems.push(`${kindOf(object)} ${nameOf(object)} is in namespace ${objectNamespace ?? '(none)'}, not ${namespace}`);
  }
  const namespaceObject = built.find((object) => object['kind'] === 'Namespace' && nameOf(object) === namespace);
  if (namespaceObject !== undefined && at(namespaceObject, 'metadata', 'labels', 'pod-security.kubernetes.io/enforce') !== 'restricted') {
    problems.push(`Namespace ${namespace} does not enforce the restricted Pod Security Standard`);
  }

  // The edge pod: recorder and uploader together, one replica, replaced not rolled.
  const edges = owners.filter(({ pod }) => container(pod, 'stream-handle') !== undefined);
  if (edges.length !== 1) problems.push(`expected one workload running stream-handle, found ${edges.length}`);
  for (const { owner, pod } of edges) {
    const where = `${show(owner['kind'])} ${nameOf(owner)}`;
    const recorder = container(pod, 'stream-handle');
    const uploader = container(pod, 'upload-worker');
    if (uploader === undefined)
      problems.push(`${where}: no upload-worker container beside stream-handle: chunks must be uploaded from the pod that recorded them`);
    if (owner['kind'] === 'Deployment') {
      if (at(owner, 'spec', 'replicas') !== 1) problems.push(`${where}: replicas must be 1 (two recorders would cut the same cameras twice)`);
      if (at(owner, 'spec', 'strategy', 'type') !== 'Recreate')
        problems.push(`${where}: strategy must be Recreate (a rolling update runs two recorders at once)`);
    }
    const spoolDir = envValue(built, recorder, 'SPOOL_DIR');
    if (spoolDir === undefined) problems.push(`${where}: stream-handle has no SPOOL_DIR`);
    const recorderMount = mountAt(recorder, spoolDir ?? '/spool');
    const uploaderMount = objects(uploader?.['volumeMounts']).find((mount) => mount['name'] === recorderMount?.['name']);
    if (recorderMount === undefined) problems.push(`${where}: stream-handle mounts nothing at SPOOL_DIR ${spoolDir ?? ''}`);
    else if (uploaderMount === undefined) problems.push(`${where}: upload-worker does not mount the spool volume "${String(show(recorderMount['name']))}"`);
    else if (uploaderMount['mountPath'] !== recorderMount['mountPath'])
      problems.push(
        `${where}: upload-worker mounts the spool at ${String(show(uploaderMount['mountPath']))}, stream-handle at ${String(show(recorderMount['mountPath']))}: jobs name files by path`,
      );
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
    const where = `${show(owner['kind'])} ${nameOf(owner)}`;
    if (envValue(built, uploader, 'BUCKET_URL') === undefined) problems.push(`${where}: upload-worker has no BUCKET_URL`);
    const httpPort = Number(envValue(built, uploader, 'HTTP_PORT') ?? 3000);
    const portNumber = (port: Json | undefined): number | undefined =>
      typeof port === 'number' ? port : (objects(uploader['ports']).find((candidate) => candidate['name'] === port)?.['containerPort'] as number | undefined);
    for (const probe of ['readinessProbe', 'livenessProbe']) {
      const httpGet = at(uploader, probe, 'httpGet');
      if (at(httpGet, 'path') !== '/healthz' || portNumber(at(httpGet, 'port')) !== httpPort)
        problems.push(`${where}: upload-worker ${probe} must GET /healthz on HTTP_PORT ${httpPort}`);
    }
    const host = envValue(built, uploader, 'HTTP_HOST');
    if (host !== '0.0.0.0' && host !== '::') problems.push(`${where}: upload-worker HTTP_HOST must listen beyond loopback for its probes and Service`);
    for (const name of ['BOARD_USER', 'BOARD_PASSWORD']) {
      if (at(envEntry(uploader, name), 'valueFrom', 'secretKeyRef') === undefined)
        problems.push(`${where}: ${name} must come from a Secret (Bull Board is reachable beyond the pod)`);
    }
    const graceSeconds = Number(at(pod, 'terminationGracePeriodSeconds') ?? 30);
    const needed = Math.max(
      millisecondsToSeconds(envValue(built, uploader, 'SHUTDOWN_GRACE_MS'), 30_000),
      millisecondsToSeconds(envValue(built, container(pod, 'stream-handle'), 'STOP_GRACE_MS'), 10_000),
    );
    if (graceSeconds <= needed)
      problems.push(`${where}: terminationGracePeriodSeconds ${graceSeconds} must exceed the services' own shutdown grace (${needed} s)`);
  }

  // Bull Board's Service reaches the uploader's HTTP port.
  const board = services.find((service) =>
    owners.some(({ pod, labels }) => selects(at(service, 'spec', 'selector'), labels) && container(pod, 'upload-worker') !== undefined),
  );
  if (board === undefined) problems.push('no Service selects a pod running upload-worker (Bull Board)');
  for (const service of services) {
    const targets = owners.filter(({ labels }) => selects(at(service, 'spec', 'selector'), labels));
    if (targets.length === 0) problems.push(`Service ${nameOf(service)} selects no pod`);
    for (const port of objects(at(service, 'spec', 'ports'))) {
      const target = port['targetPort'] ?? port['port'];
      const served = targets.some(({ pod }) =>
        containersOf(pod).some((containerSpec) => objects(containerSpec['ports']).some((p) => p['name'] === target || p['containerPort'] === target)),
      );
      if (!served) problems.push(`Service ${nameOf(service)}: targetPort ${String(show(target))} is no container port of the pods it selects`);
    }
  }

  // Redis: AOF, noeviction, data on a claim, reachable as REDIS_URL says.
  const redisOwners = owners.filter(({ pod }) => containersOf(pod).some((containerSpec) => /(^|\/)redis(:|$)/.test(text(containerSpec['image']) ?? '')));
  if (redisOwners.length === 0) problems.push('no Redis workload (or point REDIS_URL at a managed Redis and drop this check)');
  for (const { owner, pod } of redisOwners) {
    const where = `${show(owner['kind'])} ${nameOf(owner)}`;
    const redis = containersOf(pod).find((containerSpec) => /(^|\/)redis(:|$)/.test(text(containerSpec['image']) ?? ''));
    const args = [...(Array.isArray(redis?.['command']) ? redis['command'] : []), ...(Array.isArray(redis?.['args']) ? redis['args'] : [])].map(String);
    if (flagValue(args, '--appendonly') !== 'yes') problems.push(`${where}: redis-server needs --appendonly yes`);
    if (flagValue(args, '--maxmemory-policy') !== 'noeviction') problems.push(`${where}: redis-server needs --maxmemory-policy noeviction`);
    const dataDir = flagValue(args, '--dir') ?? '/data';
    const dataMount = mountAt(redis, dataDir);
    const templates = objects(at(owner, 'spec', 'volumeClaimTemplates')).map((template) => nameOf(template));
    const dataVolume = volume(pod, dataMount?.['name']);
    if (dataMount === undefined || (!templates.includes(String(show(dataMount['name']))) && at(dataVolume, 'persistentVolumeClaim') === undefined)) {
      problems.push(`${where}: ${dataDir} is not on a PersistentVolumeClaim (the AOF would die with the pod)`);
    }
  }
  // Redis is fenced by a NetworkPolicy, and every pod that uses it is let in.
  const redisPolicies = built.filter(
    (object) => object['kind'] === 'NetworkPolicy' && redisOwners.some(({ labels }) => selects(at(object, 'spec', 'podSelector', 'matchLabels'), labels)),
  );
  if (redisOwners.length > 0 && redisPolicies.length === 0)
    problems.push('no NetworkPolicy selects the Redis pods: anything in the cluster could reach the queue');
  const letIn = (labels: JsonObject): boolean =>
    redisPolicies.some((policy) =>
      objects(at(policy, 'spec', 'ingress')).some((rule) =>
        objects(rule['from']).some((peer) => peer['namespaceSelector'] === undefined && selects(at(peer, 'podSelector', 'matchLabels'), labels)),
      ),
    );
  for (const { owner, pod, labels } of owners) {
    if (redisPolicies.length > 0 && containersOf(pod).some((containerSpec) => envEntry(containerSpec, 'REDIS_URL') !== undefined) && !letIn(labels)) {
      problems.push(`${show(owner['kind'])} ${nameOf(owner)}: uses Redis but no NetworkPolicy lets its pods in`);
    }
  }
  for (const { owner, pod } of owners) {
    for (const containerSpec of containersOf(pod)) {
      const url = envValue(built, containerSpec, 'REDIS_URL');
      if (url === undefined) continue;
      const host = /^rediss?:\/\/(?:[^@/]*@)?([^:/]+)/.exec(url)?.[1] ?? '';
      const serviceName = host.split('.')[0] ?? '';
      if (!services.some((service) => nameOf(service) === serviceName && redisOwners.some(({ labels }) => selects(at(service, 'spec', 'selector'), labels)))) {
        problems.push(`${show(owner['kind'])} ${nameOf(owner)}/${String(show(containerSpec['name']))}: REDIS_URL host ${host} is not the Redis Service`);
      }
    }
  }

  // Every pod: restricted Pod Security Standard, requests, no literal secrets, references resolve.
  const secretVolumeNames = new Set<string>();
  for (const { owner, pod } of owners) {
    const where = `${show(owner['kind'])} ${nameOf(owner)}`;
    if (at(pod, 'securityContext', 'runAsNonRoot') !== true) problems.push(`${where}: securityContext.runAsNonRoot must be true`);
    if (at(pod, 'securityContext', 'seccompProfile', 'type') !== 'RuntimeDefault') problems.push(`${where}: seccompProfile must be RuntimeDefault`);
    for (const flag of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[flag] === true) problems.push(`${where}: ${flag} is not allowed`);
    for (const podVolume of objects(pod['volumes'])) {
      if (podVolume['hostPath'] !== undefined) problems.push(`${where}: hostPath volume ${String(show(podVolume['name']))} (use a local PersistentVolume)`);
      const claim = text(at(podVolume, 'persistentVolumeClaim', 'claimName'));
      if (claim !== undefined && !claims.some((candidate) => nameOf(candidate) === claim))
        problems.push(`${where}: volume ${String(show(podVolume['name']))} claims ${claim}, which no PersistentVolumeClaim here provides`);
      const map = text(at(podVolume, 'configMap', 'name'));
      if (map !== undefined && !configMaps.some((candidate) => nameOf(candidate) === map))
        problems.push(`${where}: volume ${String(show(podVolume['name']))} mounts ConfigMap ${map}, which is not built here`);
      const secretName = text(at(podVolume, 'secret', 'secretName'));
      if (secretName !== undefined) secretVolumeNames.add(secretName);
    }
    for (const containerSpec of containersOf(pod)) {
      const cwhere = `${where}/${String(show(containerSpec['name']))}`;
      const security = objectAt(containerSpec['securityContext']);
      if (security['allowPrivilegeEscalation'] !== false) problems.push(`${cwhere}: allowPrivilegeEscalation must be false`);
      if (security['privileged'] === true) problems.push(`${cwhere}: privileged is not allowed`);
      const dropped = at(security, 'capabilities', 'drop');
      if (!Array.isArray(dropped) || !dropped.includes('ALL')) problems.push(`${cwhere}: capabilities must drop ALL`);
      for (const resource of ['cpu', 'memory'])
        if (at(containerSpec, 'resources', 'requests', resource) === undefined) problems.push(`${cwhere}: no ${resource} request`);
      if (at(containerSpec, 'resources', 'limits', 'memory') === undefined) problems.push(`${cwhere}: no memory limit`);
      const image = text(containerSpec['image']) ?? '';
      if (!/:[\w.-]+$/.test(image) || image.endsWith(':latest')) problems.push(`${cwhere}: image ${image} needs a fixed tag`);
      for (const mount of objects(containerSpec['volumeMounts'])) {
        if (
          volume(pod, mount['name']) === undefined &&
          !objects(at(owner, 'spec', 'volumeClaimTemplates')).some((template) => nameOf(template) === mount['name'])
        ) {
          problems.push(`${cwhere}: mounts volume ${String(show(mount['name']))}, which the pod does not define`);
        }
      }
      // Kubernetes expands $(VAR) only from variables defined earlier in the list (any, in args).
      const envNames = objects(containerSpec['env']).map((entry) => String(show(entry['name'])));
      objects(containerSpec['env']).forEach((entry, index) => {
        for (const [, variable = ''] of (text(entry['value']) ?? '').matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
          if (!envNames.slice(0, index).includes(variable))
            problems.push(`${cwhere}: ${String(show(entry['name']))} uses $(${variable}) before it is defined, so it stays literal`);
        }
      });
      for (const arg of [
        ...(Array.isArray(containerSpec['command']) ? containerSpec['command'] : []),
        ...(Array.isArray(containerSpec['args']) ? containerSpec['args'] : []),
      ]) {
        for (const [, variable = ''] of String(show(arg)).matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
          if (!envNames.includes(variable)) problems.push(`${cwhere}: argument ${String(show(arg))} uses $(${variable}), which the container does not define`);
        }
      }
      for (const entry of objects(containerSpec['env'])) {
        const name = String(show(entry['name']));
        const literal = text(entry['value']);
        if (SECRET_NAME.test(name) && literal !== undefined && literal !== '') problems.push(`${cwhere}: ${name} is a literal: take it from a Secret`);
        if (literal !== undefined && URL_WITH_PASSWORD.exec(literal)?.[1]?.startsWith('$(') === false)
          problems.push(`${cwhere}: ${name} holds a URL with a literal password`);
        const ref = objectAt(at(entry, 'valueFrom', 'configMapKeyRef'));
        if (ref['name'] !== undefined) {
          const map = configMaps.find((candidate) => nameOf(candidate) === ref['name']);
          if (map === undefined || at(map, 'data', String(show(ref['key']))) === undefined)
            problems.push(`${cwhere}: ${name} refers to ConfigMap ${String(show(ref['name']))} key ${String(show(ref['key']))}, which is not built here`);
        }
      }
    }
  }
  return problems;
}

/** The node-local spool: a claim bound through a no-provisioner class to a local PV pinned to a node. */
export function nodeLocalSpoolProblems(built: JsonObject[]): string[] {
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
    if (objects(at(persistentVolume, 'spec', 'nodeAffinity', 'required', 'nodeSelectorTerms')).length === 0)
      problems.push(`PersistentVolume ${nameOf(persistentVolume)} is pinned to no node`);
    if (at(persistentVolume, 'spec', 'persistentVolumeReclaimPolicy') !== 'Retain')
      problems.push(`PersistentVolume ${nameOf(persistentVolume)} must be Retain: chunks may not be uploaded yet`);
  }
  return problems;
}

/** KEDA's trigger watches this site's queue in this site's Redis, with the Redis password Secret. */
export function kedaProblems(built: JsonObject[], namespace: string): string[] {
  const problems: string[] = [];
  const scaled = built.filter((object) => object['kind'] === 'ScaledObject');
  if (scaled.length === 0) return ['no ScaledObject'];
  const queueName = text(
    at(
      built.find((object) => object['kind'] === 'ConfigMap' && nameOf(object).startsWith('edge-settings')),
      'data',
      'QUEUE_NAME',
    ),
  );
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
      if (listName !== `bull:${queueName ?? '?'}:wait`)
        problems.push(`ScaledObject ${nameOf(object)}: listName ${listName ?? '(none)'} is not bull:${queueName ?? '?'}:wait`);
      const address = text(at(trigger, 'metadata', 'address')) ?? '';
      if (!address.startsWith(`redis.${namespace}.svc`))
        problems.push(`ScaledObject ${nameOf(object)}: address ${address} is not the Redis Service of namespace ${namespace}`);
      const authName = text(at(trigger, 'authenticationRef', 'name'));
      if (!built.some((candidate) => candidate['kind'] === 'TriggerAuthentication' && nameOf(candidate) === authName))
        problems.push(`ScaledObject ${nameOf(object)}: authenticationRef ${authName ?? '(none)'} is not defined`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Building

export async function kubectlAvailable(): Promise<boolean> {
  try {
    await run('kubectl', ['version', '--client'], { timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

export const KUBECTL = await kubectlAvailable();
if (!KUBECTL) console.warn('k8s-manifests: kubectl is not installed, so the overlays are not built (the raw files are still parsed)');

export async function build(directory: string): Promise<JsonObject[]> {
  const { stdout } = await run('kubectl', ['kustomize', directory], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout)
    .map((document) => document.toJSON() as Json)
    .filter(isObject);
}

/** A throw-away kustomization combining base and components (kustomize wants relative paths). */
export async function buildCombination(scratch: string, name: string, namespace: string, components: string[]): Promise<JsonObject[]> {
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

export function yamlFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((entry) => {
    const path = join(directory, entry);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry) ? [path] : [];
  });
}

/** Files a configMapGenerator turns into ConfigMap data (not manifests themselves). */
export function generatorDataFiles(): string[] {
  return yamlFiles(K8S_DIR)
    .filter((file) => /kustomization\.yaml$/.test(file))
    .flatMap((file) => {
      const document = objectAt(parseYaml(readFileSync(file, 'utf8')) as Json);
      return objects(document['configMapGenerator']).flatMap((generator) =>
        (Array.isArray(generator['files']) ? generator['files'] : []).map((entry) => resolve(dirname(file), String(show(entry)).replace(/^[^=]*=/, ''))),
      );
    });
}

export function findObject(built: JsonObject[], kind: string, name: string): JsonObject {
  const found = built.find((object) => object['kind'] === kind && nameOf(object) === name);
  if (found === undefined) throw new Error(`no ${kind} ${name}`);
  return found;
}

export function edgePod(built: JsonObject[]): JsonObject {
  return objectAt(at(findObject(built, 'Deployment', 'crispy-edge'), 'spec', 'template', 'spec'));
}

// ---------------------------------------------------------------------------------------------
