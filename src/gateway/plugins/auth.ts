/**
 * Authentication and authorization. Callers send `Authorization: Bearer msk_<id>_<secret>`; the key
 * is checked against its scrypt hash (keys.ts) and its role against the route's `config.roles`.
 * With mTLS (tls.clientCa), the TLS layer asks for a client certificate; when tls.requireClientCert is
 * set, a missing or untrusted certificate is refused here (401) so the refusal is audited.
 * Runs in onRequest: a refused caller's body is never read.
 */
import fp from 'fastify-plugin';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayContext } from '../context.js';

function deny(req: FastifyRequest, reply: FastifyReply, status: 401 | 403, reason: string, userId: string | null) {
  req.auditCtx.reason = reason;
  req.auditCtx.userId = userId;
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="medshield"');
  return reply.code(status).send({ statusCode: status, error: status === 401 ? 'Unauthorized' : 'Forbidden', message: reason, requestId: req.id });
}

function clientCertificate(req: FastifyRequest): { ok: boolean; subject: string | null; reason: string } {
  const sock = req.raw.socket as TLSSocket;
  if (typeof sock.getPeerCertificate !== 'function') return { ok: false, subject: null, reason: 'no TLS connection' };
  const cert = sock.getPeerCertificate();
  const subject = cert && cert.subject ? Object.entries(cert.subject).map(([k, v]) => `${k}=${v}`).join(', ') : null;
  if (!subject) return { ok: false, subject: null, reason: 'no client certificate' };
  if (!sock.authorized) return { ok: false, subject, reason: `client certificate not trusted (${sock.authorizationError})` };
  return { ok: true, subject, reason: 'ok' };
}

async function authPlugin(app: FastifyInstance, opts: { ctx: GatewayContext }): Promise<void> {
  const { keys, config } = opts.ctx;
  app.addHook('onRequest', async (req, reply) => {
    const roles = req.routeOptions.config?.roles;
    if (!roles) return;
    let clientCert: string | null = null;
    if (config.tls.clientCa) {
      const c = clientCertificate(req);
      if (!c.ok && config.tls.requireClientCert) return deny(req, reply, 401, c.reason, null);
      clientCert = c.ok ? c.subject : null;
    }
    const h = req.headers.authorization;
    const presented = h && /^Bearer\s+/i.test(h) ? h.replace(/^Bearer\s+/i, '').trim() : undefined;
    if (h && presented === undefined) return deny(req, reply, 401, 'Authorization header is not a Bearer token', null);
    const r = await keys.check(presented);
    if (!r.ok) return deny(req, reply, 401, r.reason, r.id);
    if (!roles.includes(r.role)) return deny(req, reply, 403, `role '${r.role}' may not call ${req.method} ${req.routeOptions.url} (needs ${roles.join(' or ')})`, r.id);
    req.caller = { id: r.id, role: r.role, clientCert };
  });
}

export default fp(authPlugin, { name: 'medshield-auth', fastify: '5.x', dependencies: ['medshield-audit'] });
