// Certificates for the TLS tests, made in memory with the `selfsigned` package (already a
// dependency): a CA, server certificates it signs (for 127.0.0.1, ::1 and localhost), client
// certificates it signs (mTLS), and a second, unrelated CA with its own client, whose
// certificates the first CA must not vouch for. EC P-256 keys: fast to make.
import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';

/** One entry of selfsigned's `extensions` option. */
type CertificateExtension = NonNullable<NonNullable<Parameters<typeof generate>[1]>['extensions']>[number];

export interface KeyPair {
  cert: string;
  key: string;
}

export interface TestPki {
  ca: KeyPair;
  /** A server certificate for localhost / 127.0.0.1 / ::1, signed by `ca`. */
  server: KeyPair;
  /** A client certificate (CN echod-test-client) signed by `ca`. */
  client: KeyPair;
  /** A client certificate (CN intruder) signed by `otherCa`. */
  strangerClient: KeyPair;
  otherCa: KeyPair;
}

/** The server certificate's host name (use it as SNI and in `checkServerIdentity`). */
export const SERVER_NAME = 'localhost';
export const CLIENT_CN = 'echod-test-client';
export const STRANGER_CN = 'intruder';

const DAY_MS = 86_400_000;

function validity(): { notBeforeDate: Date; notAfterDate: Date } {
  const now = Date.now();
  return { notBeforeDate: new Date(now - DAY_MS), notAfterDate: new Date(now + DAY_MS) };
}

export async function makeCa(commonName: string): Promise<KeyPair> {
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    ...validity(),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** A leaf certificate signed by `ca`: EC P-256, for TLS server or client authentication. */
async function makeLeafCert(ca: KeyPair, commonName: string, use: 'server' | 'client'): Promise<KeyPair> {
  const extensions: CertificateExtension[] = [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, critical: true },
  ];
  if (use === 'server') {
    extensions.push({ name: 'extKeyUsage', serverAuth: true });
    extensions.push({
      name: 'subjectAltName',
      altNames: [
        { type: 2, value: SERVER_NAME },
        { type: 7, ip: '127.0.0.1' },
        { type: 7, ip: '::1' },
      ],
    });
  } else {
    extensions.push({ name: 'extKeyUsage', clientAuth: true });
  }
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    ...validity(),
    ca,
    extensions,
  });
  return { cert: pems.cert, key: pems.private };
}

/** A server certificate signed by `ca` (for SERVER_NAME, 127.0.0.1 and ::1); `commonName` tells two of them apart. */
export function makeServerCert(ca: KeyPair, commonName = SERVER_NAME): Promise<KeyPair> {
  return makeLeafCert(ca, commonName, 'server');
}

export function makeClientCert(ca: KeyPair, commonName: string): Promise<KeyPair> {
  return makeLeafCert(ca, commonName, 'client');
}

let made: Promise<TestPki> | undefined;

/** One set of certificates per test process (making them is the slow part). */
export function testPki(): Promise<TestPki> {
  made ??= (async () => {
    const ca = await makeCa('echod test CA');
    const otherCa = await makeCa('some other CA');
    const [server, client, strangerClient] = await Promise.all([
      makeServerCert(ca),
      makeClientCert(ca, CLIENT_CN),
      makeClientCert(otherCa, STRANGER_CN),
    ]);
    return { ca, server, client, strangerClient, otherCa };
  })();
  return made;
}

/** SHA-256 fingerprint of a PEM certificate, in the form `getPeerCertificate().fingerprint256` gives. */
export function fingerprint256(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}
