/**
 * Secrets never reach the logs (issue 20, item 7: an API key sent as a query parameter was written to the log).
 * Request log lines carry method, redacted URL, host and peer address only — never headers or bodies; in the URL,
 * the value of every query parameter whose name says it is a credential, and anything shaped like a medshield API
 * key (`msk_<id>_<secret>`, wherever it appears), is replaced by `[REDACTED]` (OWASP Logging Cheat Sheet: never log
 * session ids, access tokens, passwords, keys).
 */
import type { FastifyRequest } from 'fastify';

/** Query parameter names whose values are credentials (case-insensitive; `-`/`_` ignored). */
const SECRET_PARAM = new RegExp(
  '^(api_?key|apikey|key|keys|token|access_?token|id_?token|refresh_?token|auth|authorization|bearer|secret|' +
    'client_?secret|password|passwd|pwd|pass|session|sessionid|jwt|signature|sig|credential|credentials)$',
  'i',
);
const API_KEY = /msk_([0-9A-Za-z]{1,16})_[A-Za-z0-9_%-]+/g;

export const REDACTED = '[REDACTED]';

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** A URL (path + query) with credential-like query values and API keys replaced by [REDACTED]. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const pathPart = (q < 0 ? url : url.slice(0, q)).replace(API_KEY, `msk_$1_${REDACTED}`);
  if (q < 0) return pathPart;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((kv) => {
      const eq = kv.indexOf('=');
      const name = safeDecode(eq < 0 ? kv : kv.slice(0, eq)).replace(/-/g, '_');
      if (eq >= 0 && SECRET_PARAM.test(name)) return `${kv.slice(0, eq)}=${REDACTED}`;
      return kv.replace(API_KEY, `msk_$1_${REDACTED}`);
    })
    .join('&');
  return `${pathPart}?${query}`;
}

/** pino serializer for `req`: what a request log line may hold. */
export function requestLogLine(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: redactUrl(req.url ?? ''),
    host: typeof req.headers?.host === 'string' ? req.headers.host.slice(0, 200) : undefined,
    remoteAddress: req.ip ?? req.raw?.socket?.remoteAddress,
    remotePort: req.raw?.socket?.remotePort,
  };
}
