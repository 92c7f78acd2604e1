/**
 * The status page's routes on the admin port: the page (`/`, `/status`), its script and style,
 * uPlot's (served from node_modules, never copied into the repository), and the two JSON feeds
 * the page polls. Every response carries a strict Content-Security-Policy: the page loads only
 * from this origin, runs no inline script, and can neither be framed nor submit anywhere.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AdminRequest, AdminResponse } from './admin-http.js';
import { CONNECTION_SORT_KEYS, type ConnectionSortKey, STATUS_MAX_PAGE_SIZE, type StatusFeed } from './status-feed.js';
import { STATUS_HTML } from './status-page/page.js';
import { STATUS_SCRIPT } from './status-page/script.js';
import { STATUS_STYLE } from './status-page/style.js';

export const STATUS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Beside `x-content-type-options: nosniff`, which every admin answer carries (admin-http.ts). */
const SECURITY_HEADERS = {
  'content-security-policy': STATUS_CSP,
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
} as const;

type StatusRoute = (request: AdminRequest) => Promise<AdminResponse>;

/** uPlot's minified build, read from node_modules on first use and kept. */
function vendored(file: string): () => string {
  let text: string | null = null;
  return () => (text ??= readFileSync(createRequire(import.meta.url).resolve(`uplot/dist/${file}`), 'utf8'));
}
const uplotScript = vendored('uPlot.iife.min.js');
const uplotStyle = vendored('uPlot.min.css');

function asset(type: string, body: () => string): StatusRoute {
  return () => Promise.resolve({ status: 200, headers: { ...SECURITY_HEADERS, 'content-type': type }, body: body() });
}

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';
const JSON_TYPE = 'application/json';

/** Every path of the status page, for the admin server's route table. */
export function statusRoutes(feed: StatusFeed): ReadonlyMap<string, StatusRoute> {
  const page = asset(HTML, () => STATUS_HTML);
  return new Map<string, StatusRoute>([
    ['/', page],
    ['/status', page],
    ['/status/app.js', asset(JS, () => STATUS_SCRIPT)],
    ['/status/app.css', asset(CSS, () => STATUS_STYLE)],
    ['/status/uplot.min.js', asset(JS, uplotScript)],
    ['/status/uplot.min.css', asset(CSS, uplotStyle)],
    ['/api/status', async () => ({ status: 200, headers: { ...SECURITY_HEADERS, 'content-type': JSON_TYPE }, body: await feed.status() })],
    ['/api/connections', (request) => connectionsPage(feed, request)],
  ]);
}

/** `?sort=<column>&order=asc|desc&offset=&limit=` (limit capped at STATUS_MAX_PAGE_SIZE). */
async function connectionsPage(feed: StatusFeed, request: AdminRequest): Promise<AdminResponse> {
  const sort = request.query.get('sort') ?? 'id';
  const order = request.query.get('order') ?? 'asc';
  const offset = wholeNumber(request.query.get('offset'), 0);
  const limit = wholeNumber(request.query.get('limit'), 50);
  if (
    !(CONNECTION_SORT_KEYS as readonly string[]).includes(sort) ||
    (order !== 'asc' && order !== 'desc') ||
    offset === null ||
    limit === null ||
    limit < 1
  ) {
    return {
      status: 400,
      headers: { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' },
      body: `sort is one of ${CONNECTION_SORT_KEYS.join(', ')}; order asc or desc; offset ≥ 0; limit 1 to ${STATUS_MAX_PAGE_SIZE}\n`,
    };
  }
  const body = await feed.connections({ sort: sort as ConnectionSortKey, descending: order === 'desc', offset, limit });
  return { status: 200, headers: { ...SECURITY_HEADERS, 'content-type': JSON_TYPE }, body };
}

function wholeNumber(text: string | null, fallback: number): number | null {
  if (text === null || text === '') return fallback;
  return /^\d{1,9}$/.test(text) ? Number(text) : null;
}
