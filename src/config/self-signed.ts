/**
 * `--tls-self-signed`: a certificate made in memory at start-up, for tests and labs, with the
 * maintained `selfsigned` package. Never written to disk; a new one every start.
 */
import { generate } from 'selfsigned';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { hostname } from 'node:os';
import type { ResolvedTls, TlsSettings } from './options.js';

/** Self-signed certificates are for labs: one week is plenty and limits the harm of a leak. */
const SELF_SIGNED_DAYS = 7;

async function selfSignedCertificate(): Promise<{ cert: string; key: string }> {
  const name = hostname();
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    curve: 'P-256',
    notBeforeDate: new Date(now - 60_000),
    notAfterDate: new Date(now + SELF_SIGNED_DAYS * 86_400_000),
    extensions: [
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: name },
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
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

/** Which PEM input is unusable, and why (for the CLI to name the flag and the file). */
export interface TlsMaterialProblem {
  /** `pair`: each parses, but the key is not the certificate's. */
  field: 'cert' | 'key' | 'ca' | 'pair';
  reason: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----/;

/**
 * Checks the PEM inputs before anything listens: each one parses on its own, and the key
 * belongs to the certificate. Node takes a CA bundle with no certificate in it silently (and
 * then trusts nothing), so that is refused here too.
 */
export function tlsMaterialProblem(tls: {
  cert?: string | Buffer | null;
  key?: string | Buffer | null;
  ca?: string | Buffer | null;
}): TlsMaterialProblem | null {
  const attempt = (field: TlsMaterialProblem['field'], context: SecureContextOptions, reason?: string): TlsMaterialProblem | null => {
    try {
      createSecureContext(context);
      return null;
    } catch (err) {
      return { field, reason: reason ?? opensslReason(err) };
    }
  };
  const { cert, key, ca } = tls;
  if (cert != null) {
    if (!PEM_CERTIFICATE.test(cert.toString()))
      return { field: 'cert', reason: 'no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)' };
    const problem = attempt('cert', { cert });
    if (problem !== null) return problem;
  }
  if (key != null) {
    const problem = attempt('key', { key }, 'not a PEM private key');
    if (problem !== null) return problem;
  }
  if (cert != null && key != null) {
    const problem = attempt('pair', { cert, key }, 'the key does not match the certificate');
    if (problem !== null) return problem;
  }
  if (ca != null) {
    if (!PEM_CERTIFICATE.test(ca.toString()))
      return { field: 'ca', reason: 'no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)' };
    const problem = attempt('ca', { ca });
    if (problem !== null) return problem;
  }
  return null;
}

/** OpenSSL's "error:0480006C:PEM routines::no start line" → "no start line". */
function opensslReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split(':').at(-1)?.trim().toLowerCase().replaceAll('_', ' ') || message;
}
