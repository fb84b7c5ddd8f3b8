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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Json,
  type JsonObject,
  K8S_DIR,
  KUBECTL,
  at,
  build,
  buildCombination,
  container,
  containersOf,
  edgePod,
  envEntry,
  envValue,
  findObject,
  generatorDataFiles,
  isObject,
  kedaProblems,
  manifestProblems,
  mountAt,
  nameOf,
  nodeLocalSpoolProblems,
  objectAt,
  objects,
  referencedSecrets,
  schemaProblems,
  text,
  volume,
  yamlFiles,
} from '../checks/k8s-manifests.js';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

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

  it("validate against the Kubernetes schemas (and KEDA's required fields)", () => {
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

  it("keda: scales upload-only pods on this site's queue, configured like the edge pod's worker", () => {
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
      {
        name: 'a contained Secret',
        edit: (c) => c.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'oops', namespace: 'crispy-streamer' }, stringData: { password: 'x' } }),
        problem: /Secret oops is contained/,
      },
      {
        name: 'a literal password',
        edit: (c) =>
          objects(edgeContainer(c, 'upload-worker')['env']).forEach((e) => {
            if (e['name'] === 'BOARD_PASSWORD') {
              delete e['valueFrom'];
              e['value'] = 'hunter2';
            }
          }),
        problem: /BOARD_PASSWORD is a literal|BOARD_PASSWORD must come from a Secret/,
      },
      {
        name: 'a camera password in the sources ConfigMap',
        edit: (c) =>
          c
            .filter((o) => nameOf(o).startsWith('stream-handle-sources'))
            .forEach((o) => (objectAt(o['data'])['sources.yaml'] = 'sources:\n  - { id: a, url: "rtsp://admin:admin@10.0.0.9/1" }\n')),
        problem: /holds a URL with a password/,
      },
      { name: 'two replicas', edit: (c) => (objectAt(findObject(c, 'Deployment', 'crispy-edge')['spec'])['replicas'] = 2), problem: /replicas must be 1/ },
      {
        name: 'a rolling update',
        edit: (c) => (objectAt(findObject(c, 'Deployment', 'crispy-edge')['spec'])['strategy'] = { type: 'RollingUpdate' }),
        problem: /strategy must be Recreate/,
      },
      {
        name: 'the worker in another pod',
        edit: (c) => {
          const pod = edgePod(c);
          pod['containers'] = objects(pod['containers']).filter((x) => x['name'] !== 'upload-worker');
        },
        problem: /no upload-worker container beside stream-handle/,
      },
      {
        name: 'the worker mounting the spool elsewhere',
        edit: (c) =>
          objects(edgeContainer(c, 'upload-worker')['volumeMounts']).forEach((m) => {
            if (m['name'] === 'spool') m['mountPath'] = '/data';
          }),
        problem: /jobs name files by path/,
      },
      {
        name: 'a hostPath spool',
        edit: (c) =>
          objects(edgePod(c)['volumes']).forEach((v) => {
            if (v['name'] === 'spool') {
              delete v['persistentVolumeClaim'];
              v['hostPath'] = { path: '/srv/spool' };
            }
          }),
        problem: /hostPath volume spool/,
      },
      {
        name: 'Redis without AOF',
        edit: (c) => {
          const redis = objectAt(container(objectAt(at(findObject(c, 'StatefulSet', 'redis'), 'spec', 'template', 'spec')), 'redis'));
          redis['args'] = ['--maxmemory-policy', 'noeviction'];
        },
        problem: /--appendonly yes/,
      },
      {
        name: 'Redis that evicts',
        edit: (c) => {
          const redis = objectAt(container(objectAt(at(findObject(c, 'StatefulSet', 'redis'), 'spec', 'template', 'spec')), 'redis'));
          redis['args'] = ['--appendonly', 'yes', '--maxmemory-policy', 'allkeys-lru'];
        },
        problem: /noeviction/,
      },
      {
        name: 'Redis without a claim',
        edit: (c) => delete objectAt(findObject(c, 'StatefulSet', 'redis')['spec'])['volumeClaimTemplates'],
        problem: /not on a PersistentVolumeClaim|does not define/,
      },
      {
        name: 'a REDIS_URL to nowhere',
        edit: (c) =>
          objects(edgeContainer(c, 'stream-handle')['env']).forEach((e) => {
            if (e['name'] === 'REDIS_URL') e['value'] = 'redis://:$(REDIS_PASSWORD)@valkey:6379';
          }),
        problem: /REDIS_URL host valkey/,
      },
      {
        name: 'a probe on the wrong path',
        edit: (c) => (objectAt(at(edgeContainer(c, 'upload-worker'), 'readinessProbe', 'httpGet'))['path'] = '/board'),
        problem: /readinessProbe must GET \/healthz/,
      },
      { name: 'a missing liveness probe', edit: (c) => delete edgeContainer(c, 'upload-worker')['livenessProbe'], problem: /livenessProbe must GET \/healthz/ },
      { name: 'a container without requests', edit: (c) => delete edgeContainer(c, 'stream-handle')['resources'], problem: /stream-handle: no cpu request/ },
      { name: 'a root-capable pod', edit: (c) => delete objectAt(edgePod(c)['securityContext'])['runAsNonRoot'], problem: /runAsNonRoot/ },
      {
        name: 'privilege escalation',
        edit: (c) => (objectAt(edgeContainer(c, 'upload-worker')['securityContext'])['allowPrivilegeEscalation'] = true),
        problem: /allowPrivilegeEscalation/,
      },
      { name: 'a short grace period', edit: (c) => (edgePod(c)['terminationGracePeriodSeconds'] = 20), problem: /terminationGracePeriodSeconds 20/ },
      {
        name: 'a Service on a port nobody serves',
        edit: (c) => objects(at(findObject(c, 'Service', 'upload-worker'), 'spec', 'ports')).forEach((p) => (p['targetPort'] = 'board')),
        problem: /targetPort board/,
      },
      {
        name: 'a stale ConfigMap name',
        edit: (c) =>
          objects(edgeContainer(c, 'upload-worker')['env']).forEach((e) => {
            const ref = objectAt(at(e, 'valueFrom', 'configMapKeyRef'));
            if (ref['name'] !== undefined) ref['name'] = 'edge-settings';
          }),
        problem: /refers to ConfigMap edge-settings key/,
      },
      { name: 'an untagged image', edit: (c) => (edgeContainer(c, 'stream-handle')['image'] = 'crispy-streamer/stream-handle'), problem: /needs a fixed tag/ },
      {
        name: 'a Redis client the NetworkPolicy keeps out',
        edit: (c) =>
          delete objectAt(at(findObject(c, 'Deployment', 'crispy-edge'), 'spec', 'template', 'metadata', 'labels'))['crispy-streamer.io/redis-client'],
        problem: /crispy-edge: uses Redis but no NetworkPolicy lets its pods in/,
      },
      {
        name: 'Redis open to the cluster',
        edit: (c) =>
          c.splice(
            c.findIndex((o) => o['kind'] === 'NetworkPolicy'),
            1,
          ),
        problem: /no NetworkPolicy selects the Redis pods/,
      },
      {
        name: 'REDIS_URL expanded before REDIS_PASSWORD exists',
        edit: (c) => {
          const worker = edgeContainer(c, 'upload-worker');
          const env = objects(worker['env']);
          worker['env'] = [...env.filter((e) => e['name'] !== 'REDIS_PASSWORD'), ...env.filter((e) => e['name'] === 'REDIS_PASSWORD')];
        },
        problem: /REDIS_URL uses \$\(REDIS_PASSWORD\) before it is defined/,
      },
      {
        name: 'a Redis argument with an undefined variable',
        edit: (c) => {
          const redis = objectAt(container(objectAt(at(findObject(c, 'StatefulSet', 'redis'), 'spec', 'template', 'spec')), 'redis'));
          redis['env'] = [];
        },
        problem: /argument \$\(REDIS_PASSWORD\) uses \$\(REDIS_PASSWORD\), which the container does not define/,
      },
      {
        name: 'an object outside the namespace',
        edit: (c) => (objectAt(findObject(c, 'Service', 'redis')['metadata'])['namespace'] = 'default'),
        problem: /Service redis is in namespace default/,
      },
    ];
    for (const { name, edit, problem } of cases) {
      it(name, () => {
        expect(manifestProblems(broken(gcs, edit), 'crispy-streamer').join('\n')).toMatch(problem);
      });
    }

    it('an emptyDir left beside the node-local claim, and a PV that is deleted with its claim', () => {
      expect(
        nodeLocalSpoolProblems(
          broken(gcs, (c) =>
            objects(edgePod(c)['volumes']).forEach((v) => {
              if (v['name'] === 'spool') v['emptyDir'] = {};
            }),
          ),
        ),
      ).toEqual([expect.stringMatching(/two sources/)]);
      expect(
        nodeLocalSpoolProblems(
          broken(gcs, (c) =>
            c.filter((o) => o['kind'] === 'PersistentVolume').forEach((o) => (objectAt(o['spec'])['persistentVolumeReclaimPolicy'] = 'Delete')),
          ),
        ),
      ).toEqual([expect.stringMatching(/must be Retain/)]);
      expect(nodeLocalSpoolProblems(local)).toEqual(['the spool is not a PersistentVolumeClaim']);
    });

    it('KEDA watching another queue or namespace, or scaling the recorder', () => {
      const trigger = (c: JsonObject[]) => objectAt(objects(at(findObject(c, 'ScaledObject', 'upload-worker-overflow'), 'spec', 'triggers'))[0]);
      expect(
        kedaProblems(
          broken(gcsWithKeda, (c) => (objectAt(trigger(c)['metadata'])['listName'] = 'bull:chunks:delayed')),
          'crispy-streamer',
        ).join('\n'),
      ).toMatch(/not bull:chunks:wait/);
      expect(kedaProblems(gcsWithKeda, 'crispy-streamer-site-2').join('\n')).toMatch(/not the Redis Service of namespace crispy-streamer-site-2/);
      expect(
        kedaProblems(
          broken(gcsWithKeda, (c) => (objectAt(at(findObject(c, 'ScaledObject', 'upload-worker-overflow'), 'spec', 'scaleTargetRef'))['name'] = 'crispy-edge')),
          'crispy-streamer',
        ).join('\n'),
      ).toMatch(/scales the recorder/);
    });

    it('a schema violation and an unknown kind', () => {
      const invalid = broken(gcs, (c) => objects(edgeContainer(c, 'upload-worker')['ports']).forEach((p) => (p['containerPort'] = 'three thousand')));
      expect(schemaProblems(invalid).join('\n')).toMatch(/containerPort must be integer/);
      expect(schemaProblems([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }])).toEqual([
        'v1/Pod x: no validator for this kind (add one, or do not use it)',
      ]);
      expect(
        schemaProblems([{ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'x' }, spec: { triggers: [{ type: 'redis' }] } }]),
      ).toEqual(['keda.sh/v1alpha1/ScaledObject x: spec.scaleTargetRef.name is required', 'keda.sh/v1alpha1/ScaledObject x: triggers[0].metadata is required']);
    });
  });
});

// Keep the raw-file checks meaningful where kubectl is missing: the directory must exist.
if (!existsSync(K8S_DIR)) throw new Error(`${K8S_DIR} is missing`);
