// The `echod` command end to end: the built binary (bin/echod.js over dist/, which `npm test`
// builds first) run as a child process, its JSON log read from stdout (a pipe, so pino writes
// JSON lines), real clients on loopback, real signals.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { COMMANDS, envName, FLAGS } from '../../src/cli/flags.js';
import { Client, HOST, holdTcpPort, portOf, WAIT_MS } from '../../testkit/clients.js';
import type { SignalGapOutcome } from '../../testkit/signal-gap.js';
import { within } from '../../testkit/wait.js';
import { cleanEnv, EchodProcess, LEVEL } from '../../testkit/echod-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const TEST_TIMEOUT_MS = 15_000;

describe('echod command', () => {
  const processes: EchodProcess[] = [];
  const clients: Client[] = [];
  const held: Server[] = [];

  function echod(args: readonly string[], env: Record<string, string> = {}): EchodProcess {
    const proc = new EchodProcess('node', args, env);
    processes.push(proc);
    return proc;
  }

  async function client(port: number, options: { allowHalfOpen?: boolean } = {}): Promise<Client> {
    const connected = await Client.connect(port, options);
    clients.push(connected);
    return connected;
  }

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const proc of processes.splice(0)) proc.kill();
    await Promise.all(held.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });

  describe('serving', () => {
    it('listens on the port its `listening` log line names, echoes, and exits 0 on SIGTERM', { timeout: TEST_TIMEOUT_MS }, async () => {
      const proc = echod(['--host', HOST, '--port', '0']);
      const port = await proc.listeningPort();
      assert.ok(port > 0);
      const c = await client(port);
      await c.write('hello, echod\n');
      assert.equal(await c.readText('hello, echod\n'), 'hello, echod\n');
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exitCode(), 0);
      assert.deepEqual(proc.unparsed, [], 'stdout is JSON lines when it is a pipe');
    });

    it(
      'SIGTERM with lines in flight: every complete line received is echoed, clients see EOF, exit 0, `closed` logged last',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        // debug: the `message received` events say when the server has read the bytes.
        const proc = echod(['--host', HOST, '--port', '0', '--log-level', 'debug']);
        const port = await proc.listeningPort();
        const first = await client(port);
        const second = await client(port);
        const firstSent = 'one\ntwo\npart';
        const secondSent = 'three\nfour';
        await first.write(firstSent);
        await second.write(secondSent);
        const total = firstSent.length + secondSent.length;
        const received = (): number =>
          proc.logs.filter((l) => l.msg === 'message received').reduce((sum, l) => sum + (l.bytes as number), 0);
        await proc.log(() => received() === total, 'every byte received');

        proc.child.kill('SIGTERM');
        // At a close echod starts, only complete lines are echoed: the unterminated tails are not.
        assert.equal((await first.readToEnd()).toString(), 'one\ntwo\n');
        assert.equal((await second.readToEnd()).toString(), 'three\n');
        assert.equal(await proc.exitCode(), 0);
        await proc.log((l) => l.msg === 'closed', '"closed"');
        assert.equal(proc.logs.at(-1)?.msg, 'closed', 'the totals are the last line');
        assert.equal(proc.logs.at(-1)?.bytesReceived, total);
        const closes = proc.logs.filter((l) => l.msg === 'connection closed');
        assert.deepEqual(
          closes.map((l) => l.reason),
          ['shutdown', 'shutdown'],
        );
        assert.ok(proc.logs.some((l) => l.msg.startsWith('signal received') && l.signal === 'SIGTERM'));
      },
    );

    it('a second SIGTERM while draining exits at once with code 1', { timeout: TEST_TIMEOUT_MS }, async () => {
      const proc = echod(['--host', HOST, '--port', '0', '--drain-timeout', '1m']);
      const port = await proc.listeningPort();
      // Never closes its side: the drain would wait for it for a minute.
      await client(port, { allowHalfOpen: true });
      await proc.log((l) => l.msg === 'connection opened', '"connection opened"');
      proc.child.kill('SIGTERM');
      // "shutting down" is logged once the drain has begun, after the second-signal handlers
      // are in place. ("signal received" comes earlier, inside a window where a signal is lost
      // or kills the process by default action: see the report on cli.ts.)
      await proc.log((l) => l.msg === 'shutting down', '"shutting down"');
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exitCode(2000), 1);
    });

    it(
      'from the first signal to exit, SIGTERM and SIGINT always have a listener',
      {
        timeout: TEST_TIMEOUT_MS,
      },
      async () => {
        // In a child process: main() there owns its stdout; the outcome comes back on stderr.
        const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../testkit/signal-gap.ts', import.meta.url))], {
          cwd: ROOT,
          env: cleanEnv(),
        });
        let err = '';
        child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
        child.stdout.resume();
        try {
          const [code] = (await within(once(child, 'exit'), WAIT_MS, 'the signal script')) as [number | null];
          assert.equal(code, 0, err);
        } finally {
          child.kill('SIGKILL');
        }
        const outcome = JSON.parse(err.trim().split('\n').at(-1) ?? '') as SignalGapOutcome;
        assert.equal(outcome.exitCode, 0);
        assert.deepEqual(outcome.gaps, [], 'a signal was left without a handler while draining');
      },
    );

    it('a normal client close is logged at info, reason client_closed, not as an error', { timeout: TEST_TIMEOUT_MS }, async () => {
      const proc = echod(['--host', HOST, '--port', '0']);
      const port = await proc.listeningPort();
      const c = await client(port);
      await c.write('bye\n');
      c.end();
      assert.equal((await c.readToEnd()).toString(), 'bye\n');
      const line = await proc.log((l) => l.msg === 'connection closed', '"connection closed"');
      assert.equal(line.level, LEVEL.info);
      assert.equal(line.reason, 'client_closed');
      assert.equal(line.bytesIn, 4);
      assert.equal(line.bytesOut, 4);
      assert.equal(line.lines, 1);
      assert.equal(line.err, undefined);
      assert.ok(
        proc.logs.every((l) => l.level < LEVEL.warn),
        'nothing at warn or above',
      );
      assert.ok(!proc.logs.some((l) => l.msg === 'message received'), 'no per-message log at info');
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exitCode(), 0);
    });

    it(
      'a client that half-closes (as nc -N or ncat does at the end of its input) gets its unterminated last line back',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const proc = echod(['--host', HOST, '--port', '0']);
        const port = await proc.listeningPort();
        // A client written here, not nc: nc's flags differ between netcat flavours (Ncat has no -N).
        const c = await client(port, { allowHalfOpen: true });
        await c.write('hello\nworld\nno newline');
        c.end();
        assert.equal((await c.readToEnd()).toString(), 'hello\nworld\nno newline');
        proc.child.kill('SIGTERM');
        assert.equal(await proc.exitCode(), 0);
      },
    );

    it(
      'the start-up line names the effective listeners and only the options that differ from their defaults',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const proc = echod([
          '--listen',
          `tcp://${HOST}:0`,
          '--listen',
          `udp://${HOST}:0`,
          '--max-line-bytes',
          '64KiB',
          '--idle-timeout',
          '300s',
          '--log-level',
          'debug',
          '--log-format',
          'json',
        ]);
        const started = await proc.log((l) => l.msg === 'echod started', '"echod started"');
        assert.deepEqual(started.listeners, [`tcp://${HOST}:0 mode=line`, `udp://${HOST}:0`]);
        assert.deepEqual(
          started.options,
          { 'max-line-bytes': '64KiB', 'log-level': 'debug', 'log-format': 'json' },
          '--idle-timeout 300s is the default; the log settings are flags like the others',
        );
        assert.equal(started.workers, 1);
        assert.equal(JSON.stringify(started).includes('0.0.0.0'), false, 'no host replaced by --listen');
        const listening = proc.logs.filter((l) => l.msg === 'listening').map((l) => l.listener as string);
        assert.equal(listening.length, 2);
        assert.equal(new Set(listening).size, 2, 'each listening line names its own listener');
      },
    );

    it('--log-format pretty: one line per event, fields as key=value', { timeout: TEST_TIMEOUT_MS }, async () => {
      const proc = echod(['--host', HOST, '--port', '0', '--log-format', 'pretty', '--log-level', 'info']);
      await proc.waitStdout((text) => /INFO.*echod started/.test(text));
      const port = Number(/listening listener=tcp:\/\/127\.0\.0\.1:(\d+)/.exec(proc.stdout)?.[1]);
      const c = await client(port);
      await c.write('hi\n');
      await c.readText('hi\n');
      c.end();
      await proc.waitStdout((text) => text.includes('connection closed'));
      const lines = proc.stdout.trimEnd().split('\n');
      assert.ok(
        lines.every((line) => /^\[\d\d:\d\d:\d\d\.\d{3}\] [A-Z]+: /.test(line)),
        `every line starts with its time and level:\n${proc.stdout}`,
      );
      const connection = lines.filter((line) => line.includes('connection '));
      assert.equal(connection.length, 2, 'a connection is two lines: opened and closed');
      assert.match(
        connection[1] ?? '',
        /connection closed listener=tcp:\/\/127\.0\.0\.1:\d+ connId=1 remote=127\.0\.0\.1 .*reason=client_closed bytesIn=3 bytesOut=3/,
      );
    });
  });

  describe('help and version', () => {
    it('--help lists every flag with its environment variable, and exits 0', { timeout: TEST_TIMEOUT_MS }, async () => {
      const proc = echod(['--help']);
      assert.equal(await proc.exitCode(), 0);
      for (const flag of FLAGS) {
        const row = proc.stdout.split('\n').find((line) => line.trimStart().startsWith(`--${flag.name} `));
        assert.ok(row !== undefined, `--${flag.name} is missing from --help`);
        assert.ok(row.includes(envName(flag.name)), `--${flag.name}'s row does not name ${envName(flag.name)}`);
      }
    });

    it('--help mentions no flag that does not exist', { timeout: TEST_TIMEOUT_MS }, async () => {
      const proc = echod(['--help']);
      assert.equal(await proc.exitCode(), 0);
      const known = new Set([...FLAGS.map((flag) => flag.name), 'help', 'version', 'check-config']);
      const mentioned = new Set([...proc.stdout.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((match) => match[1] as string));
      assert.deepEqual(
        [...mentioned].filter((name) => !known.has(name)),
        [],
      );
    });

    it('--version and -v print `echod VERSION (runtime)`', { timeout: TEST_TIMEOUT_MS }, async () => {
      for (const flag of ['--version', '-v']) {
        const proc = echod([flag]);
        assert.equal(await proc.exitCode(), 0);
        assert.equal(proc.stdout, `echod ${VERSION} (node ${process.version})\n`);
      }
    });

    it(
      '--help lists the allowed values of every flag that has a fixed list, from the flag table',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const proc = echod(['--help']);
        assert.equal(await proc.exitCode(), 0);
        for (const flag of FLAGS) {
          if (typeof flag.kind !== 'object') continue;
          const row = proc.stdout.split('\n').find((line) => line.trimStart().startsWith(`--${flag.name} `)) ?? '';
          assert.ok(row.includes(`(${flag.kind.oneOf.join(', ')})`), `--${flag.name}'s row does not list its values: ${row}`);
        }
        for (const name of ['digest', 'log-level', 'log-format'])
          assert.ok(
            FLAGS.some((flag) => flag.name === name && typeof flag.kind === 'object'),
            `--${name} has a fixed list`,
          );
        const admin = proc.stdout.split('\n').find((line) => line.trimStart().startsWith('--admin-port ')) ?? '';
        assert.ok(admin.includes('/connections'), admin);
      },
    );

    it(
      'a mistyped command is named with the commands of the table, exit 2; `echod help` prints the help; --help lists every command',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const commands = COMMANDS.map((command) => command.name).join(', ');
        for (const [args, named, hint] of [
          [['chek'], 'chek', 'did you mean check? '],
          [['config', 'chek'], 'config chek', 'did you mean config check? '],
          [['chek', '--port', '0'], 'chek', 'did you mean check? '],
          [['help', 'config'], 'config', "'config' needs a word after it: config check; "],
          [['serve'], 'serve', ''],
        ] as const) {
          const proc = echod(args);
          assert.equal(await proc.exitCode(), 2, args.join(' '));
          assert.equal(proc.stderr, `echod: unknown command '${named}' (${hint}commands: ${commands}; see echod --help)\n`);
        }
        const stray = echod(['--host', HOST, '--port', '0', 'chek']);
        assert.equal(await stray.exitCode(), 2);
        assert.match(stray.stderr, /^echod: unexpected argument 'chek': /);
        const help = echod(['help']);
        assert.equal(await help.exitCode(), 0);
        const usage = help.stdout.split('\n').filter((line) => /^(Usage: | {7})echod /.test(line));
        assert.deepEqual(
          usage.map(
            (line) =>
              line
                .trim()
                .replace(/^Usage: /, '')
                .split(/ {2,}/)[0],
          ),
          ['echod [flags]', ...COMMANDS.map((command) => `echod ${command.name} ${command.arg}`)],
        );
      },
    );

    it('--help: every description starts in one column, apart from its flag', { timeout: TEST_TIMEOUT_MS }, async () => {
      const proc = echod(['--help']);
      assert.equal(await proc.exitCode(), 0);
      const rows = proc.stdout.split('\n').filter((line) => /^ {2}(--|-h|-v)/.test(line));
      const columns = new Set(rows.map((row) => /^ {2}\S+(?: \S+)? {2,}/.exec(row)?.[0].length));
      assert.equal(columns.size, 1, `descriptions start in columns ${[...columns].join(', ')}`);
      assert.ok(!columns.has(undefined), 'a flag runs into its description');
    });
  });

  describe('bad command lines exit 2, naming the flag, before anything listens', () => {
    const cases: { name: string; args: string[]; env?: Record<string, string>; names: string }[] = [
      { name: 'an unknown flag', args: ['--no-such-flag', '1'], names: '--no-such-flag' },
      { name: '--port 70000', args: ['--port', '70000'], names: '--port' },
      { name: '--max-line-bytes -1', args: ['--max-line-bytes', '-1'], names: '--max-line-bytes' },
      { name: '--max-line-bytes=-1', args: ['--max-line-bytes=-1'], names: '--max-line-bytes' },
      { name: '--max-line-bytes 0', args: ['--max-line-bytes', '0'], names: '--max-line-bytes' },
      { name: '--mode udp', args: ['--mode', 'udp'], names: '--mode' },
      { name: '--idle-timeout 5 (no unit)', args: ['--idle-timeout', '5'], names: '--idle-timeout' },
      { name: 'ECHOD_IDLE_TIMEOUT=5', args: [], env: { ECHOD_IDLE_TIMEOUT: '5' }, names: 'ECHOD_IDLE_TIMEOUT' },
      { name: 'ECHOD_MAX_CONNECTIONS=-3', args: [], env: { ECHOD_MAX_CONNECTIONS: '-3' }, names: 'ECHOD_MAX_CONNECTIONS' },
    ];
    for (const { name, args, env, names } of cases) {
      it(name, { timeout: TEST_TIMEOUT_MS }, async () => {
        // Were the bad value ignored, this would listen on loopback (and be seen doing so).
        const base = args.some((arg) => arg.startsWith('--port')) ? ['--host', HOST] : ['--host', HOST, '--port', '0'];
        const proc = echod([...base, ...args], env);
        assert.equal(await proc.exitCode(), 2);
        assert.ok(proc.stderr.includes(names), `stderr does not name ${names}: ${proc.stderr}`);
        assert.ok(!proc.logs.some((l) => l.msg === 'listening'), 'it listened');
      });
    }
  });

  describe('environment variables', () => {
    it('ECHOD_PORT and ECHOD_MAX_LINE_BYTES take effect', { timeout: TEST_TIMEOUT_MS }, async () => {
      // A port that was free a moment ago (and, on this loopback, surely still is).
      const probe = await holdTcpPort();
      const free = portOf(probe);
      await new Promise((resolve) => probe.close(resolve));
      const proc = echod(['--host', HOST], { ECHOD_PORT: String(free), ECHOD_MAX_LINE_BYTES: '8' });
      assert.equal(await proc.listeningPort(), free);
      const c = await client(free);
      await c.write('1234567\n'); // 8 bytes with its newline: the longest allowed
      assert.equal(await c.readText('1234567\n'), '1234567\n');
      await c.write('12345678\n');
      assert.equal((await c.readToEnd()).length, 0, 'a 9-byte line closes the connection');
      const closed = await proc.log((l) => l.msg === 'connection closed', '"connection closed"');
      assert.equal(closed.reason, 'line_too_long');
    });

    it('flags win over their environment variables', { timeout: TEST_TIMEOUT_MS }, async () => {
      // Were ECHOD_PORT used, listening would fail: the port is taken.
      const taken = await holdTcpPort();
      held.push(taken);
      const proc = echod(['--host', HOST, '--port', '0', '--max-line-bytes', '64'], {
        ECHOD_PORT: String(portOf(taken)),
        ECHOD_MAX_LINE_BYTES: '8',
      });
      const port = await proc.listeningPort();
      assert.notEqual(port, portOf(taken));
      const c = await client(port);
      const line = 'longer than eight bytes\n';
      await c.write(line);
      assert.equal(await c.readText(line), line);
    });
  });

  describe('log levels', () => {
    it('debug logs each message received, with its sizes', { timeout: TEST_TIMEOUT_MS }, async () => {
      const proc = echod(['--host', HOST, '--port', '0', '--log-level', 'debug']);
      const c = await client(await proc.listeningPort());
      await c.write('hello\nwor');
      await c.readText('hello\n');
      const line = await proc.log((l) => l.msg === 'message received', '"message received"');
      assert.deepEqual({ bytes: line.bytes, echoed: line.echoed, lines: line.lines }, { bytes: 9, echoed: 6, lines: 1 });
      assert.equal(typeof line.connId, 'number');
      assert.ok(!proc.logs.some((l) => 'data' in l), 'no content below trace');
    });

    it(
      'trace logs each line’s content, escaped so no client can inject a line or a terminal escape',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const proc = echod(['--host', HOST, '--port', '0', '--log-level', 'trace']);
        const c = await client(await proc.listeningPort());
        const sent = Buffer.from('red \x1b[31m alert\r\n', 'latin1');
        await c.write(sent);
        await c.read(sent.length);
        const line = await proc.log((l) => l.msg === 'line', 'a "line" event');
        assert.equal(line.data, 'red \\x1b[31m alert\\r\\n');
        assert.ok(!proc.stdout.includes('\x1b'), 'a raw escape byte reached the log');
        assert.ok(!proc.stdout.includes('\r'), 'a raw carriage return reached the log');
      },
    );
  });
});
