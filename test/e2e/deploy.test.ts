// The deployment files, checked offline: the Kubernetes manifests against the Kubernetes API's
// own schemas (vendored: test/fixtures/k8s-schemas/README.md says from where) and against
// echod itself — every ECHOD_* variable is a real flag with a value echod accepts, the ports and
// probe paths are the ones echod serves, and the grace periods outlast echod's shutdown — and
// the systemd units likewise (with `systemd-analyze` where it is installed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { envName, FLAGS, type FlagValue, parseCommandLine } from '../../src/cli/flags.js';
import { type ListenerOptions, parseListenUrl } from '../../src/config/listen-url.js';
import { parseDurationMs } from '../../src/core/units.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const K8S = join(ROOT, 'deploy', 'kubernetes');
const GRAFANA = join(ROOT, 'deploy', 'grafana');
const SYSTEMD = join(ROOT, 'deploy', 'systemd');
const SCHEMAS = join(ROOT, 'test', 'fixtures', 'k8s-schemas');
/** Bound on each external tool run (kubectl kustomize, systemd-analyze): each takes well under a second. */
const TOOL_MS = 20_000;

// ---- Loading -------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Manifest {
  file: string;
  object: K8sObject;
}

/** The parts of Kubernetes objects the consistency checks read (the schemas check the rest). */
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: JsonObject;
}

interface Container {
  name: string;
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: JsonObject;
}

interface Probe {
  httpGet?: { path: string; port: number | string };
}

/**
 * YAML as Kubernetes reads it: sigs.k8s.io/yaml follows YAML 1.1, where an unquoted `on`, `yes`
 * or `0755` is not the string it looks like. Parsing the same way lets the schema catch them.
 */
function loadYaml(path: string): Json[] {
  const documents = parseAllDocuments(readFileSync(path, 'utf8'), { version: '1.1', uniqueKeys: true });
  assert.ok(Array.isArray(documents), `${path} holds YAML documents`);
  return documents
    .map((document, index) => {
      assert.deepEqual(document.errors, [], `${path}, document ${index + 1}: YAML errors`);
      return document.toJS() as Json;
    })
    .filter((document) => document !== null);
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((path) => /\.ya?ml$/.test(path))
    .map((path) => join(dir, path))
    .sort();
}

const isKustomization = (path: string): boolean => /(^|\/)kustomization\.ya?ml$/.test(path);

const manifests: Manifest[] = yamlFiles(K8S)
  .filter((path) => !isKustomization(path))
  .flatMap((path) => loadYaml(path).map((object) => ({ file: relative(K8S, path), object: object as unknown as K8sObject })));

function one(kind: string, name?: string): K8sObject {
  const found = manifests.filter((m) => m.object.kind === kind && (name === undefined || m.object.metadata.name === name));
  assert.equal(found.length, 1, `exactly one ${kind}${name === undefined ? '' : ` named ${name}`} in deploy/kubernetes`);
  return (found[0] as Manifest).object;
}

const deployment = one('Deployment');
const podSpec = (deployment.spec.template as { spec: JsonObject }).spec;
const podLabels = (deployment.spec.template as { metadata: { labels: Record<string, string> } }).metadata.labels;
const containers = podSpec.containers as unknown as Container[];
const container = containers[0] as Container;
const service = one('Service', 'echod');

/** The Deployment's ECHOD_* variables, as echod would read them. */
const deploymentEnv: Record<string, string> = Object.fromEntries(
  (container.env ?? []).filter((e) => e.name.startsWith('ECHOD_')).map((e) => [e.name, e.value ?? '']),
);

const FLAG_ENV = new Set(FLAGS.map((flag) => envName(flag.name)));

/** Checks every name is a flag's variable, parses the values as echod does (throws on a bad one). */
function echodConfig(variables: Record<string, string>, where: string): Map<string, FlagValue> {
  for (const name of Object.keys(variables)) {
    if (name.startsWith('ECHOD_'))
      assert.ok(FLAG_ENV.has(name), `${where}: ${name} is the variable of a real flag (one of ${[...FLAG_ENV].join(', ')})`);
  }
  try {
    return parseCommandLine([], variables).values;
  } catch (err) {
    return assert.fail(`${where}: echod rejects the configuration: ${(err as Error).message}`);
  }
}

function durationMs(config: Map<string, FlagValue>, flag: 'shutdown-delay' | 'drain-timeout', fallback: string): number {
  const value = config.get(flag);
  return typeof value === 'number' ? value : (parseDurationMs(fallback) as number);
}

const ADMIN_TS = join(ROOT, 'src', 'observability', 'admin.ts');
const isPath = (key: unknown): key is string => typeof key === 'string' && key.startsWith('/');

/**
 * The paths of a route table among a module's exports: a Map or object keyed by path, or a list
 * of paths, of `[path, handler]` entries or of `{ path }` objects. Undefined when none is.
 */
function exportedRouteTable(exports: Record<string, unknown>): string[] | undefined {
  for (const value of Object.values(exports)) {
    let keys: unknown[];
    if (value instanceof Map) keys = [...(value as Map<unknown, unknown>).keys()];
    else if (Array.isArray(value))
      keys = value.map((item: unknown) =>
        Array.isArray(item) ? (item as unknown[])[0] : typeof item === 'object' && item !== null ? (item as { path?: unknown }).path : item,
      );
    else if (typeof value === 'object' && value !== null) keys = Object.keys(value);
    else continue;
    if (keys.length > 0 && keys.every(isPath)) return keys;
  }
  return undefined;
}

/**
 * The paths src/observability/admin.ts answers: its exported route table if it has one, else
 * read from its source, whichever way it spells the table — `['/path', handler]` entries (a
 * Map), `'/path': handler` keys, `path: '/path'` fields or `case '/path':` labels.
 */
async function adminRoutes(): Promise<Set<string>> {
  const exported = exportedRouteTable(await import('../../src/observability/admin.js'));
  let routes: Set<string>;
  if (exported !== undefined) {
    routes = new Set(exported);
  } else {
    const source = readFileSync(ADMIN_TS, 'utf8');
    const spellings = [/^\s*\[\s*'(\/[^'\s]*)'\s*,/gm, /^\s*'(\/[^'\s]*)'\s*:/gm, /\bpath: '(\/[^'\s]*)'/g, /\bcase '(\/[^'\s]*)':/g];
    routes = new Set(spellings.flatMap((pattern) => [...source.matchAll(pattern)].map((m) => m[1] as string)));
  }
  const where = exported !== undefined ? "admin.ts's exported route table" : "admin.ts's source";
  assert.ok(
    ['/healthz', '/readyz', '/metrics'].every((path) => routes.has(path)),
    `found /healthz, /readyz and /metrics in ${where}: ${[...routes].join(', ')}`,
  );
  return routes;
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  assert.ok(selector !== undefined && Object.keys(selector).length > 0, 'a non-empty selector');
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

/** Bytes in a Kubernetes quantity such as 384Mi, 1Gi, 500M or 1048576. */
function quantityBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(text);
  assert.ok(match !== null, `a memory quantity: ${text}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * unit;
}

// ---- Schemas -------------------------------------------------------------------------------------

type Schema = { [key: string]: Json };

/** Kubernetes' quantity syntax (k8s.io/apimachinery resource.Quantity), as CRDs spell it. */
const QUANTITY = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/**
 * The adjustments of kubeconform's strict schemas (openapi2jsonschema): no unknown fields, and
 * int-or-string means either. Quantities must also have the quantity syntax.
 */
function tighten(schema: Json): void {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return;
  if (schema.format === 'int-or-string') {
    delete schema.format;
    delete schema.type;
    schema.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (
    schema.properties !== undefined &&
    schema.additionalProperties === undefined &&
    schema['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    schema.additionalProperties = false;
  }
  const properties = schema.properties;
  if (properties !== null && typeof properties === 'object' && !Array.isArray(properties))
    for (const value of Object.values(properties)) tighten(value);
  tighten(schema.items ?? null);
  tighten(schema.additionalProperties ?? null);
  for (const key of ['allOf', 'anyOf', 'oneOf']) {
    const list = schema[key];
    if (Array.isArray(list)) for (const item of list) tighten(item);
  }
}

const INT32 = 2 ** 31;

function makeAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true });
  // Kubernetes' annotations on schemas; only list-map-keys is checked (each key tuple once).
  ajv.addVocabulary([
    'x-kubernetes-group-version-kind',
    'x-kubernetes-list-type',
    'x-kubernetes-map-type',
    'x-kubernetes-patch-merge-key',
    'x-kubernetes-patch-strategy',
    'x-kubernetes-unions',
    'x-kubernetes-int-or-string',
  ]);
  ajv.addKeyword({
    keyword: 'x-kubernetes-list-map-keys',
    type: 'array',
    schemaType: 'array',
    validate: (keys: string[], data: unknown[]) => {
      const seen = data.map((item) => JSON.stringify(keys.map((key) => (item as Record<string, unknown>)[key] ?? null)));
      return new Set(seen).size === seen.length;
    },
  });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -INT32 && n < INT32 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('double', { type: 'number', validate: (n: number) => Number.isFinite(n) });
  ajv.addFormat('byte', /^[A-Za-z0-9+/]*={0,2}$/);
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  return ajv;
}

interface Validators {
  /** `apiVersion/kind` → its validator. */
  byKind: Map<string, ValidateFunction>;
}

/** The custom resources' schemas, each from its prometheus-operator CRD (see README.md there). */
const CRD_SCHEMAS = [
  { file: 'servicemonitor-v1.json', apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor' },
  { file: 'prometheusrule-v1.json', apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule' },
] as const;

function loadValidators(): Validators {
  const ajv = makeAjv();
  // The OpenAPI document's `components.schemas`, as JSON Schema's `definitions` for Ajv.
  const text = readFileSync(join(SCHEMAS, 'kubernetes-definitions.json'), 'utf8').replaceAll('"#/components/schemas/', '"#/definitions/');
  const schemas = (JSON.parse(text) as { components: { schemas: Record<string, Schema> } }).components.schemas;
  schemas['io.k8s.apimachinery.pkg.api.resource.Quantity'] = { anyOf: [{ type: 'number' }, { type: 'string', pattern: QUANTITY }] };
  for (const schema of Object.values(schemas)) tighten(schema);
  ajv.addSchema({ $id: 'k8s', definitions: schemas });
  const byKind = new Map<string, ValidateFunction>();
  for (const [name, schema] of Object.entries(schemas)) {
    const gvks = schema['x-kubernetes-group-version-kind'];
    if (!Array.isArray(gvks)) continue;
    for (const gvk of gvks as { group: string; version: string; kind: string }[]) {
      const apiVersion = gvk.group === '' ? gvk.version : `${gvk.group}/${gvk.version}`;
      const validate = ajv.compile({
        type: 'object',
        allOf: [{ $ref: `k8s#/definitions/${name}` }],
        properties: {
          apiVersion: { const: apiVersion },
          kind: { const: gvk.kind },
          metadata: { type: 'object', properties: { name: { type: 'string', minLength: 1 } }, required: ['name'] },
        },
        required: ['apiVersion', 'kind', 'metadata'],
      });
      byKind.set(`${apiVersion}/${gvk.kind}`, validate);
    }
  }
  for (const { file, apiVersion, kind } of CRD_SCHEMAS) {
    const schema = JSON.parse(readFileSync(join(SCHEMAS, file), 'utf8')) as Schema;
    delete schema.$comment;
    tighten(schema);
    byKind.set(
      `${apiVersion}/${kind}`,
      ajv.compile({
        type: 'object',
        allOf: [schema],
        properties: {
          apiVersion: { const: apiVersion },
          kind: { const: kind },
          metadata: { type: 'object', properties: { name: { type: 'string', minLength: 1 } }, required: ['name'] },
        },
        required: ['apiVersion', 'kind', 'metadata'],
      }),
    );
  }
  return { byKind };
}

const validators = loadValidators();

/** The schema's complaints about `object`, one line each; none when it is valid. */
function schemaErrors(object: unknown): string[] {
  const { apiVersion, kind } = object as { apiVersion?: unknown; kind?: unknown };
  const validate = validators.byKind.get(`${String(apiVersion)}/${String(kind)}`);
  if (validate === undefined)
    return [`no schema for ${String(apiVersion)} ${String(kind)} (known: ${[...validators.byKind.keys()].join(', ')})`];
  if (validate(object)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
}

// ---- Kubernetes ----------------------------------------------------------------------------------

describe('Kubernetes manifests', () => {
  it('are valid against the Kubernetes 1.27 API schemas (and ServiceMonitor and PrometheusRule against their CRDs), unknown fields rejected', () => {
    assert.ok(manifests.length >= 6, `found the manifests: ${manifests.map((m) => m.file).join(', ')}`);
    for (const { file, object } of manifests) {
      assert.deepEqual(schemaErrors(object), [], `${file}: ${object.kind} ${object.metadata.name}`);
    }
  });

  it('the schema check catches the mistakes the API server would reject', () => {
    const mutated = (mutate: (copy: Record<string, Json>) => void): unknown => {
      const copy = structuredClone(deployment) as unknown as Record<string, Json>;
      mutate(copy);
      return copy;
    };
    const firstContainer = (copy: Record<string, Json>): Record<string, Json> =>
      ((((copy.spec as JsonObject).template as JsonObject).spec as JsonObject).containers as JsonObject[])[0] as Record<string, Json>;
    const cases: [string, unknown][] = [
      ['a misspelt field', mutated((copy) => (firstContainer(copy).readinesProbe = {}))],
      ['a field at the wrong level', mutated((copy) => ((copy.spec as JsonObject).terminationGracePeriodSeconds = 45))],
      [
        'a number where a string belongs',
        mutated((copy) => ((firstContainer(copy).env as JsonObject[])[0] = { name: 'ECHOD_PORT', value: 8080 })),
      ],
      [
        'a quantity in the wrong unit',
        mutated((copy) => (((firstContainer(copy).resources as JsonObject).limits as JsonObject).memory = '384MB')),
      ],
      [
        'a fractional int-or-string',
        mutated((copy) => ((((copy.spec as JsonObject).strategy as JsonObject).rollingUpdate as JsonObject).maxSurge = 1.5)),
      ],
      [
        'two ports with one number',
        mutated((copy) => (firstContainer(copy).ports as JsonObject[]).push({ name: 'again', containerPort: 8080, protocol: 'TCP' })),
      ],
      ['a missing required field', mutated((copy) => delete (copy.spec as JsonObject).selector)],
      ['the wrong apiVersion', mutated((copy) => (copy.apiVersion = 'extensions/v1beta1'))],
    ];
    for (const [what, object] of cases) assert.notDeepEqual(schemaErrors(object), [], `${what} is rejected`);
    const monitor = structuredClone(one('ServiceMonitor')) as unknown as { spec: { endpoints: JsonObject[] } };
    (monitor.spec.endpoints[0] as JsonObject).interval = '30 seconds';
    assert.notDeepEqual(schemaErrors(monitor), [], 'a ServiceMonitor interval Prometheus cannot parse is rejected');
    type Rules = { spec: { groups: { name: string; rules: JsonObject[] }[] } };
    const rules = (mutate: (copy: Rules) => void): unknown => {
      const copy = structuredClone(one('PrometheusRule')) as unknown as Rules;
      mutate(copy);
      return copy;
    };
    const firstRule = (copy: Rules): JsonObject => (copy.spec.groups[0] as Rules['spec']['groups'][number]).rules[0] as JsonObject;
    const ruleCases: [string, unknown][] = [
      ['a `for` Prometheus cannot parse', rules((copy) => (firstRule(copy).for = '2 minutes'))],
      ['a rule without expr', rules((copy) => delete firstRule(copy).expr)],
      ['a label at the rule level instead of under labels', rules((copy) => (firstRule(copy).severity = 'critical'))],
      [
        'two groups with one name',
        rules((copy) => copy.spec.groups.push(structuredClone(copy.spec.groups[0] as Rules['spec']['groups'][number]))),
      ],
    ];
    for (const [what, object] of ruleCases) assert.notDeepEqual(schemaErrors(object), [], `PrometheusRule: ${what} is rejected`);
  });

  it('the Kustomize base lists exactly the base manifests; the optional parts are components', () => {
    const base = loadYaml(join(K8S, 'kustomization.yaml'))[0] as { kind: string; resources: string[]; components?: string[] };
    assert.equal(base.kind, 'Kustomization');
    assert.deepEqual(
      [...base.resources].sort(),
      readdirSync(K8S)
        .filter((name) => /\.ya?ml$/.test(name) && !isKustomization(name))
        .sort(),
      'every manifest in deploy/kubernetes/ is in the base, and only those',
    );
    assert.equal(base.components, undefined, 'the base adds no optional component');
    assert.ok(
      !manifests.some((m) => m.object.kind === 'ServiceMonitor' && base.resources.includes(m.file)),
      'the ServiceMonitor is not in the base',
    );
    const componentsDir = join(K8S, 'components');
    for (const name of readdirSync(componentsDir)) {
      const component = loadYaml(join(componentsDir, name, 'kustomization.yaml'))[0] as {
        apiVersion: string;
        kind: string;
        resources: string[];
      };
      assert.equal(component.kind, 'Component', `components/${name} is a Kustomize Component`);
      assert.equal(component.apiVersion, 'kustomize.config.k8s.io/v1alpha1');
      assert.deepEqual(
        [...component.resources].sort(),
        readdirSync(join(componentsDir, name))
          .filter((file) => !isKustomization(file))
          .sort(),
        `components/${name} lists its manifests`,
      );
    }
    assert.ok(
      existsSync(join(componentsDir, 'servicemonitor', 'servicemonitor.yaml')),
      'the ServiceMonitor is the optional servicemonitor component',
    );
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: TOOL_MS });
  it(
    'kubectl kustomize builds the base, and the base with every component',
    { skip: kubectl.error !== undefined ? 'kubectl is not installed (the checks above do not need it)' : false },
    () => {
      const build = (dir: string): K8sObject[] => {
        const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: TOOL_MS });
        assert.equal(result.status, 0, `kubectl kustomize ${dir}: ${result.stderr}`);
        return parseAllDocuments(result.stdout).map((document) => document.toJS() as K8sObject);
      };
      const key = (o: K8sObject): string => `${o.kind}/${o.metadata.name}`;
      const base = build(K8S);
      const baseFiles = (loadYaml(join(K8S, 'kustomization.yaml'))[0] as { resources: string[] }).resources;
      const expected = manifests.filter((m) => baseFiles.includes(m.file)).map((m) => m.object);
      assert.deepEqual(base.map(key).sort(), expected.map(key).sort());
      for (const built of base)
        assert.deepEqual(
          built,
          expected.find((o) => key(o) === key(built)),
          `${key(built)} comes out of kustomize as written`,
        );

      // An overlay in a temporary folder, as a user would write one (paths relative: kustomize requires it).
      const overlay = mkdtempSync(join(tmpdir(), 'echod-overlay-'));
      try {
        const components = readdirSync(join(K8S, 'components')).map((name) => `  - ${relative(overlay, join(K8S, 'components', name))}`);
        writeFileSync(
          join(overlay, 'kustomization.yaml'),
          ['resources:', `  - ${relative(overlay, K8S)}`, 'components:', ...components, ''].join('\n'),
        );
        const full = build(overlay);
        // The grafana-dashboard component's configMapGenerator (deploy/grafana/) adds the one object
        // that is no file in deploy/kubernetes: the dashboard's ConfigMap, for the Grafana sidecar.
        const generated = ['ConfigMap/echod-grafana-dashboard'];
        assert.deepEqual(
          full.map(key).sort(),
          [...manifests.map((m) => key(m.object)), ...generated].sort(),
          'the base plus every component is every manifest, plus the generated dashboard ConfigMap',
        );
        for (const built of full) assert.deepEqual(schemaErrors(built), [], `${key(built)} as kustomize renders it`);
        const dashboard = full.find((o) => key(o) === 'ConfigMap/echod-grafana-dashboard') as unknown as {
          metadata: { labels?: Record<string, string> };
          data?: Record<string, string>;
        };
        assert.deepEqual(Object.keys(dashboard.data ?? {}), ['echod-dashboard.json'], 'the ConfigMap holds the dashboard only');
        assert.equal(
          dashboard.data?.['echod-dashboard.json'],
          readFileSync(join(GRAFANA, 'echod-dashboard.json'), 'utf8'),
          'the ConfigMap holds deploy/grafana/echod-dashboard.json as it is',
        );
        assert.equal(dashboard.metadata.labels?.grafana_dashboard, '1', 'labelled for the Grafana sidecar');
      } finally {
        rmSync(overlay, { recursive: true, force: true });
      }
    },
  );

  it('every ECHOD_* variable is a real flag, set once, with a value echod accepts', () => {
    const names = (container.env ?? []).map((e) => e.name);
    assert.equal(new Set(names).size, names.length, 'no variable is set twice');
    for (const variable of container.env ?? []) assert.equal(typeof variable.value, 'string', `${variable.name} has a literal value`);
    echodConfig(deploymentEnv, 'deployment.yaml');
  });

  it("ports and probes are echod's: container ports from the listeners, probes on admin.ts's paths, the Service and ServiceMonitor on those ports", async () => {
    const config = echodConfig(deploymentEnv, 'deployment.yaml');
    const port = (name: string, protocol: 'TCP' | 'UDP' = 'TCP'): number => {
      const found = container.ports?.find((p) => p.name === name);
      assert.ok(found !== undefined, `the container declares a port named ${name}`);
      assert.equal(found.protocol ?? 'TCP', protocol, `the container port ${name} is ${protocol}`);
      return found.containerPort;
    };
    // The listeners echod opens: ECHOD_LISTEN's URLs (which replace ECHOD_HOST/ECHOD_PORT).
    const urls = config.get('listen') as string[] | undefined;
    assert.ok(urls !== undefined && urls.length > 0, 'ECHOD_LISTEN names the listeners');
    const listeners: ListenerOptions[] = urls.map((url) => parseListenUrl(url));
    const listener = (protocol: 'tcp' | 'udp'): ListenerOptions => {
      const found = listeners.filter((l) => l.protocol === protocol);
      assert.equal(found.length, 1, `one ${protocol}:// listener in ECHOD_LISTEN (${urls.join(' ')})`);
      return found[0] as ListenerOptions;
    };
    assert.equal(port('echo'), listener('tcp').port, "the echo port is the tcp:// listener's");
    assert.equal(port('echo-udp', 'UDP'), listener('udp').port, "the echo-udp port is the udp:// listener's, declared as UDP");
    assert.deepEqual(
      (container.ports ?? []).map((p) => p.name).sort(),
      ['admin', 'echo', 'echo-udp'],
      'every container port is a listener or the admin port, and every listener has its port',
    );
    for (const l of listeners)
      assert.equal(l.host, '::', `${l.protocol}:// listens on :: (a dual-stack Service needs pods listening on both families)`);
    assert.equal(port('admin'), config.get('admin-port'), 'the admin port is ECHOD_ADMIN_PORT (and the admin endpoint is on)');
    const adminHost = String(config.get('admin-host') ?? '127.0.0.1');
    assert.ok(
      !['127.0.0.1', 'localhost', '::1'].includes(adminHost),
      `ECHOD_ADMIN_HOST (${adminHost}) is reachable by kubelet's probes at the pod IP`,
    );

    const routes = await adminRoutes();
    const probe = (which: 'readinessProbe' | 'livenessProbe', path: string): void => {
      const get = container[which]?.httpGet;
      assert.ok(get !== undefined, `${which} is an HTTP GET`);
      assert.equal(get.path, path, `${which} asks ${path}`);
      assert.ok(routes.has(get.path), `admin.ts answers ${get.path}`);
      assert.ok(get.port === 'admin' || get.port === config.get('admin-port'), `${which} goes to the admin port`);
    };
    probe('readinessProbe', '/readyz');
    probe('livenessProbe', '/healthz');

    // Service → pods.
    assert.ok(matches(service.spec.selector as Record<string, string>, podLabels), "the Service's selector matches the pods");
    assert.equal(service.spec.ipFamilyPolicy, 'PreferDualStack');
    const servicePorts = service.spec.ports as { name: string; port: number; targetPort: string | number; protocol: string }[];
    for (const p of servicePorts) {
      const target = container.ports?.find((c) => c.name === p.targetPort || c.containerPort === p.targetPort);
      assert.ok(target !== undefined, `Service port ${p.name} targets a container port`);
      assert.equal(p.protocol, target.protocol ?? 'TCP', `Service port ${p.name} has its container port's protocol`);
    }
    assert.deepEqual(
      servicePorts.map((p) => p.name).sort(),
      ['admin', 'echo', 'echo-udp'],
      'the Service exposes the TCP and UDP echo ports and the admin port',
    );
    assert.deepEqual(
      servicePorts.filter((p) => p.protocol === 'UDP').map((p) => [p.name, p.targetPort]),
      [['echo-udp', 'echo-udp']],
      'UDP echo is exposed, to the udp:// listener',
    );

    // Every other Service (the optional external one) targets the echo port only.
    for (const m of manifests.filter((x) => x.object.kind === 'Service' && x.object !== service)) {
      const ports = m.object.spec.ports as { name: string; targetPort: string }[];
      assert.deepEqual(
        ports.map((p) => p.targetPort),
        ['echo'],
        `${m.file} exposes the echo port only, never the admin port`,
      );
      assert.ok(matches(m.object.spec.selector as Record<string, string>, podLabels), `${m.file} selects the pods`);
    }

    // ServiceMonitor → Service → admin port.
    const monitor = one('ServiceMonitor');
    assert.ok(
      matches((monitor.spec.selector as { matchLabels: Record<string, string> }).matchLabels, service.metadata.labels),
      'the ServiceMonitor selects the echod Service',
    );
    for (const m of manifests.filter((x) => x.object.kind === 'Service' && x.object !== service)) {
      assert.ok(
        !matches((monitor.spec.selector as { matchLabels: Record<string, string> }).matchLabels, m.object.metadata.labels),
        `the ServiceMonitor does not select ${m.file}`,
      );
    }
    for (const endpoint of monitor.spec.endpoints as { port: string; path: string }[]) {
      assert.equal(endpoint.port, 'admin');
      assert.ok(routes.has(endpoint.path) && endpoint.path === '/metrics', 'it scrapes /metrics');
    }

    // The image: its EXPOSE lines and its user.
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const exposed = [...dockerfile.matchAll(/^EXPOSE (.+)$/gm)].map((m) => (m[1] as string).split(/\s+/).map(Number).sort());
    for (const ports of exposed)
      assert.deepEqual(
        ports,
        [port('echo'), port('admin')].sort(),
        'the TCP container ports are the ones the image EXPOSEs (the image starts no udp:// listener by default)',
      );
    const users = [...dockerfile.matchAll(/^USER (\d+):(\d+)$/gm)];
    assert.ok(users.length > 0);
    for (const user of users) {
      assert.equal((podSpec.securityContext as JsonObject).runAsUser, Number(user[1]), "runAsUser is the image's USER");
      assert.equal((podSpec.securityContext as JsonObject).runAsGroup, Number(user[2]), "runAsGroup is the image's group");
    }
  });

  it('shutdown: endpoints go first, then the drain, all within terminationGracePeriodSeconds', () => {
    const config = echodConfig(deploymentEnv, 'deployment.yaml');
    const delayMs = durationMs(config, 'shutdown-delay', '0');
    const drainMs = durationMs(config, 'drain-timeout', '10s');
    assert.ok(delayMs > 0, 'ECHOD_SHUTDOWN_DELAY is set, so connections routed during endpoint removal are still served');
    const readiness = container.readinessProbe as { periodSeconds?: number; failureThreshold?: number };
    const readinessMs = (readiness.periodSeconds ?? 10) * 1000 * (readiness.failureThreshold ?? 3);
    assert.ok(delayMs >= readinessMs, `the shutdown delay (${delayMs} ms) covers the readiness probe noticing the 503 (${readinessMs} ms)`);
    const graceMs = (podSpec.terminationGracePeriodSeconds as number) * 1000;
    assert.ok(
      graceMs > delayMs + drainMs,
      `terminationGracePeriodSeconds (${graceMs} ms) > shutdown delay + drain timeout (${delayMs + drainMs} ms)`,
    );
    assert.equal(container.readinessProbe?.httpGet?.path, '/readyz');
    assert.ok(!JSON.stringify(container).includes('preStop'), 'no preStop hook: echod delays its own shutdown (ECHOD_SHUTDOWN_DELAY)');
  });

  it('rollouts and disruptions keep capacity: maxUnavailable 0, the HPA owns the replica count, the PDB allows drains', () => {
    const strategy = deployment.spec.strategy as {
      type: string;
      rollingUpdate: { maxUnavailable: number | string; maxSurge: number | string };
    };
    assert.equal(strategy.type, 'RollingUpdate');
    assert.equal(strategy.rollingUpdate.maxUnavailable, 0);
    assert.ok(
      strategy.rollingUpdate.maxSurge !== 0 && strategy.rollingUpdate.maxSurge !== '0%',
      'maxSurge > 0, or the rollout could not proceed',
    );
    assert.ok(
      matches((deployment.spec.selector as { matchLabels: Record<string, string> }).matchLabels, podLabels),
      "the Deployment's selector matches its pods",
    );

    const hpa = one('HorizontalPodAutoscaler');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    assert.ok(
      (hpa.spec.metrics as { resource?: { name: string } }[]).some((m) => m.resource?.name === 'cpu'),
      'the HPA scales on CPU',
    );
    assert.ok(container.resources?.requests?.cpu !== undefined, 'a CPU request, which CPU utilization is measured against');
    assert.equal(deployment.spec.replicas, undefined, 'no replicas in the Deployment: it would fight the HPA on every apply');

    const pdb = one('PodDisruptionBudget');
    assert.ok(
      matches((pdb.spec.selector as { matchLabels: Record<string, string> }).matchLabels, podLabels),
      "the PDB's selector matches the pods",
    );
    const minReplicas = hpa.spec.minReplicas as number;
    assert.ok(minReplicas >= 2, 'at least two replicas, so one can be evicted');
    assert.ok(
      typeof pdb.spec.maxUnavailable === 'number' && pdb.spec.maxUnavailable >= 1 && pdb.spec.maxUnavailable < minReplicas,
      'the PDB lets a node drain proceed and keeps a replica serving',
    );

    const spread = podSpec.topologySpreadConstraints as { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }[];
    assert.deepEqual(spread.map((s) => s.topologyKey).sort(), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    for (const s of spread) assert.ok(matches(s.labelSelector.matchLabels, podLabels), `the ${s.topologyKey} spread counts echod's pods`);
  });

  it('the pod is locked down: non-root, no privilege escalation, read-only root, no capabilities, RuntimeDefault seccomp', () => {
    const pod = podSpec.securityContext as JsonObject;
    assert.equal(pod.runAsNonRoot, true);
    assert.ok(typeof pod.runAsUser === 'number' && pod.runAsUser > 0);
    assert.deepEqual(pod.seccompProfile, { type: 'RuntimeDefault' });
    for (const c of containers) {
      const sc = c.securityContext as JsonObject;
      assert.equal(sc.allowPrivilegeEscalation, false, `${c.name}: allowPrivilegeEscalation`);
      assert.equal(sc.readOnlyRootFilesystem, true, `${c.name}: readOnlyRootFilesystem`);
      assert.deepEqual((sc.capabilities as JsonObject).drop, ['ALL'], `${c.name}: capabilities`);
      assert.equal((sc.capabilities as JsonObject).add, undefined, `${c.name}: no capability added`);
      assert.ok(
        c.resources?.requests?.memory !== undefined && c.resources.limits?.memory !== undefined,
        `${c.name}: memory request and limit`,
      );
    }
    assert.equal(podSpec.volumes, undefined, 'no writable volume: echod writes nothing');
    assert.equal(podSpec.automountServiceAccountToken, false, 'no API token in the pod');
    assert.equal(podSpec.enableServiceLinks, false, 'no service-link variables: the Service named echod would inject ECHOD_PORT=tcp://…');
  });

  it("the memory limit covers echod's per-connection bounds, and the pod runs one process", () => {
    const config = echodConfig(deploymentEnv, 'deployment.yaml');
    const maxConnections = config.get('max-connections');
    const maxLineBytes = config.get('max-line-bytes');
    assert.ok(typeof maxConnections === 'number' && maxConnections > 0, 'ECHOD_MAX_CONNECTIONS bounds the connections');
    assert.ok(typeof maxLineBytes === 'number', 'ECHOD_MAX_LINE_BYTES is set');
    // Node.js and the app's own heap, measured in docs/reliability.md (~60 MiB at rest).
    const baseline = 64 * 2 ** 20;
    const worst = maxConnections * 2 * maxLineBytes + baseline;
    const limit = quantityBytes(container.resources?.limits?.memory ?? '0');
    assert.ok(worst <= limit, `worst case ${Math.round(worst / 2 ** 20)} MiB fits the ${Math.round(limit / 2 ** 20)} MiB limit`);
    assert.equal(config.get('workers') ?? 1, 1, 'one process per pod: scale with replicas');
  });
});

// ---- systemd -------------------------------------------------------------------------------------

interface Unit {
  /** `Section.Key` → every value assigned, in order. */
  values: Map<string, string[]>;
  /** The comment lines. */
  comments: string[];
}

function parseUnit(path: string): Unit {
  const values = new Map<string, string[]>();
  const comments: string[] = [];
  let section = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#') || line.startsWith(';')) {
      comments.push(line);
      continue;
    }
    const header = /^\[(\w+)\]$/.exec(line);
    if (header !== null) {
      section = header[1] as string;
      continue;
    }
    assert.ok(!line.endsWith('\\'), `${path}: no continuation lines (the checks read one assignment a line)`);
    const at = line.indexOf('=');
    assert.ok(at > 0 && section !== '', `${path}: Key=value inside a section: ${line}`);
    const key = `${section}.${line.slice(0, at).trim()}`;
    values.set(key, [...(values.get(key) ?? []), line.slice(at + 1).trim()]);
  }
  return { values, comments };
}

function single(unit: Unit, key: string): string {
  const found = unit.values.get(key);
  assert.ok(found !== undefined && found.length === 1, `${key} is set once`);
  return found[0] as string;
}

/** `KEY=value` assignments (as in Environment= and EnvironmentFile files). */
function assignments(lines: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    lines.map((line) => {
      const match = /^"?([A-Za-z_][A-Za-z0-9_]*)=(.*?)"?$/.exec(line);
      assert.ok(match !== null, `KEY=value: ${line}`);
      return [match[1] as string, match[2] as string];
    }),
  );
}

/** systemd's time spans as used here: `20s`, `1min 30s`, `500ms`, or bare seconds. */
function systemdSeconds(text: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  let total = 0;
  for (const m of text.matchAll(/(\d+)\s*(ms|s|min|m|h)\b/g))
    total += Number(m[1]) * { ms: 0.001, s: 1, min: 60, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'min' | 'm' | 'h'];
  assert.ok(total > 0, `a time span: ${text}`);
  return total;
}

describe('systemd units', () => {
  const service = parseUnit(join(SYSTEMD, 'echod.service'));
  const socket = parseUnit(join(SYSTEMD, 'echod.socket'));
  const environment = assignments(service.values.get('Service.Environment') ?? []);

  it('ExecStart runs the package bin with Node.js from the working directory', () => {
    const [executable, script, ...rest] = single(service, 'Service.ExecStart').split(/\s+/);
    assert.equal(executable, '/usr/bin/node', 'an absolute path to node');
    assert.deepEqual(rest, [], 'configuration comes from the environment, not arguments');
    const bin = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: { echod: string } }).bin.echod;
    const workdir = single(service, 'Service.WorkingDirectory');
    assert.equal(script, `${workdir}/${bin}`, "the script is package.json's bin under WorkingDirectory");
    assert.ok(existsSync(join(ROOT, bin)), `${bin} exists`);
  });

  it('every ECHOD_* variable (in the unit and the example environment file) is a real flag with a valid value', () => {
    echodConfig(environment, 'echod.service');
    const example = readFileSync(join(SYSTEMD, 'echod.env'), 'utf8')
      .split('\n')
      .map((line) => line.trim().replace(/^#(?=[A-Z_]+=)/, ''))
      .filter((line) => /^[A-Z_]+=/.test(line));
    assert.ok(example.length > 0, 'echod.env shows the variables');
    echodConfig(assignments(example), 'echod.env');
    assert.equal(
      single(service, 'Service.EnvironmentFile'),
      '-/etc/echod/echod.env',
      'the optional overrides file (the - makes it optional)',
    );
  });

  it('stopping: SIGTERM to echod, and TimeoutStopSec outlasts shutdown delay + drain timeout', () => {
    assert.equal(single(service, 'Service.KillSignal'), 'SIGTERM');
    assert.equal(single(service, 'Service.KillMode'), 'mixed', 'SIGTERM to the main process only: it drains its workers itself');
    const config = echodConfig(environment, 'echod.service');
    const needed = (durationMs(config, 'shutdown-delay', '0') + durationMs(config, 'drain-timeout', '10s')) / 1000;
    assert.ok(systemdSeconds(single(service, 'Service.TimeoutStopSec')) > needed, `TimeoutStopSec > ${needed} s`);
    assert.equal(single(service, 'Service.Restart'), 'on-failure');
    assert.equal(single(service, 'Service.RestartPreventExitStatus'), '2', 'a usage error (exit 2) is not retried');
  });

  it('is sandboxed: dynamic user, read-only system, no capabilities, restricted sockets and system calls', () => {
    const expected: Record<string, string> = {
      'Service.DynamicUser': 'yes',
      'Service.ProtectSystem': 'strict',
      'Service.ProtectHome': 'yes',
      'Service.PrivateTmp': 'yes',
      'Service.PrivateDevices': 'yes',
      'Service.NoNewPrivileges': 'yes',
      'Service.RestrictAddressFamilies': 'AF_INET AF_INET6 AF_UNIX',
      'Service.SystemCallFilter': '@system-service',
      'Service.CapabilityBoundingSet': '',
      'Service.AmbientCapabilities': '',
    };
    for (const [key, value] of Object.entries(expected)) assert.equal(single(service, key), value, key);
    assert.ok(
      !service.values.has('Service.MemoryDenyWriteExecute'),
      "MemoryDenyWriteExecute stays off: V8's JIT needs writable-then-executable memory",
    );
    assert.ok(
      service.comments.some((c) => c.includes('MemoryDenyWriteExecute') && c.includes('JIT')),
      'a comment says why MemoryDenyWriteExecute is off',
    );
    assert.ok(
      service.comments.some((c) => /^#\s*CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/.test(c)),
      'a commented CAP_NET_BIND_SERVICE line for ports below 1024',
    );
    const nofile = Number(single(service, 'Service.LimitNOFILE'));
    const config = echodConfig(environment, 'echod.service');
    assert.ok(nofile > Number(config.get('max-connections') ?? 10_000), 'LimitNOFILE above max-connections');
  });

  it("echod.socket is optional: the service runs without it, and the socket is echod's port", () => {
    for (const [key, values] of service.values) {
      for (const value of values) assert.ok(!value.includes('echod.socket'), `${key}=${value} does not refer to echod.socket`);
    }
    assert.ok(!service.values.has('Service.Sockets'));
    assert.ok(
      socket.comments.some((c) => c.includes('LISTEN_FDS')),
      'echod.socket says it passes the socket through LISTEN_FDS',
    );
    assert.ok(
      socket.comments.some((c) => c.includes('ECHOD_WORKERS')),
      'and that it serves one process only',
    );
    const config = echodConfig(environment, 'echod.service');
    assert.equal(Number(single(socket, 'Socket.ListenStream')), config.get('port'), "the socket is echod's port");
    assert.equal(single(socket, 'Socket.Service'), 'echod.service');
  });

  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8', timeout: TOOL_MS });
  const noAnalyze = analyze.error !== undefined ? 'systemd-analyze is not installed (the checks above do not need it)' : false;

  it(
    'systemd-analyze verify accepts both units without a warning',
    { skip: noAnalyze || (existsSync('/usr/bin/node') ? false : "verify needs ExecStart's /usr/bin/node to exist") },
    () => {
      const result = spawnSync('systemd-analyze', ['verify', '--man=no', './echod.service', './echod.socket'], {
        cwd: SYSTEMD,
        encoding: 'utf8',
        timeout: TOOL_MS,
      });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stderr.trim(), '', 'no warnings');
    },
  );

  it('systemd-analyze security rates the service exposure below 2.0 ("OK")', { skip: noAnalyze }, () => {
    // --threshold is on the 0–100 scale behind the 0.0–10.0 shown: 20 means 2.0.
    const result = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=20', '--no-pager', './echod.service'], {
      cwd: SYSTEMD,
      encoding: 'utf8',
      timeout: TOOL_MS,
    });
    assert.equal(
      result.status,
      0,
      `${result.stdout
        .split('\n')
        .filter((l) => l.includes('Overall'))
        .join('\n')}\n${result.stderr}`,
    );
  });
});
