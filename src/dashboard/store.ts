/** Open the campaign results store for the dashboard (src/api/campaign's openStore once it lands). */
import { unsupported } from '../errors.js';
import type { DashboardStore } from './context.js';

export async function openDashboardStore(url: string): Promise<DashboardStore> {
  throw unsupported(`campaign results store '${url}': not available in this build yet`);
}
