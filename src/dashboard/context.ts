/**
 * What every dashboard route plugin receives (`{ ctx }`): the results store (campaign contract), the gateway
 * configuration when `--gateway-config` was given, where the shipped models live and the built front end.
 * Read-only: no route writes to the store, the audit log or the models.
 */
import type { GatewayConfig } from '../gateway/index.js';
import type { CampaignStore } from '../api/campaign/index.js';

/** The campaign results store (src/api/campaign); null when the dashboard runs without one. */
export type DashboardStore = CampaignStore;

export interface DashboardContext {
  /** The results store, or null (views then say there are no campaigns). */
  store: DashboardStore | null;
  /** The store URL as given (shown in the page footer; never a password: postgres URLs are redacted). */
  storeLabel: string | null;
  /** The gateway configuration (--gateway-config) and its path, or null. */
  gatewayConfig: GatewayConfig | null;
  gatewayConfigPath: string | null;
  /** Folder of shipped models (PACKAGE_ROOT/models). */
  modelsDir: string;
  /** Folder of the built front end (dist/dashboard-ui). */
  uiDir: string;
  /** How often live progress (server-sent events) reads the store, ms. */
  pollMs: number;
}
