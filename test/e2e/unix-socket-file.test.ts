// A unix listener's path: echod removes only a stale socket there (one a connect is refused
// on), refuses a live socket (EADDRINUSE) and anything that is not a socket (EEXIST), leaving
// both untouched, and on exit removes its socket file only while it is still the one it bound.
// Through the library under Node, and through the binary under Node and Bun.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { createEchoServer, type EchoServer } from '../../src/server/server.js';
import { HOST } from '../../testkit/clients.js';
import { EchodProcess, RUNTIMES, START_MS, startEchod } from '../../testkit/echod-process.js';
import { StreamClient } from '../../testkit/stream-client.js';

const TEST_TIMEOUT_MS = 15_000;
const CLI_TIMEOUT_MS = 30_000;

describe('unix listener paths', () => {
  let dir: string;
  const servers: Server[] = [];
  const echoServers: EchoServer[] = [];
  const clients: StreamClient[] = [];
  const echods: EchodProcess[] = [];
  let count = 0;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'echod-unix-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    for (const echod of echods.splice(0)) await echod.stop();
    for (const server of echoServers.splice(0)) await server.close();
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });

  function freshPath(): string {
    return join(dir, `s${count++}.sock`);
  }

  /** Another process's live socket at `path` (a plain net server); resolves once it listens. */
  async function liveSocketAt(path: string): Promise<Server> {
    const server = createServer((socket) => {
      socket.on('error', () => {}); // echod's probe connects and goes at once
      socket.end('other\n');
    });
    server.listen(path);
    await once(server, 'listening');
    servers.push(server);
    return server;
  }

  /**
   * A stale socket at `path`, as a killed echod leaves it: a socket file nobody serves. Bound
   * at another name and linked to `path`, because closing a server unlinks the name it bound.
   */
  async function staleSocketAt(path: string): Promise<void> {
    const name = `${path}.bound`;
    const server = createServer();
    server.listen(name);
    await once(server, 'listening');
    linkSync(name, path);
    await new Promise((resolve) => server.close(resolve));
    assert.ok(lstatSync(path).isSocket() && !existsSync(name));
  }

  async function listenAt(path: string): Promise<EchoServer> {
    const server = createEchoServer({ listeners: [{ protocol: 'unix', path }] });
    echoServers.push(server);
    await server.listen();
    return server;
  }

  async function echoesAt(path: string, text: string): Promise<void> {
    const client = await StreamClient.unix(path);
    clients.push(client);
    await client.write(text);
    assert.equal((await client.read(text.length)).toString(), text);
  }

  /** Whoever serves `path` answers `other\n` (liveSocketAt's server) and closes. */
  async function otherServes(path: string): Promise<void> {
    const client = await StreamClient.unix(path);
    clients.push(client);
    assert.equal((await client.readToEnd()).toString(), 'other\n');
  }

  describe('the library (node)', () => {
    it('a stale socket at the path (an echod that did not exit cleanly) is replaced', { timeout: TEST_TIMEOUT_MS }, async () => {
      const path = freshPath();
      await staleSocketAt(path);
      await listenAt(path);
      await echoesAt(path, 'fresh\n');
    });

    it('a regular file at the path is refused (EEXIST, naming the path) and left untouched', { timeout: TEST_TIMEOUT_MS }, async () => {
      const path = freshPath();
      writeFileSync(path, 'precious data');
      const server = createEchoServer({ listeners: [{ protocol: 'unix', path }] });
      await assert.rejects(server.listen(), (err: NodeJS.ErrnoException) => err.code === 'EEXIST' && err.message.includes(path));
      assert.equal(readFileSync(path, 'utf8'), 'precious data');
      assert.equal(server.state, 'closed');
    });

    it('a directory at the path is refused and left untouched', { timeout: TEST_TIMEOUT_MS }, async () => {
      const path = freshPath();
      mkdirSync(path);
      const server = createEchoServer({ listeners: [{ protocol: 'unix', path }] });
      await assert.rejects(server.listen(), (err: NodeJS.ErrnoException) => err.code === 'EEXIST' && err.message.includes(path));
      assert.ok(lstatSync(path).isDirectory());
    });

    it('a live socket at the path is EADDRINUSE; its server keeps it and keeps serving', { timeout: TEST_TIMEOUT_MS }, async () => {
      const path = freshPath();
      await liveSocketAt(path);
      const { ino } = lstatSync(path);
      const server = createEchoServer({ listeners: [{ protocol: 'unix', path }] });
      await assert.rejects(server.listen(), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE' && err.message.includes(path));
      assert.equal(lstatSync(path).ino, ino, 'the same socket file');
      await otherServes(path);
    });

    it('close() removes its own socket file, and not one that replaced it', { timeout: TEST_TIMEOUT_MS }, async () => {
      const own = freshPath();
      await (await listenAt(own)).close();
      assert.equal(existsSync(own), false, 'its own file is removed');

      const path = freshPath();
      const server = await listenAt(path);
      // Someone removes echod's file and serves the path themselves.
      unlinkSync(path);
      await liveSocketAt(path);
      await server.close();
      assert.ok(existsSync(path), 'the other socket file is left');
      await otherServes(path);
    });

    it('no file is left beside the path (the private name it binds is unlinked)', { timeout: TEST_TIMEOUT_MS }, async () => {
      const sub = join(dir, `d${count++}`);
      mkdirSync(sub);
      const path = join(sub, 'echod.sock');
      const server = await listenAt(path);
      assert.deepEqual(server.addresses, [{ protocol: 'unix', path }]);
      await echoesAt(path, 'x\n');
      assert.deepEqual(readdirSync(sub), ['echod.sock']);
      await server.close();
      assert.deepEqual(readdirSync(sub), []);
    });
  });

  for (const runtime of RUNTIMES) {
    describe(`the CLI under ${runtime}`, () => {
      /** echod with only a unix listener at `path`: expected to fail at start-up. */
      async function failsAt(path: string): Promise<string> {
        const echod = new EchodProcess(runtime, ['--listen', `unix://${path}`, '--log-format', 'json']);
        echods.push(echod);
        const exit = await echod.exited(START_MS);
        assert.notEqual(exit.code, 0, 'echod exits with an error');
        const said = `${echod.stderr}\n${echod.logs.map((line) => JSON.stringify(line)).join('\n')}`;
        assert.ok(said.includes(path), `the message names ${path}: ${said}`);
        return said;
      }

      it('a live socket at the path: exits non-zero naming the path; the other server keeps it', { timeout: CLI_TIMEOUT_MS }, async () => {
        const path = freshPath();
        await liveSocketAt(path);
        const { ino } = lstatSync(path);
        assert.match(await failsAt(path), /EADDRINUSE|another running process/);
        assert.equal(lstatSync(path).ino, ino);
        await otherServes(path);
      });

      it('a regular file at the path: exits non-zero naming the path; the file is untouched', { timeout: CLI_TIMEOUT_MS }, async () => {
        const path = freshPath();
        writeFileSync(path, 'precious data');
        await failsAt(path);
        assert.equal(readFileSync(path, 'utf8'), 'precious data');
      });

      it(
        'a stale socket is replaced; on SIGTERM the file is removed only while it is still echod’s',
        { timeout: CLI_TIMEOUT_MS },
        async () => {
          const path = freshPath();
          await staleSocketAt(path);
          const { echod } = await startEchod(runtime, ['--listen', `tcp://${HOST}:0`, '--listen', `unix://${path}`], (started) =>
            echods.push(started),
          );
          await echod.until(() => echod.all('listening').length === 2, 'two listening lines');
          await echoesAt(path, 'served\n');
          echod.signal('SIGTERM');
          assert.equal((await echod.exited()).code, 0);
          assert.equal(existsSync(path), false, 'its own file is removed on exit');

          const next = freshPath();
          const second = await startEchod(runtime, ['--listen', `tcp://${HOST}:0`, '--listen', `unix://${next}`], (started) =>
            echods.push(started),
          );
          await second.echod.until(() => second.echod.all('listening').length === 2, 'two listening lines');
          unlinkSync(next);
          await liveSocketAt(next);
          second.echod.signal('SIGTERM');
          assert.equal((await second.echod.exited()).code, 0);
          assert.ok(existsSync(next), 'a socket that replaced echod’s is left');
          await otherServes(next);
        },
      );
    });
  }
});
