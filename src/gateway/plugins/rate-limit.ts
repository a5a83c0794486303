/**
 * Rate limits with @fastify/rate-limit: one limiter per client address (before authentication, so a
 * flood of bad keys cannot burn CPU on scrypt) and one per API key (after authentication).
 * Refusals are 429 with Retry-After, and audited like every /v1 call.
 *
 * @fastify/rate-limit marks a request once any of its limiters ran (a per-registration symbol); the
 * per-key limiter clears that mark so both limits apply to the same request.
 */
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { GatewayContext } from '../context.js';

function onExceeded(what: string) {
  return (req: FastifyRequest, context: { statusCode: number; max: number; after: string }) => {
    const message = `rate limit per ${what} exceeded (${context.max} per window); retry after ${context.after}`;
    if (req.auditCtx) req.auditCtx.reason = message;
    return Object.assign(new Error(message), { statusCode: context.statusCode });
  };
}

function clearRanMark(req: FastifyRequest): void {
  const r = req as unknown as Record<symbol, unknown>;
  for (const s of Object.getOwnPropertySymbols(r)) if (s.description === 'fastify.request.rateLimitRan') r[s] = false;
}

async function ipLimit(app: FastifyInstance, opts: { ctx: GatewayContext }): Promise<void> {
  const rl = opts.ctx.config.rateLimit.perIp;
  await app.register(rateLimit, { global: false });
  const byIp = app.rateLimit({
    max: rl.max,
    timeWindow: rl.windowMs,
    keyGenerator: (req) => `ip:${req.ip}`,
    errorResponseBuilder: onExceeded('client address'),
  });
  app.addHook('onRequest', async (req, reply) => {
    if (!req.routeOptions.config?.roles) return;
    await byIp.call(app, req, reply);
  });
}

async function keyLimit(app: FastifyInstance, opts: { ctx: GatewayContext }): Promise<void> {
  const rl = opts.ctx.config.rateLimit.perKey;
  const byKey = app.rateLimit({
    max: rl.max,
    timeWindow: rl.windowMs,
    keyGenerator: (req) => `key:${req.caller?.id}`,
    errorResponseBuilder: onExceeded('API key'),
  });
  app.addHook('onRequest', async (req, reply) => {
    if (!req.caller) return;
    clearRanMark(req);
    await byKey.call(app, req, reply);
  });
}

export const ipRateLimit = fp(ipLimit, { name: 'medshield-rate-limit-ip', fastify: '5.x' });
export const keyRateLimit = fp(keyLimit, {
  name: 'medshield-rate-limit-key',
  fastify: '5.x',
  dependencies: ['medshield-rate-limit-ip', 'medshield-auth'],
});
