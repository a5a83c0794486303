/**
 * Query-attack guard: decodes the (already verified) image into the model input, feeds it to the
 * per-caller detector (query-detector.ts, Blacklight) and applies the configured action to callers
 * under attack — `flag` (the answer carries the flag `query-attack-suspected`), `slow` (each answer is
 * delayed by slowMs) or `block` (429 for blockSeconds). The moment a caller is first detected, and every
 * refusal, is audited as a SecurityAlert.
 *
 * Blocks survive restarts: a block is the `query-detector` SecurityAlert record with decision `block` in the audit
 * store, and start-up reloads every block whose blockSeconds have not run out (loadBlocks).
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { OUTCOME } from '../audit/record.js';
import { oneLine } from '../../errors.js';
import { modelInput } from '../inference.js';
import type { GatewayContext } from '../context.js';
import { settled } from '../lifecycle.js';

export const ATTACK_FLAG = 'query-attack-suspected';

/** Route of the detector's own alert records (one per detection; the request keeps its own record). */
export const DETECTOR_ROUTE = 'query-detector';

/** Blocks still running, from the audit store: caller → unblock time (ms). */
export async function loadBlocks(
  ctx: Pick<GatewayContext, 'audit' | 'config'>,
  now = Date.now(),
): Promise<Map<string, number>> {
  const ms = ctx.config.queryDetection.blockSeconds * 1000;
  const out = new Map<string, number>();
  if (ms <= 0) return out;
  for (const r of await ctx.audit.store.blocks(new Date(now - ms).toISOString())) {
    const until = Date.parse(r.time) + ms;
    const caller = r.userId ?? (r.sourceAddress ? `ip:${r.sourceAddress}` : null);
    if (caller && until > now && until > (out.get(caller) ?? 0)) out.set(caller, until);
  }
  return out;
}

async function queryGuardPlugin(app: FastifyInstance, opts: { ctx: GatewayContext }): Promise<void> {
  const ctx = opts.ctx;
  const qd = ctx.config.queryDetection;
  app.decorateRequest('modelInput', null);
  app.addHook('preHandler', async (req, reply) => {
    if (!req.routeOptions.config?.image || settled(req, reply)) return;
    const caller = req.caller?.id ?? `ip:${req.ip}`;
    const until = ctx.blocked.get(caller);
    if (until !== undefined) {
      if (Date.now() < until) {
        req.auditCtx.event = 'SecurityAlert';
        req.auditCtx.flags.push(ATTACK_FLAG);
        req.auditCtx.reason = `caller blocked until ${new Date(until).toISOString()}: query attack suspected`;
        return reply
          .code(429)
          .header('retry-after', String(Math.ceil((until - Date.now()) / 1000)))
          .send({ statusCode: 429, error: 'Too Many Requests', message: req.auditCtx.reason, requestId: req.id });
      }
      ctx.blocked.delete(caller);
      ctx.detector?.reset(caller);
    }
    try {
      const x = await modelInput(req.verifiedImage, ctx.model);
      if (settled(req, reply)) return; // the client left while the image was decoded
      req.modelInput = x;
    } catch (e) {
      if (settled(req, reply)) return;
      req.auditCtx.reason = `cannot decode image: ${oneLine(e)}`;
      return reply
        .code(400)
        .send({ statusCode: 400, error: 'Bad Request', message: req.auditCtx.reason, requestId: req.id });
    }
    if (!ctx.detector) return;
    const v = ctx.detector.observe(caller, req.modelInput);
    ctx.metrics.queryVerdicts.inc({ verdict: v.underAttack ? 'under-attack' : v.matched ? 'near-duplicate' : 'clean' });
    if (!v.underAttack) return;
    req.auditCtx.flags.push(ATTACK_FLAG);
    if (v.newlyDetected) {
      await ctx.audit.append({
        event: 'SecurityAlert',
        outcome: OUTCOME.seriousFailure,
        requestId: req.id,
        userId: req.caller?.id ?? null,
        role: req.caller?.role ?? null,
        sourceAddress: req.auditCtx.sourceAddress,
        route: DETECTOR_ROUTE,
        flags: ATTACK_FLAG,
        decision: qd.action,
        reason:
          `query attack suspected after ${v.queries} queries (near-duplicate of an earlier ` +
          `query: ${v.maxShared}/${ctx.detector.opts.topK} hashes shared); action ${qd.action}`,
      });
    }
    if (qd.action === 'block') {
      const until2 = Date.now() + qd.blockSeconds * 1000;
      ctx.blocked.set(caller, until2);
      req.auditCtx.event = 'SecurityAlert';
      req.auditCtx.reason = `caller blocked until ${new Date(until2).toISOString()}: query attack suspected`;
      return reply
        .code(429)
        .header('retry-after', String(qd.blockSeconds))
        .send({ statusCode: 429, error: 'Too Many Requests', message: req.auditCtx.reason, requestId: req.id });
    }
    if (qd.action === 'slow' && qd.slowMs > 0) await new Promise((r) => setTimeout(r, qd.slowMs));
  });
}

export default fp(queryGuardPlugin, {
  name: 'medshield-query-guard',
  fastify: '5.x',
  dependencies: ['medshield-signature'],
});
