/**
 * The server's TLS settings: built once at listen() from the options, and swapped in place on
 * every tls and https listener by `reloadTls` (SIGHUP in the CLI) without dropping a connection.
 */
import type { SecureContextOptions } from 'node:tls';
import type { ResolvedTls, TlsOptions, TlsSettings } from '../config/options.js';
import { tlsSettings } from '../config/self-signed.js';
import type { Logger } from '../core/log.js';

/** The tls listeners' settings, or null when no listener needs TLS. */
export async function startTls(tls: ResolvedTls | null): Promise<TlsSettings | null> {
  return tls === null ? null : tlsSettings(tls);
}

/**
 * New certificates for every listener that takes them; what `tls` leaves out (CA, client
 * authentication, minimum version) stays as configured. Rejects, changing nothing, on bad files.
 */
export async function reloadTls(
  current: ResolvedTls | null,
  tls: TlsOptions,
  listeners: Iterable<{ setSecureContext?(options: SecureContextOptions): void }>,
  logger: Logger,
): Promise<void> {
  const settings = await tlsSettings({
    cert: tls.cert ?? null,
    key: tls.key ?? null,
    ca: tls.ca ?? current?.ca ?? null,
    clientAuth: tls.clientAuth ?? current?.clientAuth ?? 'none',
    minVersion: tls.minVersion ?? current?.minVersion ?? 'TLSv1.2',
    selfSigned: tls.selfSigned ?? false,
  });
  for (const listener of listeners) listener.setSecureContext?.(settings.context);
  logger.info('tls certificates reloaded');
}
