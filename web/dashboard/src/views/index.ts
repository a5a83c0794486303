/**
 * The views of the browser app: the URL pattern, the page title, an optional navigation label and the
 * component. A new view is a file in this folder plus a line here (and a route plugin on the server,
 * src/dashboard/routes/index.ts).
 */
import type { ComponentType } from 'preact';
import type { Params } from '../router';
import { CampaignsView, CampaignView } from './campaigns';
import { ModelsView } from './models';
import { ScorecardView } from './scorecard';
import { GalleryView } from './gallery';
import { GatewayView } from './gateway';
import { EvidenceView } from './evidence';

export interface View {
  path: string;
  title: (p: Params) => string;
  /** Label in the top navigation (views reached only by links have none). */
  nav?: string;
  component: ComponentType<{ params: Params }>;
}

export const views: View[] = [
  { path: '/', title: () => 'Campaigns', nav: 'Campaigns', component: CampaignsView },
  { path: '/campaigns/:id', title: (p) => `Campaign ${p.id}`, component: CampaignView },
  { path: '/models', title: () => 'Models', nav: 'Models', component: ModelsView },
  { path: '/scorecard/:id', title: (p) => `Scorecard ${p.id}`, component: ScorecardView },
  { path: '/gallery/:id', title: (p) => `Gallery ${p.id}`, component: GalleryView },
  { path: '/gateway', title: () => 'Gateway', nav: 'Gateway', component: GatewayView },
  { path: '/evidence/:id', title: (p) => `Evidence ${p.id}`, component: EvidenceView },
];
