/**
 * The dashboard's views, one Fastify plugin each (pages + the JSON endpoints they read). A new view is a
 * file in this folder plus a line here, and its front-end file in web/dashboard/src/views (plus a line in
 * web/dashboard/src/views/index.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { DashboardContext } from '../context.js';
import modelsRoutes from './models.js';
import campaignsRoutes from './campaigns.js';
import scorecardRoutes from './scorecard.js';
import galleryRoutes from './gallery.js';
import demoRoutes from './demo.js';
import gatewayRoutes from './gateway.js';
import evidenceRoutes from './evidence.js';

export type DashboardRoute = FastifyPluginAsync<{ ctx: DashboardContext }>;

export const routes: DashboardRoute[] = [
  campaignsRoutes, // 2: '/', '/campaigns/:id'
  modelsRoutes, // 1: '/models'
  scorecardRoutes, // 3: '/scorecard/:id'
  galleryRoutes, // 4: '/gallery/:id'
  gatewayRoutes, // 5: '/gateway' (with --gateway-config)
  evidenceRoutes, // 6: '/evidence/:id' (bundle download)
  demoRoutes, // 7: '/demo' (in-browser attack demo)
];
