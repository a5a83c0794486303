/**
 * Audit plugin: every call of a /v1 route leaves one record (record.ts fields), written durably in
 * `onSend`, i.e. BEFORE the response leaves the server. If the log cannot be written the caller gets
 * 503 instead of the answer (fail closed), so no response exists without its record. A request whose client
 * disconnects first is recorded when the connection closes (status 499); lifecycle.ts has the rules.
 */
import fp from 'fastify-plugin';
import { addStage, nowMs } from '../timing.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OUTCOME, type AuditEvent } from '../audit/record.js';
import type { GatewayContext } from '../context.js';
import { verdictText } from '../input-defences.js';
import { gate, parsingGate, trackOnSocket } from '../lifecycle.js';
import { redactUrl } from '../redact.js';

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

/**
 * HTTP status recorded for a request whose client closed the connection before the answer was written (nginx's 499).
 */
export const CLIENT_CLOSED = 499;

/**
 * Write this request's record — once: the first call (onSend, or the response's early close) writes it, later calls
 * return at once. `aborted` records the client's disconnect (status 499) whatever answer had been decided.
 */
export async function writeRequestRecord(
  ctx: GatewayContext,
  req: FastifyRequest,
  reply: FastifyReply,
  aborted = false,
): Promise<void> {
  const a = req.auditCtx;
  if (a.recorded) return;
  a.recorded = true;
  const status = aborted ? CLIENT_CLOSED : reply.statusCode;
  const d = defaultEvent(status);
  const event = a.event ?? d.event;
  const det = a.detectors ?? [];
  const flags = [...a.flags, ...det.filter((v) => v.triggered).map((v) => `detector-${v.action}:${v.detector}`)];
  const reason =
    [
      aborted ? 'connection closed before the answer was sent' : null,
      a.reason,
      det.length ? `input detectors: ${verdictText(det)}` : null,
    ]
      .filter((x) => x)
      .join('; ') || null;
  await ctx.audit.append({
    event,
    outcome: a.outcome ?? d.outcome,
    action: event === 'Query' ? 'R' : 'E',
    requestId: req.id,
    userId: req.caller?.id ?? a.userId ?? null,
    role: req.caller?.role ?? null,
    sourceAddress: a.sourceAddress,
    route: `${req.method} ${req.routeOptions.url ?? redactUrl(req.url.split('?')[0])}`,
    status,
    sopInstanceUid: a.check?.sopInstanceUid ?? null,
    imageSha256: a.check?.sha256 ?? null,
    signer: a.check?.signer ?? null,
    modelId: event === 'DICOMInstancesAccessed' ? ctx.modelId : null,
    modelVersion: event === 'DICOMInstancesAccessed' ? ctx.modelVersion : null,
    decision: a.decision ?? null,
    flags: flags.join(','),
    reason,
  });
  ctx.metrics.auditRecords.inc({ event });
  ctx.metrics.auditHead.set(ctx.audit.headSeq);
}

async function auditPlugin(app: FastifyInstance, opts: { ctx: GatewayContext }): Promise<void> {
  const ctx = opts.ctx;
  app.decorateRequest('caller', null);
  app.decorateRequest('auditCtx', null as never);
  app.addHook('onRequest', async (req, reply) => {
    req.auditCtx = { flags: [], sourceAddress: req.ip ?? req.raw.socket?.remoteAddress ?? null };
    trackOnSocket(req);
    if (!shouldAudit(req)) return;
    // The client went away before the answer was written: record it now (the chain stops at the next gate). Both the
    // response's and the socket's close count: a pipelined request whose response waits behind an earlier one has no
    // socket of its own yet, and its response never closes when the connection does.
    const sock = req.raw.socket;
    const onClose = () => {
      sock?.removeListener('close', onClose);
      if (reply.raw.writableFinished || req.auditCtx.recorded) return;
      req.auditCtx.gone = true;
      writeRequestRecord(ctx, req, reply, true).catch((e) =>
        req.log.error({ err: { message: (e as Error).message } }, 'audit write failed'),
      );
    };
    reply.raw.once('close', onClose);
    sock?.setMaxListeners(0);
    sock?.once('close', onClose);
    reply.raw.once('finish', () => sock?.removeListener('close', onClose));
  });
  // Before every other hook of its stage: a request whose answer is decided (or whose client is gone) goes no further.
  app.addHook('preParsing', parsingGate);
  app.addHook('preValidation', gate);
  app.addHook('preHandler', gate);
  app.addHook('onSend', async (req, reply, payload) => {
    if (!shouldAudit(req)) return payload;
    try {
      const t0 = nowMs();
      await writeRequestRecord(ctx, req, reply, !!req.auditCtx.gone || reply.raw.destroyed);
      addStage(req, 'audit', nowMs() - t0);
      return payload;
    } catch (e) {
      req.log.error({ err: { message: (e as Error).message } }, 'audit write failed; answering 503');
      reply.code(503).header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify({
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'audit log unavailable: request refused',
        requestId: req.id,
      });
    }
  });
}

export default fp(auditPlugin, { name: 'medshield-audit', fastify: '5.x' });
