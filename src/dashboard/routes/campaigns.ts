/** View 2, campaigns: the list ('/') and a campaign's page ('/campaigns/:id') with live progress. */
import type { FastifyInstance } from 'fastify';
import type { DashboardContext } from '../context.js';
import { page } from '../pages.js';

export default async function campaignsRoutes(app: FastifyInstance, opts: { ctx: DashboardContext }): Promise<void> {
  const { ctx } = opts;
  page(app, ctx, '/');
  page(app, ctx, '/campaigns/:id');
  app.get('/api/campaigns', { schema: { summary: 'Campaigns in the store', tags: ['campaigns'] } }, async () => []);
}
