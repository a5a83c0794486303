/**
 * View 3, scorecard ('/scorecard/:id'): the campaign's detectors (AUC vs ε; ROC curves when the store holds
 * per-sample scores), defence rows and scorecard rows (as in the campaign's status object) — what the store has,
 * and "none in this campaign" otherwise.
 */
import type { FastifyInstance } from 'fastify';
import type { DashboardContext } from '../context.js';
import { scorecard } from '../data.js';
import { page } from '../pages.js';
import { ID_PARAMS, SCORECARD } from '../schemas.js';

export default async function scorecardRoutes(app: FastifyInstance, opts: { ctx: DashboardContext }): Promise<void> {
  page(app, opts.ctx, '/scorecard/:id');
  app.get(
    '/api/campaigns/:id/scorecard',
    {
      schema: {
        summary: 'Detectors, defences and scorecard rows of a campaign',
        tags: ['scorecard'],
        params: ID_PARAMS,
        response: { 200: SCORECARD },
      },
    },
    async (req) => scorecard(opts.ctx.store, (req.params as { id: string }).id),
  );
}
