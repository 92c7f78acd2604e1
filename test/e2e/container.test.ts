// The container image, without a container engine: this machine runs no Docker daemon, so the
// test reads the Dockerfile itself and does what it says. It parses every instruction the image
// depends on (ARG, FROM, WORKDIR, COPY, RUN, ENV, USER, EXPOSE, HEALTHCHECK, STOPSIGNAL,
// ENTRYPOINT, CMD), checks them, lays out the runtime stage's files in a temporary root — the
// production node_modules made by the prod-deps stage's own RUN line, dist/ from the build
// (`npm test` builds first, as the build stage does), bin/ and package.json — and starts echod
// from there with the image's ENTRYPOINT, CMD and ENV, under Node.js and under Bun. It then
// echoes a line, asks /healthz and /readyz, runs the image's HEALTHCHECK command, sends
// SIGTERM, expects exit code 0, and checks that nothing in the image's files was written.
//
// Two deliberate differences from a container, both overrides of the image's ENV:
// ECHOD_HOST and ECHOD_ADMIN_HOST are 127.0.0.1 instead of 0.0.0.0 (tests listen on loopback
// only), and ECHOD_PORT and ECHOD_ADMIN_PORT are 0 instead of 8080 and 9090 (those may be taken
// on this machine); the ports echod picked are read from its JSON log.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { envName, FLAGS, parseCommandLine } from '../../src/cli/flags.js';
import { DEFAULTS } from '../../src/config/options.js';
import { request } from '../../testkit/admin-http.js';
import { Client, HOST, WAIT_MS } from '../../testkit/clients.js';
import { EchodProcess, START_MS } from '../../testkit/echod-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOCKERFILE = join(ROOT, 'Dockerfile');
const DOCKERIGNORE = join(ROOT, '.dockerignore');
/** The Bun dev dependency's binary: how the Bun image's `bun` runs here. */
const BUN = join(ROOT, 'node_modules', '.bin', 'bun');

/** `npm ci --omit=dev` from npm's cache takes seconds; from the registry, longer. */
const INSTALL_MS = 90_000;
/** Past the image's drain timeout, for logging the last line and exiting. */
const EXIT_MARGIN_MS = 5000;

interface PackageJson {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

// ---- The Dockerfile, parsed ----------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
  name: string;
  /** The image reference after build-arg substitution. */
  from: string;
  instructions: Instruction[];
}

interface Dockerfile {
  /** Global ARGs (before the first FROM) and their defaults. */
  args: Map<string, string>;
  stages: Stage[];
}

/** Joins continuation lines, drops comments and blank lines, and splits off each keyword. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (pending !== '' && line.trimStart().startsWith('#')) return; // a comment inside a continuation
    if (pending === '') start = index + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const whole = (pending + line).trim();
    pending = '';
    const match = /^(\S+)\s*(.*)$/s.exec(whole);
    assert.ok(match !== null, `Dockerfile line ${start}: cannot parse ${JSON.stringify(whole)}`);
    out.push({ keyword: (match[1] as string).toUpperCase(), args: (match[2] as string).trim(), line: start });
  });
  assert.equal(pending, '', 'the Dockerfile ends inside a continuation line');
  return out;
}

function parseDockerfile(text: string): Dockerfile {
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of instructions(text)) {
    if (instruction.keyword === 'FROM') {
      const match = /^(\S+)\s+AS\s+(\S+)$/i.exec(instruction.args);
      assert.ok(match !== null, `Dockerfile line ${instruction.line}: every stage is named (FROM image AS name)`);
      const from = (match[1] as string).replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced: string | undefined, bare: string | undefined) => {
        const name = braced ?? bare ?? '';
        const value = args.get(name);
        assert.ok(value !== undefined, `Dockerfile line ${instruction.line}: build arg ${name} has no default`);
        return value;
      });
      stages.push({ name: match[2] as string, from, instructions: [] });
    } else if (stages.length === 0) {
      assert.equal(instruction.keyword, 'ARG', `Dockerfile line ${instruction.line}: only ARG may come before the first FROM`);
      const [name, value] = splitOnce(instruction.args, '=');
      assert.ok(value !== undefined, `Dockerfile line ${instruction.line}: ARG ${name} has a default`);
      args.set(name, value);
    } else {
      (stages.at(-1) as Stage).instructions.push(instruction);
    }
  }
  return { args, stages };
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + separator.length)];
}

function stage(file: Dockerfile, name: string): Stage {
  const found = file.stages.find((s) => s.name === name);
  assert.ok(found !== undefined, `the Dockerfile has a stage named ${name}`);
  return found;
}

function all(s: Stage, keyword: string): Instruction[] {
  return s.instructions.filter((i) => i.keyword === keyword);
}

function only(s: Stage, keyword: string): Instruction {
  const found = all(s, keyword);
  assert.equal(found.length, 1, `stage ${s.name} has exactly one ${keyword}`);
  return found[0] as Instruction;
}

/** ENV lines of the forms `ENV KEY=value` (one pair, value unquoted or double-quoted) and `ENV KEY value`. */
function env(s: Stage): Map<string, string> {
  const out = new Map<string, string>();
  for (const { args, line } of all(s, 'ENV')) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:=|\s+)(?:"([^"]*)"|(\S*))$/.exec(args);
    assert.ok(match !== null, `Dockerfile line ${line}: one variable per ENV line (KEY=value)`);
    out.set(match[1] as string, match[2] ?? match[3] ?? '');
  }
  return out;
}

/** The exec (JSON array) form that ENTRYPOINT, CMD and HEALTHCHECK CMD must use: no shell. */
function execForm(text: string, what: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    assert.fail(`${what} is in exec form (a JSON array), not shell form: ${text}`);
  }
  assert.ok(Array.isArray(parsed) && parsed.every((item) => typeof item === 'string'), `${what} is a JSON array of strings`);
  return parsed;
}

interface Healthcheck {
  options: Map<string, string>;
  command: string[];
}

function healthcheck(s: Stage): Healthcheck {
  const { args } = only(s, 'HEALTHCHECK');
  const match = /^((?:--[\w-]+=\S+\s+)*)CMD\s+(.*)$/s.exec(args);
  assert.ok(match !== null, `stage ${s.name}: HEALTHCHECK [options] CMD [...]`);
  const options = new Map<string, string>();
  for (const option of (match[1] as string).trim().split(/\s+/).filter(Boolean)) {
    const [name, value] = splitOnce(option.slice(2), '=');
    options.set(name, value ?? '');
  }
  return { options, command: execForm(match[2] as string, `stage ${s.name}: HEALTHCHECK CMD`) };
}

interface Copy {
  from: string | undefined;
  sources: string[];
  dest: string;
}

function copies(s: Stage): Copy[] {
  return all(s, 'COPY').map(({ args, line }) => {
    const words = args.split(/\s+/);
    let from: string | undefined;
    while (words[0]?.startsWith('--') === true) {
      const [flag, value] = splitOnce(words.shift() as string, '=');
      if (flag === '--from') from = value;
    }
    assert.ok(words.length >= 2, `Dockerfile line ${line}: COPY sources… dest`);
    return { from, sources: words.slice(0, -1), dest: words.at(-1) as string };
  });
}

function workdir(s: Stage): string {
  const { args } = only(s, 'WORKDIR');
  assert.ok(args.startsWith('/'), `stage ${s.name}: WORKDIR is absolute`);
  return args;
}

/** A RUN line's command without its BuildKit options (--mount=… and the like). */
function runCommand(instruction: Instruction): string {
  return instruction.args.replace(/^(?:--\S+\s+)*/, '');
}

/** Seconds from a Dockerfile duration such as `3s` or `1m30s`. */
function dockerDurationMs(text: string): number {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  }
  assert.ok(total > 0, `a duration: ${text}`);
  return total;
}

// ---- .dockerignore -------------------------------------------------------------------------------

/** Docker's rules, for the patterns this project uses: `*`, `**`, `?`, `!` exceptions, last match wins. */
function ignored(patterns: readonly string[], path: string): boolean {
  let result = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = posix.normalize((negate ? raw.slice(1) : raw).replace(/^\/+/, '').replace(/\/+$/, ''));
    const re = new RegExp(
      `^${pattern
        .split('/')
        .map((part) =>
          part === '**'
            ? '.*'
            : part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replaceAll('*', '[^/]*')
                .replaceAll('?', '[^/]'),
        )
        .join('/')
        .replaceAll('.*/', '(?:.*/)?')}(?:/.*)?$`,
    );
    if (re.test(path)) result = !negate;
  }
  return result;
}

function dockerignore(): string[] {
  return readFileSync(DOCKERIGNORE, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

// ---- Running the image's command here ------------------------------------------------------------

/** The environment of a process started here: no ECHOD_*, npm or Node test settings of ours. */
function baseEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || /^(ECHOD_|npm_|NODE_|BUN_)/i.test(key)) continue;
    out[key] = value;
  }
  return out;
}

/** Every file and folder under `dir`, with size and modification time, to see that nothing was written. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (path: string): void => {
    for (const entry of readdirSync(path)) {
      const full = join(path, entry);
      const stat = lstatSync(full);
      out.set(full, `${stat.isDirectory() ? 'd' : 'f'} ${stat.size} ${stat.mtimeMs}`);
      if (stat.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return out;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

// ---- The tests -----------------------------------------------------------------------------------

const file = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
/** The runtime images: the default (last) stage runs Node.js; the `bun` target runs Bun. */
const RUNTIMES = [
  { stageName: file.stages.at(-1)?.name ?? '', executable: 'node', local: process.execPath, transport: 'node' },
  { stageName: 'bun', executable: 'bun', local: BUN, transport: 'bun' },
] as const;

describe('Dockerfile', () => {
  it('builds in stages and ships a Node.js 20 runtime (default target) and a Bun one, pinned by version', () => {
    assert.deepEqual(
      file.stages.map((s) => s.name),
      ['build', 'prod-deps', 'bun', 'node'],
    );
    // Node.js: an exact release that satisfies package.json's engines, on a small base.
    const node = /^node:(\d+)\.(\d+)\.(\d+)-(?:bookworm-slim|alpine3\.\d+)$/.exec(stage(file, 'node').from);
    assert.ok(node !== null, `the Node.js base is pinned to an exact version of a slim or alpine image: ${stage(file, 'node').from}`);
    const [major, minor] = [Number(node[1]), Number(node[2])];
    // engines.node names each tested major as ^X.Y.Z or ^X; the image's release must satisfy the range of its major.
    const ranges = PKG.engines.node.split('||').map((part) => /^\^(\d+)(?:\.(\d+)(?:\.\d+)?)?$/.exec(part.trim()));
    assert.ok(
      ranges.every((range) => range !== null),
      `engines.node is a list of ^X or ^X.Y.Z ranges: ${PKG.engines.node}`,
    );
    assert.equal(major, 20, 'a Node.js 20 image');
    const ours = ranges.find((range) => Number(range?.[1]) === major);
    assert.ok(ours !== undefined && minor >= Number(ours?.[2] ?? 0), `node ${major}.${minor} satisfies engines ${PKG.engines.node}`);
    for (const name of ['build', 'prod-deps'])
      assert.equal(stage(file, name).from, stage(file, 'node').from, `stage ${name} builds with the runtime's Node.js`);
    // Bun: the version the test suite runs (the devDependency).
    const bun = /^oven\/bun:(\d+\.\d+\.\d+)(?:-slim|-alpine|-debian|-distroless)?$/.exec(stage(file, 'bun').from);
    assert.ok(bun !== null, `the Bun base is pinned to an exact version: ${stage(file, 'bun').from}`);
    assert.equal(bun[1], PKG.devDependencies.bun, 'the Bun image runs the Bun version the tests run');
  });

  it('compiles in the build stage and installs production dependencies only in prod-deps', () => {
    const build = stage(file, 'build')
      .instructions.filter((i) => i.keyword === 'RUN')
      .map(runCommand);
    assert.ok(
      build.some((command) => /^npm ci\b/.test(command)),
      'the build stage installs with npm ci (the lockfile)',
    );
    assert.ok(build.includes('npm run build'), 'the build stage runs `npm run build`, as `npm test` does before this test');
    const prod = all(stage(file, 'prod-deps'), 'RUN').map(runCommand);
    assert.equal(prod.length, 1);
    assert.match(prod[0] as string, /^npm ci .*--omit=dev/, 'prod-deps installs from the lockfile without dev dependencies');
    assert.match(prod[0] as string, /--ignore-scripts/, 'without running `prepare` (which needs the compiler)');
  });

  for (const runtime of RUNTIMES) {
    it(`${runtime.stageName} image: only dist/, bin/, package.json and production node_modules`, () => {
      const s = stage(file, runtime.stageName);
      const dests = copies(s).map((c) =>
        posix.normalize(posix.join(workdir(s), c.dest.endsWith('/') ? posix.join(c.dest, posix.basename(c.sources[0] as string)) : c.dest)),
      );
      assert.deepEqual(dests.sort(), ['/app/bin', '/app/dist', '/app/node_modules', '/app/package.json']);
      const modules = copies(s).find((c) => c.dest.includes('node_modules'));
      assert.equal(modules?.from, 'prod-deps', 'node_modules comes from the prod-deps stage');
      const dist = copies(s).find((c) => c.dest.includes('dist'));
      assert.equal(dist?.from, 'build', 'dist/ comes from the build stage');
      for (const run of all(s, 'RUN')) {
        assert.match(
          runCommand(run),
          /^rm -rf( \/(?:usr|opt)\/\S+)+$/,
          `Dockerfile line ${run.line}: a runtime stage only removes what the base image carries`,
        );
      }
    });

    it(`${runtime.stageName} image: non-root, exec-form command, SIGTERM, both ports exposed, configured by ECHOD_*`, () => {
      const s = stage(file, runtime.stageName);
      const user = /^(\d+):(\d+)$/.exec(only(s, 'USER').args);
      assert.ok(
        user !== null && Number(user[1]) > 0 && Number(user[2]) > 0,
        `USER is a numeric non-root uid:gid (so Kubernetes can verify runAsNonRoot): ${only(s, 'USER').args}`,
      );
      assert.ok(
        s.instructions.indexOf(only(s, 'USER')) > s.instructions.lastIndexOf(all(s, 'COPY').at(-1) as Instruction),
        'USER comes after the files are copied (they stay root-owned)',
      );
      assert.equal(only(s, 'STOPSIGNAL').args, 'SIGTERM');
      const entrypoint = execForm(only(s, 'ENTRYPOINT').args, 'ENTRYPOINT');
      assert.deepEqual(entrypoint, [runtime.executable, '/app/bin/echod.js'], 'echod itself is PID 1: no shell, no entrypoint script');
      assert.deepEqual(execForm(only(s, 'CMD').args, 'CMD'), [], 'CMD holds extra flags only (none by default)');

      const variables = env(s);
      const flagEnv = new Set(FLAGS.map((flag) => envName(flag.name)));
      const echodEnv: Record<string, string> = {};
      for (const [name, value] of variables) {
        if (!name.startsWith('ECHOD_')) continue;
        assert.ok(flagEnv.has(name), `ENV ${name} is the variable of a real flag`);
        echodEnv[name] = value;
      }
      // Every value must be one echod accepts: parse it as echod does (this throws UsageError).
      const parsed = parseCommandLine([], echodEnv).values;
      assert.equal(parsed.get('admin-port'), Number(variables.get('ECHOD_ADMIN_PORT')), 'the admin endpoint is on');
      assert.ok(
        !isLoopback(String(parsed.get('admin-host'))),
        'the admin endpoint is reachable from outside the container (probes, scrapes)',
      );
      assert.ok(!isLoopback(String(parsed.get('host') ?? '0.0.0.0')), 'the echo port is reachable from outside the container');
      assert.equal(parsed.get('log-format'), 'json');

      const exposed = all(s, 'EXPOSE')
        .flatMap((i) => i.args.split(/\s+/))
        .map((port) => port.replace(/\/tcp$/, ''));
      // The echo port is echod's default unless the image sets one (it leaves it to --listen's users).
      const echoPort = parsed.get('port') ?? DEFAULTS.port;
      assert.deepEqual(
        exposed.sort(),
        [String(echoPort), String(parsed.get('admin-port'))].sort(),
        'EXPOSE names exactly the echo and admin ports of the ENV',
      );

      const check = healthcheck(s);
      assert.equal(check.command[0], runtime.executable, 'the health check runs the runtime itself (no curl or wget in the image)');
      assert.ok(
        check.command.some((arg) => arg.includes('/healthz')),
        'the health check asks /healthz',
      );
      assert.ok(dockerDurationMs(check.options.get('timeout') ?? '30s') <= 5000, 'a health check times out within 5 s');
    });
  }

  it('both runtime images are configured alike', () => {
    const [node, bun] = RUNTIMES.map((r) => stage(file, r.stageName));
    const echodEnv = (s: Stage): [string, string][] => [...env(s)].filter(([name]) => name.startsWith('ECHOD_')).sort();
    assert.deepEqual(echodEnv(bun as Stage), echodEnv(node as Stage));
    for (const keyword of ['USER', 'EXPOSE', 'STOPSIGNAL', 'WORKDIR'])
      assert.equal(only(bun as Stage, keyword).args, only(node as Stage, keyword).args, keyword);
    const options = (s: Stage): string => [...healthcheck(s).options].join(' ');
    assert.equal(options(bun as Stage), options(node as Stage), 'HEALTHCHECK options');
    assert.deepEqual(
      healthcheck(bun as Stage).command.slice(1),
      healthcheck(node as Stage).command.slice(1),
      'the same HEALTHCHECK script',
    );
  });

  it('.dockerignore lets in every file the build copies, and keeps out the rest of the work tree', () => {
    const patterns = dockerignore();
    for (const s of file.stages) {
      for (const copy of copies(s)) {
        if (copy.from !== undefined) continue;
        for (const source of copy.sources) {
          assert.ok(existsSync(join(ROOT, source)), `COPY ${source} exists in the build context`);
          assert.ok(!ignored(patterns, posix.normalize(source)), `.dockerignore lets in ${source} (stage ${s.name})`);
        }
      }
    }
    for (const path of ['node_modules', 'dist', '.git', 'test', 'scripts', 'soak-out', 'deploy', '.env', 'src/x.tsbuildinfo']) {
      assert.ok(ignored(patterns, path), `.dockerignore keeps out ${path}`);
    }
  });
});

describe('the image, run from its files', () => {
  let work = '';
  /** Each runtime stage's root file system, laid out as its COPY lines say. */
  const rootfs = new Map<string, string>();
  const running: EchodProcess[] = [];

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'echod-image-'));
    assert.ok(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'dist/ is built (`npm test` runs `npm run build` first)');

    // prod-deps: its COPYs from the build context into its WORKDIR, then its RUN line as written.
    const prodDeps = stage(file, 'prod-deps');
    const prodRoot = join(work, 'prod-deps');
    const prodDir = join(prodRoot, workdir(prodDeps));
    mkdirSync(prodDir, { recursive: true });
    for (const copy of copies(prodDeps))
      for (const source of copy.sources) cpSync(join(ROOT, source), join(prodDir, copy.dest, posix.basename(source)));
    const command = runCommand(only(prodDeps, 'RUN'));
    // npm's cache first; the registry (reachable here) only for what the cache lacks.
    const install = spawn('sh', ['-c', command], {
      cwd: prodDir,
      env: { ...baseEnv(), npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
    });
    let output = '';
    install.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    install.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        install.kill('SIGKILL');
        reject(new Error(`\`${command}\` took over ${INSTALL_MS} ms:\n${output}`));
      }, INSTALL_MS);
      install.on('close', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    assert.equal(code, 0, `\`${command}\` failed:\n${output}`);

    // Each runtime stage's root file system, from its own COPY lines: --from=build → this work
    // tree (already built), --from=prod-deps → the install above, no --from → the build context.
    const stageDir = (from: string | undefined, path: string): string => {
      if (from === undefined) return join(ROOT, path);
      if (from === 'build') return join(ROOT, posix.relative(workdir(stage(file, 'build')), path));
      if (from === 'prod-deps') return join(prodRoot, path);
      return assert.fail(`COPY --from=${from}: unknown stage`);
    };
    for (const { stageName } of RUNTIMES) {
      const s = stage(file, stageName);
      const root = join(work, `rootfs-${stageName}`);
      for (const copy of copies(s)) {
        for (const source of copy.sources) {
          const target = posix.join(workdir(s), copy.dest.endsWith('/') ? posix.join(copy.dest, posix.basename(source)) : copy.dest);
          mkdirSync(dirname(join(root, target)), { recursive: true });
          cpSync(stageDir(copy.from, source), join(root, target), { recursive: true });
        }
      }
      rootfs.set(stageName, root);
    }
  });

  after(async () => {
    for (const child of running) await child.stop();
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('the images hold only the runtime files, and no dev dependency', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    for (const [stageName, root] of rootfs) {
      const app = join(root, workdir(stage(file, stageName)));
      assert.deepEqual(readdirSync(root), ['app'], `${stageName}: everything is under /app`);
      assert.deepEqual(readdirSync(app).sort(), ['bin', 'dist', 'node_modules', 'package.json'], `${stageName}: /app`);
      for (const [path, entry] of Object.entries(lock.packages)) {
        if (path === '' || !path.startsWith('node_modules/')) continue;
        if (entry.dev === true) assert.ok(!existsSync(join(app, path)), `${stageName}: dev dependency ${path} is not in the image`);
      }
      for (const name of Object.keys(PKG.dependencies))
        assert.ok(existsSync(join(app, 'node_modules', name, 'package.json')), `${stageName}: dependency ${name} is in the image`);
    }
  });

  for (const runtime of RUNTIMES) {
    it(
      `${runtime.stageName} image: echoes, answers /healthz and /readyz, passes its HEALTHCHECK, exits 0 on SIGTERM, writes nothing`,
      { timeout: 45_000 },
      async () => {
        if (runtime.executable === 'bun') assert.ok(existsSync(BUN), `bun is installed at ${BUN} (run npm ci)`);
        const s = stage(file, runtime.stageName);
        const root = rootfs.get(runtime.stageName) as string;
        const app = join(root, workdir(s));
        const local = (argv: readonly string[]): string[] =>
          argv.map((arg, index) => {
            if (index === 0) return arg === runtime.executable ? runtime.local : arg;
            return arg.startsWith('/') && existsSync(join(root, arg)) ? join(root, arg) : arg;
          });
        const imageEnv = Object.fromEntries(env(s));
        // The image's environment, with the loopback and port-0 overrides explained at the top.
        // HOME and TMPDIR point nowhere: a runtime that tried to write there would fail.
        const environment: Record<string, string> = {
          ...baseEnv(),
          ...imageEnv,
          HOME: join(work, 'no-home'),
          TMPDIR: join(work, 'no-tmp'),
          ECHOD_HOST: HOST,
          ECHOD_ADMIN_HOST: HOST,
          ECHOD_PORT: '0',
          ECHOD_ADMIN_PORT: '0',
        };
        const before = snapshot(root);
        const argv = local([...execForm(only(s, 'ENTRYPOINT').args, 'ENTRYPOINT'), ...execForm(only(s, 'CMD').args, 'CMD')]);
        const echod = new EchodProcess(runtime.transport, [], {}, { command: { argv, cwd: app, env: environment } });
        running.push(echod);

        const listening = await echod.line('listening', START_MS);
        assert.equal(listening.transport, runtime.transport, `served through the ${runtime.transport} transport`);
        const port = listening.port as number;
        const adminPort = (await echod.line('admin endpoint listening', START_MS)).port as number;
        await echod.line('echod started', START_MS);

        const client = await Client.connect(port);
        try {
          await client.write('hello from the image\n');
          assert.equal(await client.readText('hello from the image\n'), 'hello from the image\n');
        } finally {
          client.destroy();
        }
        for (const path of ['/healthz', '/readyz']) {
          const response = await request(adminPort, path);
          assert.equal(response.status, 200, `GET ${path}: ${response.status} ${response.body}`);
        }

        // The HEALTHCHECK command, as Docker runs it: same environment (the admin port it reads
        // is the one echod picked), bounded by its own --timeout.
        const check = healthcheck(s);
        const checkMs = dockerDurationMs(check.options.get('timeout') ?? '30s');
        const runCheck = async (): Promise<number | null> => {
          const probe = new EchodProcess(
            runtime.transport,
            [],
            {},
            { command: { argv: local(check.command), cwd: app, env: { ...environment, ECHOD_ADMIN_PORT: String(adminPort) } } },
          );
          running.push(probe);
          return (await probe.exited(checkMs + WAIT_MS)).code;
        };
        assert.equal(await runCheck(), 0, 'HEALTHCHECK passes while echod serves');

        const drainMs = Number(
          parseCommandLine([], { ECHOD_DRAIN_TIMEOUT: imageEnv.ECHOD_DRAIN_TIMEOUT ?? '10s' }).values.get('drain-timeout'),
        );
        const delayMs = Number(
          parseCommandLine([], { ECHOD_SHUTDOWN_DELAY: imageEnv.ECHOD_SHUTDOWN_DELAY ?? '0' }).values.get('shutdown-delay'),
        );
        assert.ok(drainMs + delayMs < 10_000, "the image's shutdown delay and drain timeout fit within `docker stop`'s 10 s");
        echod.child.kill('SIGTERM');
        const exit = await echod.exited(delayMs + drainMs + EXIT_MARGIN_MS);
        assert.deepEqual(exit, { code: 0, signal: null }, `exit code 0 after SIGTERM; stderr: ${echod.stderr}`);
        assert.deepEqual(echod.unparsed, [], 'every log line is JSON');
        assert.notEqual(await runCheck(), 0, 'HEALTHCHECK fails once echod is gone');

        assert.deepEqual(snapshot(root), before, "nothing in the image's files was created or changed (read-only root)");
        assert.ok(!existsSync(join(work, 'no-home')) && !existsSync(join(work, 'no-tmp')), 'nothing was written to HOME or TMPDIR');
      },
    );
  }
});
