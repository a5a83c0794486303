/**
 * View 1, models ('/models'): every model of `models/` and of the store's campaigns — card, weights, metrics,
 * campaigns.
 */
import type { FastifyInstance } from 'fastify';
import type { DashboardContext } from '../context.js';
import { models } from '../data.js';
import { page } from '../pages.js';
import { MODEL } from '../schemas.js';

export default async function modelsRoutes(app: FastifyInstance, opts: { ctx: DashboardContext }): Promise<void> {
  page(app, opts.ctx, '/models');
  app.get(
    '/api/models',
    {
      schema: {
        summary: "Models: shipped ones and those the store's campaigns used",
        tags: ['models'],
        response: { 200: { type: 'array', items: MODEL } },
      },
    },
    async () => models(opts.ctx.store, opts.ctx.modelsDir),
  );
}
