/** View 4, gallery: per-sample clean / adversarial / difference images of a campaign ('/gallery/:id'). */
import type { FastifyInstance } from 'fastify';
import type { DashboardContext } from '../context.js';
import { page } from '../pages.js';

export default async function galleryRoutes(app: FastifyInstance, opts: { ctx: DashboardContext }): Promise<void> {
  page(app, opts.ctx, '/gallery/:id');
}
