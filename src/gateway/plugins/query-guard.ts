/**
 * Query-attack guard: decodes the (already verified) image into the model input, feeds it to the
 * per-caller detector (query-detector.ts, Blacklight) and applies the configured action to callers
 * under attack — `flag` (the answer carries the flag `query-attack-suspected`), `slow` (each answer is
 * delayed by slowMs) or `block` (429 for blockSeconds). The moment a caller is first detected, and every
 * refusal, is audited as a SecurityAlert.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { OUTCOME } from '../audit/record.js';
import { oneLine } from '../../errors.js';
import { modelInput } from '../inference.js';
import type { GatewayContext } from '../context.js';

export const ATTACK_FLAG = 'query-attack-suspected';

async function queryGuardPlugin(app: FastifyInstance, opts: { ctx: GatewayContext }): Promise<void> {
  const ctx = opts.ctx;
  const qd = ctx.config.queryDetection;
  app.decorateRequest('modelInput', null);
  app.addHook('preHandler', async (req, reply) => {
    if (!req.routeOptions.config?.image || reply.sent) return;
    const caller = req.caller?.id ?? `ip:${req.ip}`;
    const until = ctx.blocked.get(caller);
    if (until !== undefined) {
      if (Date.now() < until) {
        req.auditCtx.event = 'SecurityAlert';
        req.auditCtx.flags.push(ATTACK_FLAG);
        req.auditCtx.reason = `caller blocked until ${new Date(until).toISOString()}: query attack suspected`;
        return reply.code(429).header('retry-after', String(Math.ceil((until - Date.now()) / 1000))).send({ statusCode: 429, error: 'Too Many Requests', message: req.auditCtx.reason, requestId: req.id });
      }
      ctx.blocked.delete(caller);
      ctx.detector?.reset(caller);
    }
    try {
      req.modelInput = await modelInput(req.verifiedImage, ctx.model);
    } catch (e) {
      req.auditCtx.reason = `cannot decode image: ${oneLine(e)}`;
      return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: req.auditCtx.reason, requestId: req.id });
    }
    if (!ctx.detector) return;
    const v = ctx.detector.observe(caller, req.modelInput);
    ctx.metrics.queryVerdicts.inc({ verdict: v.underAttack ? 'under-attack' : v.matched ? 'near-duplicate' : 'clean' });
    if (!v.underAttack) return;
    req.auditCtx.flags.push(ATTACK_FLAG);
    if (v.newlyDetected) {
      await ctx.audit.append({
        event: 'SecurityAlert', outcome: OUTCOME.seriousFailure, requestId: req.id, userId: req.caller?.id ?? null, role: req.caller?.role ?? null,
        sourceAddress: req.ip, route: 'query-detector', flags: ATTACK_FLAG, decision: qd.action,
        reason: `query attack suspected after ${v.queries} queries (near-duplicate of an earlier query: ${v.maxShared}/${ctx.detector.opts.topK} hashes shared); action ${qd.action}`,
      });
    }
    if (qd.action === 'block') {
      const until2 = Date.now() + qd.blockSeconds * 1000;
      ctx.blocked.set(caller, until2);
      req.auditCtx.event = 'SecurityAlert';
      req.auditCtx.reason = `caller blocked until ${new Date(until2).toISOString()}: query attack suspected`;
      return reply.code(429).header('retry-after', String(qd.blockSeconds)).send({ statusCode: 429, error: 'Too Many Requests', message: req.auditCtx.reason, requestId: req.id });
    }
    if (qd.action === 'slow' && qd.slowMs > 0) await new Promise((r) => setTimeout(r, qd.slowMs));
  });
}

export default fp(queryGuardPlugin, { name: 'medshield-query-guard', fastify: '5.x', dependencies: ['medshield-signature'] });
