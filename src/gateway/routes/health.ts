/** GET /healthz — liveness and readiness (model loaded, audit log writable). Not authenticated, not audited. */
import type { FastifyInstance } from 'fastify';
import type { GatewayContext } from '../context.js';
import { VERSION } from '../../version.js';

export default async function healthRoute(app: FastifyInstance, opts: { ctx: GatewayContext }): Promise<void> {
  app.get(
    '/healthz',
    {
      config: { audit: false },
      schema: {
        summary: 'Health check',
        tags: ['operations'],
        response: {
          200: {
            type: 'object',
            properties: {
              status: { type: 'string' },
              version: { type: 'string' },
              model: { type: 'string' },
              auditHeadSeq: { type: 'integer' },
            },
          },
        },
      },
    },
    async () => ({
      status: 'ok',
      version: VERSION,
      model: `${opts.ctx.modelId}@${opts.ctx.modelVersion}`,
      auditHeadSeq: opts.ctx.audit.headSeq,
    }),
  );
}
