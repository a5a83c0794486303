/** View 3, scorecard: detectors (AUC vs ε, ROC) and defences of a campaign ('/scorecard/:id'). */
import type { FastifyInstance } from 'fastify';
import type { DashboardContext } from '../context.js';
import { page } from '../pages.js';

export default async function scorecardRoutes(app: FastifyInstance, opts: { ctx: DashboardContext }): Promise<void> {
  page(app, opts.ctx, '/scorecard/:id');
}
