/** View 1, models: every model of `models/` and of the store's campaigns ('/models'). */
import type { FastifyInstance } from 'fastify';
import type { DashboardContext } from '../context.js';
import { page } from '../pages.js';

export default async function modelsRoutes(app: FastifyInstance, opts: { ctx: DashboardContext }): Promise<void> {
  page(app, opts.ctx, '/models');
  app.get('/api/models', { schema: { summary: 'Models', tags: ['models'] } }, async () => []);
}
