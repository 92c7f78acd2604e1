// Certificates for the TLS tests, made in memory with the `selfsigned` package (already a
// dependency): a CA, server certificates it signs (for 127.0.0.1, ::1 and localhost), client
// certificates it signs (mTLS), and a second, unrelated CA with its own client, whose
// certificates the first CA must not vouch for. EC P-256 keys: fast to make.
import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';

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

/** A server certificate signed by `ca`; `commonName` tells two of them apart. */
export async function makeServerCert(ca: KeyPair, commonName = SERVER_NAME): Promise<KeyPair> {
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    ...validity(),
    ca,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: SERVER_NAME }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

export async function makeClientCert(ca: KeyPair, commonName: string): Promise<KeyPair> {
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    ...validity(),
    ca,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
    ],
  });
  return { cert: pems.cert, key: pems.private };
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
