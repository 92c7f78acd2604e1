/**
 * Per-connection extras: banner, prefix, digests and output faults. Only connections that have
 * any get them, so a plain echo connection carries nothing extra.
 */
import { hostname } from 'node:os';
import { shapesOutput } from '../config/faults.js';
import type { ResolvedOptions } from '../config/options.js';
import type { Connection } from '../connection/connection.js';
import { OutputShaper } from '../connection/shaper.js';
import { StreamDigest } from '../core/digest.js';
import { expandTemplate, type TemplateValues, unescapeTemplate } from '../core/template.js';

/** Banner, prefix, digests and faults for a just-registered connection: only for connections that have any. */
export function addExtras(connection: Connection, options: Readonly<ResolvedOptions>): void {
  // An HTTP or WebSocket connection echoes requests and messages, not a byte stream: banner,
  // prefix and digests are the byte echo's (its digests would be of nothing); its faults apply.
  const stream = connection.httpActivity === null;
  const banner = stream ? options.banner : '';
  const prefix = stream ? options.prefix : '';
  const digest = stream ? options.digest : 'off';
  const faults = connection.faults;
  const shaped = shapesOutput(faults);
  if (banner === '' && prefix === '' && digest === 'off' && !shaped && faults?.acceptThenHang !== true) return;
  const values = (): TemplateValues => ({
    hostname: hostname(),
    pid: process.pid,
    server_id: options.serverId,
    conn_id: connection.id,
    remote: `${connection.remoteAddress}:${connection.remotePort}`,
    local: `${connection.local.address}:${connection.local.port}`,
    proxy_source: connection.proxy?.source !== undefined ? `${connection.proxy.source.address}:${connection.proxy.source.port}` : '',
    time: new Date().toISOString(),
    env: process.env,
  });
  if (prefix !== '' || digest !== 'off' || shaped) {
    connection.extras = {
      prefix: prefix === '' ? null : Buffer.from(expandTemplate(unescapeTemplate(prefix), values())),
      digestIn: digest === 'off' ? null : new StreamDigest(digest),
      digestOut: digest === 'off' ? null : new StreamDigest(digest),
      shaper: shaped && faults !== null ? new OutputShaper(faults, connection) : null,
    };
  }
  if (banner !== '') {
    const line = expandTemplate(unescapeTemplate(banner), values());
    connection.sendBanner(Buffer.from(line.endsWith('\n') ? line : `${line}\n`));
  }
  if (faults?.acceptThenHang === true) connection.hang();
}
