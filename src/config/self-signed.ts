/**
 * `--tls-self-signed`: a certificate made in memory at start-up, for tests and labs, with the
 * maintained `selfsigned` package. Never written to disk; a new one every start.
 */
import { generate } from 'selfsigned';
import type { SecureContextOptions } from 'node:tls';
import { hostname } from 'node:os';
import type { ResolvedTls, TlsSettings } from './options.js';

/** Self-signed certificates are for labs: one week is plenty and limits the harm of a leak. */
const SELF_SIGNED_DAYS = 7;

export async function selfSignedCertificate(): Promise<{ cert: string; key: string }> {
  const name = hostname();
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    curve: 'P-256',
    notBeforeDate: new Date(now - 60_000),
    notAfterDate: new Date(now + SELF_SIGNED_DAYS * 86_400_000),
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: name }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] }],
  });
  return { cert: pems.cert, key: pems.private };
}

/** Node's TLS settings for the resolved options, making the self-signed certificate if asked. */
export async function tlsSettings(tls: ResolvedTls): Promise<TlsSettings> {
  const pair = tls.selfSigned && (tls.cert === null || tls.key === null) ? await selfSignedCertificate() : { cert: tls.cert, key: tls.key };
  const context: SecureContextOptions = { cert: pair.cert ?? undefined, key: pair.key ?? undefined, minVersion: tls.minVersion };
  if (tls.ca !== null) context.ca = tls.ca;
  return { context, requestCert: tls.clientAuth !== 'none', rejectUnauthorized: tls.clientAuth === 'require' };
}
