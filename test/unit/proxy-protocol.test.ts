// The PROXY protocol parser, against the specification's examples and formats, every split of
// the header, and arbitrary corruptions: it must never throw and never misread.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseProxyHeader, type ProxyParseResult, tlvText, V1_MAX_BYTES, V2_MAX_BYTES } from '../../src/core/proxy-protocol.js';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

interface V2Spec {
  command?: number;
  familyProtocol: number;
  addresses?: Buffer;
  tlvs?: Buffer;
}

function v2(spec: V2Spec): Buffer {
  const body = Buffer.concat([spec.addresses ?? Buffer.alloc(0), spec.tlvs ?? Buffer.alloc(0)]);
  const fixed = Buffer.alloc(4);
  fixed[0] = 0x20 | (spec.command ?? 1);
  fixed[1] = spec.familyProtocol;
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIGNATURE, fixed, body]);
}

function tlv(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

function inet4(src: string, dst: string, sport: number, dport: number): Buffer {
  const block = Buffer.alloc(12);
  src.split('.').forEach((octet, i) => (block[i] = Number(octet)));
  dst.split('.').forEach((octet, i) => (block[4 + i] = Number(octet)));
  block.writeUInt16BE(sport, 8);
  block.writeUInt16BE(dport, 10);
  return block;
}

function header(result: ProxyParseResult): Extract<ProxyParseResult, { kind: 'header' }> {
  assert.equal(result.kind, 'header', JSON.stringify(result));
  return result;
}

describe('PROXY protocol v1', () => {
  it('TCP4, the specification example', () => {
    const line = Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n');
    const { header: parsed, length } = header(parseProxyHeader(line));
    assert.equal(length, 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'.length);
    assert.deepEqual(parsed, {
      version: 1,
      command: 'PROXY',
      transport: 'TCP4',
      source: { address: '192.168.0.1', port: 56324 },
      destination: { address: '192.168.0.11', port: 443 },
      tlvs: {},
    });
  });

  it('TCP6 and UNKNOWN', () => {
    const six = header(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 ::1 1 65535\r\n')));
    assert.deepEqual(six.header.source, { address: '2001:db8::1', port: 1 });
    assert.deepEqual(six.header.destination, { address: '::1', port: 65535 });
    const unknown = header(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n')));
    assert.equal(unknown.header.transport, 'UNKNOWN');
    assert.equal(unknown.header.source, undefined);
    assert.equal(header(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).length, 15);
  });

  it('the longest legal line (107 bytes) is accepted; one byte more without CRLF is refused', () => {
    const longest = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_BYTES - 16)}\r\n`);
    assert.equal(longest.length, V1_MAX_BYTES);
    assert.equal(header(parseProxyHeader(longest)).length, V1_MAX_BYTES);
    const tooLong = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_BYTES)}`);
    assert.equal(parseProxyHeader(tooLong).kind, 'invalid');
  });

  const malformed: Record<string, string> = {
    'unknown protocol': 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n',
    'missing field': 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n',
    'extra field': 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n',
    'IPv6 address in TCP4': 'PROXY TCP4 ::1 5.6.7.8 1 2\r\n',
    'IPv4 address in TCP6': 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n',
    'port above 65535': 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n',
    'port with a leading zero': 'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n',
    'negative port': 'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n',
    'double space': 'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n',
    'LF without CR': 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n',
    'stray CR': 'PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n',
    'non-printable byte': 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x00\r\n',
  };
  for (const [name, text] of Object.entries(malformed)) {
    it(`refuses: ${name}`, () => assert.equal(parseProxyHeader(Buffer.from(text, 'latin1')).kind, 'invalid'));
  }
});

describe('PROXY protocol v2', () => {
  it('PROXY over TCP4 with the client data after it', () => {
    const head = v2({ familyProtocol: 0x11, addresses: inet4('10.0.0.1', '10.0.0.2', 40000, 8080) });
    const { header: parsed, length } = header(parseProxyHeader(Buffer.concat([head, Buffer.from('hello\n')])));
    assert.equal(length, head.length);
    assert.deepEqual(parsed, {
      version: 2,
      command: 'PROXY',
      transport: 'TCP4',
      source: { address: '10.0.0.1', port: 40000 },
      destination: { address: '10.0.0.2', port: 8080 },
      tlvs: {},
    });
  });

  it('TCP6 addresses come out in canonical form', () => {
    const block = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000001', 'hex').copy(block, 0);
    Buffer.from('fe800000000000000000000000000abc', 'hex').copy(block, 16);
    block.writeUInt16BE(1234, 32);
    block.writeUInt16BE(443, 34);
    const parsed = header(parseProxyHeader(v2({ familyProtocol: 0x21, addresses: block }))).header;
    assert.deepEqual(parsed.source, { address: '2001:db8::1', port: 1234 });
    assert.deepEqual(parsed.destination, { address: 'fe80::abc', port: 443 });
  });

  it('LOCAL (a balancer health check) carries no client address', () => {
    const parsed = header(parseProxyHeader(v2({ command: 0, familyProtocol: 0x11, addresses: inet4('1.1.1.1', '2.2.2.2', 1, 2) }))).header;
    assert.equal(parsed.command, 'LOCAL');
    assert.equal(parsed.source, undefined);
    assert.equal(header(parseProxyHeader(v2({ command: 0, familyProtocol: 0x00 }))).header.transport, 'UNKNOWN');
  });

  it('decodes the TLVs balancers send', () => {
    const ssl = Buffer.concat([
      Buffer.from([0x07, 0, 0, 0, 0]),
      tlv(0x21, Buffer.from('TLSv1.3')),
      tlv(0x22, Buffer.from('client.example')),
      tlv(0x23, Buffer.from('TLS_AES_128_GCM_SHA256')),
    ]);
    const azure = Buffer.alloc(5);
    azure[0] = 0x01;
    azure.writeUInt32LE(0xdeadbeef, 1);
    const gcp = Buffer.alloc(8);
    gcp.writeBigUInt64BE(12345678901234567890n);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(0x01020304);
    const tlvs = Buffer.concat([
      tlv(0x01, Buffer.from('h2')),
      tlv(0x02, Buffer.from('echo.example.com')),
      tlv(0x03, crc),
      tlv(0x04, Buffer.alloc(3)),
      tlv(0x05, Buffer.from('a1b2', 'hex')),
      tlv(0x20, ssl),
      tlv(0x30, Buffer.from('blue')),
      tlv(0xea, Buffer.concat([Buffer.from([0x01]), Buffer.from('vpce-08d2bf15fac5001c9')])),
      tlv(0xee, azure),
      tlv(0xe0, gcp),
      tlv(0xf0, Buffer.from('x')),
    ]);
    const parsed = header(parseProxyHeader(v2({ familyProtocol: 0x11, addresses: inet4('1.2.3.4', '5.6.7.8', 9, 10), tlvs }))).header;
    assert.deepEqual(parsed.tlvs, {
      alpn: 'h2',
      authority: 'echo.example.com',
      crc32c: 0x01020304,
      uniqueId: 'hex:a1b2',
      ssl: { client: 7, verify: 0, version: 'TLSv1.3', commonName: 'client.example', cipher: 'TLS_AES_128_GCM_SHA256' },
      netns: 'blue',
      awsVpceId: 'vpce-08d2bf15fac5001c9',
      azureLinkId: 0xdeadbeef,
      gcpPscConnectionId: '12345678901234567890',
      unknownTypes: [0xf0],
    });
  });

  const malformed: Record<string, Buffer> = {
    'version 1 in a v2 header': Buffer.concat([SIGNATURE, Buffer.from([0x11, 0x11, 0, 0])]),
    'command 2': Buffer.concat([SIGNATURE, Buffer.from([0x22, 0x11, 0, 0])]),
    'family 4': v2({ familyProtocol: 0x41 }),
    'INET with UNSPEC protocol': v2({ familyProtocol: 0x10, addresses: Buffer.alloc(12) }),
    'address block too short': v2({ familyProtocol: 0x11, addresses: Buffer.alloc(8) }),
    'TLV running past the header': v2({ familyProtocol: 0x11, addresses: Buffer.alloc(12), tlvs: Buffer.from([0x01, 0x00, 0x09, 0x68]) }),
    'truncated TLV header': v2({ familyProtocol: 0x11, addresses: Buffer.alloc(12), tlvs: Buffer.from([0x01, 0x00]) }),
  };
  for (const [name, bytes] of Object.entries(malformed)) {
    it(`refuses: ${name}`, () => assert.equal(parseProxyHeader(bytes).kind, 'invalid'));
  }

  it(`refuses a header larger than ${V2_MAX_BYTES} bytes as soon as its length is known`, () => {
    const fixed = Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]);
    assert.equal(parseProxyHeader(fixed).kind, 'invalid');
  });
});

describe('TLV values shown as text when printable, hex otherwise', () => {
  const cases: [string, Buffer, string][] = [
    [
      'a haproxy unique id',
      Buffer.from('7F000001:C2A4_0A0B0C0D:1F90_67A1B2C3_0001:3F2E'),
      '7F000001:C2A4_0A0B0C0D:1F90_67A1B2C3_0001:3F2E',
    ],
    ['UTF-8 text', Buffer.from('caf\u00e9.example'), 'caf\u00e9.example'],
    ['empty', Buffer.alloc(0), ''],
    ['markup is text like any other', Buffer.from('<img src=x onerror=alert(1)>'), '<img src=x onerror=alert(1)>'],
    ['binary', Buffer.from([0xa1, 0xb2]), 'hex:a1b2'],
    ['a control byte', Buffer.from('id\n{"forged":1}'), `hex:${Buffer.from('id\n{"forged":1}').toString('hex')}`],
    ['a NUL', Buffer.from([0x61, 0x00]), 'hex:6100'],
    ['DEL', Buffer.from([0x61, 0x7f]), 'hex:617f'],
    ['a bidi override', Buffer.from('a\u202eb'), `hex:${Buffer.from('a\u202eb').toString('hex')}`],
    ['a line separator', Buffer.from('a\u2028b'), `hex:${Buffer.from('a\u2028b').toString('hex')}`],
    ['truncated UTF-8', Buffer.from([0x63, 0xc3]), 'hex:63c3'],
  ];
  for (const [name, value, shown] of cases) {
    it(name, () => assert.equal(tlvText(value), shown));
  }

  it('unique id, authority, SSL names and AWS VPC endpoint id are decoded that way', () => {
    const ssl = Buffer.concat([Buffer.from([0x01, 0, 0, 0, 0]), tlv(0x22, Buffer.from([0xff, 0xfe]))]);
    const tlvs = Buffer.concat([
      tlv(0x05, Buffer.from('req-42')),
      tlv(0x02, Buffer.from('bad\rhost')),
      tlv(0x20, ssl),
      tlv(0xea, Buffer.concat([Buffer.from([0x01]), Buffer.from([0x00, 0x01])])),
    ]);
    const parsed = header(parseProxyHeader(v2({ familyProtocol: 0x11, addresses: inet4('1.2.3.4', '5.6.7.8', 9, 10), tlvs }))).header;
    assert.equal(parsed.tlvs.uniqueId, 'req-42');
    assert.equal(parsed.tlvs.authority, `hex:${Buffer.from('bad\rhost').toString('hex')}`);
    assert.equal(parsed.tlvs.ssl?.commonName, 'hex:fffe');
    assert.equal(parsed.tlvs.awsVpceId, 'hex:0001');
  });
});

describe('detection and splitting', () => {
  it('bytes that cannot start a header are absent at once (optional mode serves them)', () => {
    assert.equal(parseProxyHeader(Buffer.from('hello\n')).kind, 'absent');
    assert.equal(parseProxyHeader(Buffer.from('PROXX')).kind, 'absent');
    assert.equal(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01])).kind, 'absent');
  });

  it('every prefix of a header is incomplete, never a wrong verdict', () => {
    const headers = [
      Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'),
      v2({ familyProtocol: 0x11, addresses: inet4('10.0.0.1', '10.0.0.2', 1, 2), tlvs: tlv(0x01, Buffer.from('h2')) }),
    ];
    for (const whole of headers) {
      for (let n = 0; n < whole.length; n++) assert.equal(parseProxyHeader(whole.subarray(0, n)).kind, 'incomplete', `prefix of ${n}`);
      assert.equal(header(parseProxyHeader(whole)).length, whole.length);
    }
  });

  it('property: arbitrary bytes never throw, and a header never claims more bytes than it was given', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const result = parseProxyHeader(Buffer.from(bytes));
        if (result.kind === 'header') assert.ok(result.length <= bytes.length);
      }),
      { numRuns: 5000 },
    );
  });

  it('property: corrupting any byte of a valid header gives absent, invalid or a header — never a throw', () => {
    const valid = [
      Buffer.from('PROXY TCP6 2001:db8::1 ::1 1 65535\r\n'),
      v2({
        familyProtocol: 0x11,
        addresses: inet4('10.0.0.1', '10.0.0.2', 1, 2),
        tlvs: tlv(0x20, Buffer.concat([Buffer.alloc(5), tlv(0x21, Buffer.from('TLSv1.2'))])),
      }),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 0, max: 255 }), (whole, at, byte) => {
        const corrupt = Buffer.from(whole);
        corrupt[at % corrupt.length] = byte;
        const result = parseProxyHeader(corrupt);
        assert.ok(['absent', 'invalid', 'header', 'incomplete'].includes(result.kind));
        if (result.kind === 'header') assert.ok(result.length <= corrupt.length);
      }),
      { numRuns: 5000 },
    );
  });

  it('property: a v1 TCP4 header with any addresses and ports parses back to them', () => {
    const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));
    fc.assert(
      fc.property(ipv4, ipv4, fc.nat(65_535), fc.nat(65_535), fc.uint8Array({ maxLength: 20 }), (src, dst, sport, dport, rest) => {
        const line = Buffer.from(`PROXY TCP4 ${src} ${dst} ${sport} ${dport}\r\n`);
        const parsed = header(parseProxyHeader(Buffer.concat([line, Buffer.from(rest)])));
        assert.equal(parsed.length, line.length);
        assert.deepEqual(parsed.header.source, { address: src, port: sport });
        assert.deepEqual(parsed.header.destination, { address: dst, port: dport });
      }),
    );
  });
});
