/**
 * The latency breakdown (src/gateway/timing.ts): measures the body upload, observes every request's stage times
 * in `medshield_gateway_stage_seconds{stage}`, and — with `logging.serverTiming` — sends them to the caller as a
 * `Server-Timing` header. Registered after the audit plugin, so the audit write is inside the header's figures.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../context.js';
import { addStage, nowMs, serverTimingHeader, STAGES } from '../timing.js';

declare module 'fastify' {
  interface FastifyRequest {
    receiveStart?: number;
  }
}

async function timingPlugin(app: FastifyInstance, opts: { ctx: GatewayContext }): Promise<void> {
  const { metrics, config } = opts.ctx;
  app.addHook('preParsing', async (req) => {
    req.receiveStart = nowMs();
  });
  app.addHook('preValidation', async (req) => {
    if (req.receiveStart !== undefined) addStage(req, 'receive', nowMs() - req.receiveStart);
  });
  app.addHook('onSend', async (req, reply, payload) => {
    if (config.logging.serverTiming && req.stageMs)
      reply.header('server-timing', serverTimingHeader(req.stageMs, reply.elapsedTime));
    return payload;
  });
  app.addHook('onResponse', async (req) => {
    const t = req.stageMs;
    if (!t) return;
    for (const s of STAGES) if (t[s] !== undefined) metrics.stages.observe({ stage: s }, t[s]! / 1000);
  });
}

export default fp(timingPlugin, { name: 'medshield-timing', fastify: '5.x', dependencies: ['medshield-audit'] });
