/**
 * Audit plugin: every call of a /v1 route leaves one record (record.ts fields), written durably in
 * `onSend`, i.e. BEFORE the response leaves the server. If the log cannot be written the caller gets
 * 503 instead of the answer (fail closed), so no response exists without its record.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OUTCOME, type AuditEvent } from '../audit/record.js';
import type { GatewayContext } from '../context.js';
import { verdictText } from '../input-defences.js';

function shouldAudit(req: FastifyRequest): boolean {
  const flag = req.routeOptions.config?.audit;
  if (flag !== undefined) return flag;
  return req.url.startsWith('/v1/');
}

function defaultEvent(status: number): { event: AuditEvent; outcome: number } {
  if (status === 401 || status === 403) return { event: 'UserAuthentication', outcome: OUTCOME.minorFailure };
  if (status === 422 || status === 429) return { event: 'SecurityAlert', outcome: OUTCOME.seriousFailure };
  if (status >= 500) return { event: 'DICOMInstancesAccessed', outcome: OUTCOME.majorFailure };
  if (status >= 400) return { event: 'DICOMInstancesAccessed', outcome: OUTCOME.minorFailure };
  return { event: 'DICOMInstancesAccessed', outcome: OUTCOME.success };
}

export async function writeRequestRecord(ctx: GatewayContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const a = req.auditCtx;
  const d = defaultEvent(reply.statusCode);
  const event = a.event ?? d.event;
  const det = a.detectors ?? [];
  const flags = [...a.flags, ...det.filter((v) => v.triggered).map((v) => `detector-${v.action}:${v.detector}`)];
  const reason = [a.reason, det.length ? `input detectors: ${verdictText(det)}` : null].filter((x) => x).join('; ') || null;
  await ctx.audit.append({
    event, outcome: a.outcome ?? d.outcome, action: event === 'Query' ? 'R' : 'E',
    requestId: req.id, userId: req.caller?.id ?? a.userId ?? null, role: req.caller?.role ?? null, sourceAddress: req.ip,
    route: `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`, status: reply.statusCode,
    sopInstanceUid: a.check?.sopInstanceUid ?? null, imageSha256: a.check?.sha256 ?? null, signer: a.check?.signer ?? null,
    modelId: event === 'DICOMInstancesAccessed' ? ctx.modelId : null, modelVersion: event === 'DICOMInstancesAccessed' ? ctx.modelVersion : null,
    decision: a.decision ?? null, flags: flags.join(','), reason,
  });
  ctx.metrics.auditRecords.inc({ event });
  ctx.metrics.auditHead.set(ctx.audit.headSeq);
}

async function auditPlugin(app: FastifyInstance, opts: { ctx: GatewayContext }): Promise<void> {
  app.decorateRequest('caller', null);
  app.decorateRequest('auditCtx', null as never);
  app.addHook('onRequest', async (req) => { req.auditCtx = { flags: [] }; });
  app.addHook('onSend', async (req, reply, payload) => {
    if (!shouldAudit(req)) return payload;
    try {
      await writeRequestRecord(opts.ctx, req, reply);
      return payload;
    } catch (e) {
      req.log.error({ err: { message: (e as Error).message } }, 'audit write failed; answering 503');
      reply.code(503).header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify({ statusCode: 503, error: 'Service Unavailable', message: 'audit log unavailable: request refused', requestId: req.id });
    }
  });
}

export default fp(auditPlugin, { name: 'medshield-audit', fastify: '5.x' });
