// mTLS with clientAuth 'require': a client that sends no certificate is refused and logged with
// that reason, not with the UNABLE_TO_GET_ISSUER_CERT Node reports for it; a foreign
// certificate is still logged with its verification error.
import assert from 'node:assert/strict';
import { afterEach, before, describe, it } from 'node:test';
import type { ConnectionOptions } from 'node:tls';
import { SERVER_NAME, type TestPki, testPki } from '../../testkit/certs.js';
import { Fixture, HOST, WAIT_MS } from '../../testkit/clients.js';
import { RecordingLogger } from '../../testkit/recording-logger.js';
import { StreamClient } from '../../testkit/stream-client.js';

describe('mTLS refusals say why', () => {
  let pki: TestPki;
  let fixture: Fixture | undefined;
  const clients: StreamClient[] = [];
  before(async () => {
    pki = await testPki();
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await fixture?.cleanup();
    fixture = undefined;
  });

  const verifying = (options: ConnectionOptions = {}): ConnectionOptions => ({
    ca: pki.ca.cert,
    servername: SERVER_NAME,
    rejectUnauthorized: true,
    ...options,
  });

  async function refusalOf(options: ConnectionOptions): Promise<Record<string, unknown>> {
    const logger = new RecordingLogger();
    fixture = await Fixture.start({
      listeners: [{ protocol: 'tls', host: HOST, port: 0 }],
      tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, clientAuth: 'require' },
      logger,
    });
    const client = StreamClient.tlsAttempt(fixture.port, verifying(options));
    clients.push(client);
    await client.write('let me in\n').catch(() => {});
    await client.waitClosed();
    return (await logger.next('connection rejected', () => true, WAIT_MS)).fields;
  }

  it('no client certificate: detail "no client certificate"', { timeout: 15_000 }, async () => {
    const fields = await refusalOf({});
    assert.equal(fields.reason, 'tls_error');
    assert.equal(fields.detail, 'no client certificate');
  });

  it('a certificate from another CA: the verification error', { timeout: 15_000 }, async () => {
    const fields = await refusalOf({ cert: pki.strangerClient.cert, key: pki.strangerClient.key });
    assert.equal(fields.reason, 'tls_error');
    assert.notEqual(fields.detail, 'no client certificate');
  });
});
