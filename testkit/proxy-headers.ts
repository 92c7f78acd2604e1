// PROXY protocol headers as a load balancer sends them (v1 text, v2 binary), built by hand
// for the tests of PROXY on real listeners (proxy-transport, proxy-tls).

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** v2's address family and protocol byte. */
export const FAMILY = { UNSPEC: 0x00, TCP4: 0x11, TCP6: 0x21 } as const;

export function v1(transport: 'TCP4' | 'TCP6', source: string, destination: string, sourcePort: number, destinationPort: number): Buffer {
  return Buffer.from(`PROXY ${transport} ${source} ${destination} ${sourcePort} ${destinationPort}\r\n`, 'latin1');
}

/** A v2 header; `versionCommand` is the 13th byte (0x21: version 2, PROXY; 0x20: LOCAL). */
export function v2(versionCommand: number, familyProtocol: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = versionCommand;
  fixed[1] = familyProtocol;
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIGNATURE, fixed, body]);
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? front : [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, index) => bytes.writeUInt16BE(Number.parseInt(group, 16), index * 2));
  return bytes;
}

/** v2's address block: source and destination addresses, then their ports. */
export function addresses(
  family: 'TCP4' | 'TCP6',
  source: string,
  destination: string,
  sourcePort: number,
  destinationPort: number,
): Buffer {
  const ip = (address: string): Buffer => (family === 'TCP4' ? Buffer.from(address.split('.').map(Number)) : ipv6Bytes(address));
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sourcePort, 0);
  ports.writeUInt16BE(destinationPort, 2);
  return Buffer.concat([ip(source), ip(destination), ports]);
}

/** One v2 TLV: type, 16-bit length, value. */
export function tlv(type: number, value: Uint8Array): Buffer {
  const head = Buffer.from([type, 0, 0]);
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

/** PP2_TYPE_AUTHORITY (0x02): the host name the client asked for. */
export function authorityTlv(host: string): Buffer {
  return tlv(0x02, Buffer.from(host));
}
