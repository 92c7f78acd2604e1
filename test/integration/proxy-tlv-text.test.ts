// PROXY v2 TLVs that are text (unique id, authority, AWS VPC endpoint id) appear in the
// connection's open log line as text when printable, so an operator matches haproxy's
// unique-id-format at a glance; binary or unprintable values as `hex:…`. A real listener on
// 127.0.0.1, port 0, and a client playing the balancer.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Fixture, HOST } from '../../testkit/clients.js';
import { addresses, FAMILY, tlv, v2 } from '../../testkit/proxy-headers.js';
import { RecordingLogger } from '../../testkit/recording-logger.js';

const TEST_TIMEOUT_MS = 10_000;
/** What haproxy's default unique-id-format (%{+X}o %ci:%cp_%fi:%fp_%Ts_%rt:%pid) makes. */
const UNIQUE_ID = '7F000001:C2A4_7F000001:1F90_67A1B2C3_0001:3F2E';
const VPCE = 'vpce-08d2bf15fac5001c9';

describe('PROXY v2 text TLVs in the connection log line', () => {
  let fixture: Fixture | undefined;
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
  });

  async function openLine(tlvs: Buffer): Promise<Record<string, unknown>> {
    const logger = new RecordingLogger();
    fixture = await Fixture.start({ listeners: [{ protocol: 'tcp', host: HOST, port: 0, proxyProtocol: 'required' }], logger });
    const client = await fixture.client();
    const header = v2(0x21, FAMILY.TCP4, Buffer.concat([addresses('TCP4', '192.0.2.44', '192.0.2.1', 61_000, 7), tlvs]));
    await client.write(Buffer.concat([header, Buffer.from('hi\n')]));
    assert.equal(await client.readText('hi\n'), 'hi\n');
    const opened = await logger.next('connection opened');
    return (opened.fields.proxy as { tlvs: Record<string, unknown> }).tlvs;
  }

  it('printable: the unique id, authority and VPC endpoint id as the balancer sent them', { timeout: TEST_TIMEOUT_MS }, async () => {
    const tlvs = await openLine(
      Buffer.concat([
        tlv(0x05, Buffer.from(UNIQUE_ID)),
        tlv(0x02, Buffer.from('echo.example.com')),
        tlv(0xea, Buffer.concat([Buffer.from([0x01]), Buffer.from(VPCE)])),
      ]),
    );
    assert.equal(tlvs.uniqueId, UNIQUE_ID);
    assert.equal(tlvs.authority, 'echo.example.com');
    assert.equal(tlvs.awsVpceId, VPCE);
  });

  it('binary or unprintable: hex, marked as such', { timeout: TEST_TIMEOUT_MS }, async () => {
    const id = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    const authority = Buffer.from('evil\n{"level":50}');
    const tlvs = await openLine(Buffer.concat([tlv(0x05, id), tlv(0x02, authority)]));
    assert.equal(tlvs.uniqueId, 'hex:deadbeef');
    assert.equal(tlvs.authority, `hex:${authority.toString('hex')}`);
  });
});
