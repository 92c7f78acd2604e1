// http:// and https:// listeners from the command line, through the real binary: the TLS flags
// reach an https listener (curl -k --http2 gets the JSON document), and the HTTP bounds and
// controls set by flag or ECHOD_ variable take effect. Plus --help naming every HTTP flag.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { afterEach, before, describe, it } from 'node:test';
import { HOST } from '../../testkit/clients.js';
import { curl } from '../../testkit/curl.js';
import { assertBuilt, type EchodProcess, startEchod } from '../../testkit/echod-process.js';
import { HTTP_FLAGS, envName } from '../../src/cli/flags.js';

async function run(args: string[]): Promise<string> {
  const child = spawn(process.execPath, ['bin/echod.js', ...args]);
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.equal(code, 0);
  return stdout;
}

describe('http listeners from the command line', () => {
  const echods: EchodProcess[] = [];
  before(assertBuilt);
  afterEach(async () => {
    for (const echod of echods.splice(0)) await echod.stop();
  });

  it('echod --listen https://… --tls-self-signed answers curl -k --http2 with the JSON document', async () => {
    const { port } = await startEchod('node', ['--listen', `https://${HOST}:0`, '--tls-self-signed', '--server-id', 'cli-h2'], (echod) =>
      echods.push(echod),
    );
    const { status, body } = await curl(['-k', '--http2', `https://${HOST}:${port}/hello?a=1`]);
    assert.equal(status, 200);
    const document = JSON.parse(body) as {
      httpVersion: string;
      path: string;
      query: unknown;
      tls: { alpn: string };
      server: { id: string };
    };
    assert.equal(document.httpVersion, '2.0');
    assert.equal(document.path, '/hello');
    assert.deepEqual(document.query, { a: '1' });
    assert.equal(document.tls.alpn, 'h2');
    assert.equal(document.server.id, 'cli-h2');
  });

  it('--max-body-bytes 10 answers a longer body 413; --http-controls off ignores ?status=; --http-max-requests-per-connection closes', async () => {
    const { echod, port } = await startEchod(
      'node',
      ['--listen', `http://${HOST}:0`, '--max-body-bytes', '10', '--http-controls', 'off', '--http-max-requests-per-connection', '2'],
      (started) => echods.push(started),
    );
    const url = `http://${HOST}:${port}/`;
    assert.equal((await curl(['-d', 'x'.repeat(11), url])).status, 413);
    assert.equal((await curl(['-d', 'x'.repeat(10), `${url}?format=raw`])).body, 'x'.repeat(10));
    assert.equal((await curl([`${url}?status=503`])).status, 200);
    const refused = await echod.line('http request refused');
    assert.equal(refused.reason, 'body_too_large');
    // Three requests on one curl: the second is the connection's last, the third needs a new one.
    const reuse = await curl([url, '--next', url, '--next', url]);
    const requests = [...reuse.body.matchAll(/"connection":\{"id":\d+,"request":(\d+)\}/g)].map((match) => Number(match[1]));
    assert.deepEqual(requests, [1, 2, 1]);
  });

  it('--help lists every HTTP flag with its default and variable', async () => {
    const help = await run(['--help']);
    for (const flag of HTTP_FLAGS) {
      const line = help.split('\n').find((text) => text.startsWith(`  --${flag.name} `));
      assert.ok(line !== undefined, `--${flag.name} in --help`);
      assert.ok(line.includes(`[default: ${flag.shown ?? ''}]`) && line.includes(`[env: ${envName(flag.name)}]`), line);
    }
  });
});
