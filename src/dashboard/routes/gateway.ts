/**
 * View 5, the gateway ('/gateway', with `medshield dashboard --gateway-config FILE`): request rate, refusals by
 * reason (unsigned, invalid signature, detector, query attack, ...), query-attack alerts per API key, the audit
 * chain's verification (as `medshield audit verify --config`) and the latest audit records — read-only from the
 * gateway's audit store (src/gateway/audit/summary.ts); no image hash, no SOP Instance UID, no pixel data.
 */
import type { FastifyInstance } from 'fastify';
import type { DashboardContext } from '../context.js';
import { page } from '../pages.js';
import { gatewayOverview, verifyGatewayAudit } from '../../gateway/index.js';

/** Whole-chain verification is cached this long (a large log takes a while to re-hash). */
const VERIFY_TTL_MS = 5000;

export default async function gatewayRoutes(app: FastifyInstance, opts: { ctx: DashboardContext }): Promise<void> {
  const ctx = opts.ctx;
  page(app, ctx, '/gateway');
  let cached: { at: number; value: Promise<unknown> } | null = null;
  app.get(
    '/api/gateway',
    {
      schema: {
        summary:
          'Gateway: request rate, refusals by reason, query-attack ' +
          'alerts per key, audit chain verification, latest records',
        tags: ['operations'],
      },
    },
    async (_req, reply) => {
      if (!ctx.gatewayConfig || !ctx.gatewayConfigPath) {
        return reply.code(404).send({
          statusCode: 404,
          error: 'Not Found',
          message: 'no gateway configured: start the dashboard with --gateway-config FILE',
        });
      }
      const c = ctx.gatewayConfig;
      if (!cached || Date.now() - cached.at > VERIFY_TTL_MS) {
        const value = verifyGatewayAudit(c, ctx.gatewayConfigPath, { live: true }).catch((e: Error) => ({
          valid: false,
          error: e.message,
        }));
        cached = { at: Date.now(), value };
      }
      const [overview, verification] = await Promise.all([gatewayOverview(c), cached.value]);
      return {
        store: c.audit.url.startsWith('postgres') ? 'postgres' : 'sqlite',
        signaturesRequired: c.signature.required,
        overview,
        verification,
      };
    },
  );
}
