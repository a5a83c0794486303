/**
 * Security for the dashboard (issue 23): read-only (GET/HEAD only; anything else is 405), strict
 * Content-Security-Policy (only same-origin scripts and styles, no inline code, no eval; W3C CSP Level 3),
 * no framing, no referrer, no caching of API answers; and, when the server listens beyond the loopback
 * interface, every request must carry an API key of the gateway's `auditor` (or `admin`) role from the
 * gateway's key store (src/gateway/keys.ts: same file, same scrypt hashing).
 *
 * The page shell and its script/style assets are served without a key (they hold no data); the browser
 * app asks for the key once and sends it as `Authorization: Bearer` on every API call.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KeyStore } from '../../gateway/index.js';

/** The policy of every answer. vega's expressions run through vega-interpreter, so no 'unsafe-eval'. */
export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "worker-src 'self' blob:",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

/** Roles whose keys may read the dashboard. */
export const DASHBOARD_ROLES = ['auditor', 'admin'];

export interface SecurityOptions {
  /** Key store; when set, every request that is not a public asset needs an auditor/admin key. */
  keys: KeyStore | null;
  /** Paths served without a key: the page shell and its assets (no data in them). */
  isPublic: (url: string) => boolean;
  /** Extra CSP sources (h-demo's in-browser model may need 'wasm-unsafe-eval'). */
  scriptExtra?: string[];
}

function deny(reply: FastifyReply, status: 401 | 403 | 405 | 429, message: string) {
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="medshield-dashboard"');
  return reply.code(status).send({
    statusCode: status,
    error:
      status === 401
        ? 'Unauthorized'
        : status === 403
          ? 'Forbidden'
          : status === 405
            ? 'Method Not Allowed'
            : 'Too Many Requests',
    message,
  });
}

async function securityPlugin(app: FastifyInstance, opts: SecurityOptions): Promise<void> {
  const csp = opts.scriptExtra?.length
    ? CSP.replace("script-src 'self'", `script-src 'self' ${opts.scriptExtra.join(' ')}`)
    : CSP;
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    reply.header('content-security-policy', csp);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cross-origin-opener-policy', 'same-origin');
    reply.header('cross-origin-resource-policy', 'same-origin');
    reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=()');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply.header('allow', 'GET, HEAD');
      return deny(reply, 405, 'the dashboard is read-only');
    }
    if (!opts.keys || opts.isPublic(req.url.split('?')[0])) return;
    const h = req.headers.authorization;
    const presented = h && /^Bearer\s+/i.test(h) ? h.replace(/^Bearer\s+/i, '').trim() : undefined;
    const r = await opts.keys.check(presented);
    if (!r.ok && r.busy) {
      reply.header('retry-after', '1');
      return deny(reply, 429, 'too many key checks in progress; retry after 1 s');
    }
    if (!r.ok) return deny(reply, 401, 'authentication failed: send an auditor API key as Authorization: Bearer <key>');
    if (!DASHBOARD_ROLES.includes(r.role))
      return deny(reply, 403, `role '${r.role}' may not read the dashboard (needs auditor or admin)`);
  });
  app.addHook('onSend', async (req, reply, payload) => {
    if (req.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
    return payload;
  });
}

export default fp(securityPlugin, { name: 'medshield-dashboard-security', fastify: '5.x' });
