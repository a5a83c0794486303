/**
 * Authentication and authorization. Callers send `Authorization: Bearer msk_<id>_<secret>`; the key
 * is checked against its scrypt hash (keys.ts) and its role against the route's `config.roles`.
 * With mTLS (tls.clientCa), the TLS layer asks for a client certificate; when tls.requireClientCert is
 * set, a missing or untrusted certificate is refused here (401) so the refusal is audited.
 * Runs in onRequest: a refused caller's body is never read.
 *
 * Hardening (issue 20, item 7): every refused key gets the same 401 message (AUTH_FAILED) whatever the cause —
 * missing, malformed, unknown, wrong or revoked; the cause goes only to the audit record. Refusals are answered no
 * sooner than a floor above one scrypt check (so unknown and revoked ids, which are never hashed, do not answer
 * faster than wrong secrets). An address with more than rateLimit.authFailures.max failures in its window gets 429
 * before anything is hashed.
 */
import fp from 'fastify-plugin';
import { addStage } from '../timing.js';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayContext } from '../context.js';
import { settled } from '../lifecycle.js';

/** The one message every refused API key gets. */
export const AUTH_FAILED = 'authentication failed: send a valid API key as Authorization: Bearer <key>';
/** … and every refused client certificate. */
export const CERT_FAILED = 'authentication failed: a client certificate from the trusted client CA is required';
/** Least time a 401 for a key takes (ms), raised to twice the smoothed scrypt time when that is longer. */
export const AUTH_FAILURE_FLOOR_MS = 100;

function deny(
  req: FastifyRequest,
  reply: FastifyReply,
  status: 401 | 403 | 429,
  reason: string,
  userId: string | null,
  message = reason,
) {
  req.auditCtx.reason = reason;
  req.auditCtx.userId = userId;
  if (status === 401) reply.header('www-authenticate', 'Bearer realm="medshield"');
  return reply.code(status).send({
    statusCode: status,
    error: status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Too Many Requests',
    message,
    requestId: req.id,
  });
}

/** Failed authentications per client address in fixed windows (bounded: the oldest addresses are dropped). */
export class FailureCounter {
  private m = new Map<string, { n: number; start: number }>();
  constructor(
    private max: number,
    private windowMs: number,
    private size = 10000,
  ) {}
  blocked(addr: string, now = Date.now()): number {
    const e = this.m.get(addr);
    if (!e || now - e.start >= this.windowMs) return 0;
    return e.n >= this.max ? Math.ceil((e.start + this.windowMs - now) / 1000) : 0;
  }
  fail(addr: string, now = Date.now()): void {
    let e = this.m.get(addr);
    if (!e || now - e.start >= this.windowMs) {
      this.m.delete(addr);
      e = { n: 0, start: now };
    }
    e.n++;
    this.m.set(addr, e);
    while (this.m.size > this.size) this.m.delete(this.m.keys().next().value!);
  }
}

function clientCertificate(req: FastifyRequest): { ok: boolean; subject: string | null; reason: string } {
  const sock = req.raw.socket as TLSSocket;
  if (typeof sock.getPeerCertificate !== 'function') return { ok: false, subject: null, reason: 'no TLS connection' };
  const cert = sock.getPeerCertificate();
  const subject = cert?.subject
    ? Object.entries(cert.subject)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')
    : null;
  if (!subject) return { ok: false, subject: null, reason: 'no client certificate' };
  if (!sock.authorized)
    return { ok: false, subject, reason: `client certificate not trusted (${sock.authorizationError})` };
  return { ok: true, subject, reason: 'ok' };
}

async function authPlugin(app: FastifyInstance, opts: { ctx: GatewayContext }): Promise<void> {
  const { keys, config } = opts.ctx;
  const fl = config.rateLimit.authFailures;
  const failures = new FailureCounter(fl.max, fl.windowMs);
  const refuse = async (req: FastifyRequest, reply: FastifyReply, t0: number, reason: string, id: string | null) => {
    failures.fail(req.auditCtx.sourceAddress ?? '?');
    const floor = Math.max(AUTH_FAILURE_FLOOR_MS, 2 * keys.scryptMs) + Math.random() * 10;
    const wait = floor - (performance.now() - t0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (settled(req, reply)) return;
    return deny(req, reply, 401, reason, id, AUTH_FAILED);
  };
  app.addHook('onRequest', async (req, reply) => {
    const roles = req.routeOptions.config?.roles;
    if (!roles) return;
    const t0 = performance.now();
    const addr = req.auditCtx.sourceAddress ?? '?';
    const retry = failures.blocked(addr);
    if (retry) {
      reply.header('retry-after', String(retry));
      return deny(
        req,
        reply,
        429,
        `too many failed authentications from ${addr} (${fl.max} per ${fl.windowMs} ms); nothing checked`,
        null,
        `too many failed authentications from this address; retry after ${retry} s`,
      );
    }
    let clientCert: string | null = null;
    if (config.tls.clientCa) {
      const c = clientCertificate(req);
      if (!c.ok && config.tls.requireClientCert) {
        failures.fail(addr);
        return deny(req, reply, 401, c.reason, null, CERT_FAILED);
      }
      clientCert = c.ok ? c.subject : null;
    }
    const h = req.headers.authorization;
    const presented = h && /^Bearer\s+/i.test(h) ? h.replace(/^Bearer\s+/i, '').trim() : undefined;
    if (h && presented === undefined) return refuse(req, reply, t0, 'Authorization header is not a Bearer token', null);
    const r = await keys.check(presented);
    if (!r.ok && r.busy) {
      if (settled(req, reply)) return;
      reply.header('retry-after', '1');
      return deny(req, reply, 429, r.reason, r.id, 'too many key checks in progress; retry after 1 s');
    }
    if (!r.ok) return refuse(req, reply, t0, r.reason, r.id);
    if (!roles.includes(r.role))
      return deny(
        req,
        reply,
        403,
        `role '${r.role}' may not call ${req.method} ${req.routeOptions.url} (needs ${roles.join(' or ')})`,
        r.id,
      );
    req.caller = { id: r.id, role: r.role, clientCert };
    addStage(req, 'auth', performance.now() - t0);
  });
}

export default fp(authPlugin, { name: 'medshield-auth', fastify: '5.x', dependencies: ['medshield-audit'] });
