/** Open the campaign results store for the dashboard (src/api/campaign's openStore). */
import { openStore } from '../api/campaign/index.js';
import type { DashboardStore } from './context.js';

export async function openDashboardStore(url: string): Promise<DashboardStore> {
  return openStore(url);
}
