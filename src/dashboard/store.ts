/**
 * Open the campaign results store for the dashboard (src/api/campaign's openStore). The dashboard only reads:
 * a SQLite path that does not exist is an error here, not a new empty file.
 */
import { existsSync } from 'node:fs';
import { openStore } from '../api/campaign/index.js';
import { notFound } from '../errors.js';
import type { DashboardStore } from './context.js';

export async function openDashboardStore(url: string): Promise<DashboardStore> {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
    if (file && !existsSync(file))
      throw notFound(`no results store at '${file}' (fill one with medshield campaign run SPEC --store ${url})`);
  }
  return openStore(url);
}
