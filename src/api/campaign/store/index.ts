/**
 * Open a campaign store by URL: `postgres://…`, `sqlite:/path.db` or a path; none → `<spec>.campaign.db` next to the
 * spec.
 */
import path from 'node:path';
import { badArgument } from '../../../errors.js';
import type { CampaignStore } from './types.js';

export * from './types.js';

/** The SQLite file used when no --store is given: next to the spec, named after it. */
export function defaultStorePath(specPath: string): string {
  const p = path.resolve(specPath);
  return path.join(path.dirname(p), `${path.basename(p).replace(/\.(ya?ml|json)$/i, '')}.campaign.db`);
}

export async function openStore(url?: string, specPath?: string): Promise<CampaignStore> {
  if (url === undefined || url === '') {
    if (!specPath)
      throw badArgument('no campaign store given: pass --store URL (sqlite:/path.db, a file path or postgres://…)');
    url = defaultStorePath(specPath);
  }
  if (/^postgres(ql)?:\/\//i.test(url)) {
    const { openPostgresStore } = await import('./postgres.js');
    return openPostgresStore(url);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url))
    throw badArgument(
      `unsupported campaign store '${url.split('://')[0]}://' (use sqlite:/path.db, a file path or postgres://…)`,
    );
  const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (!file) throw badArgument('sqlite: needs a file path, e.g. sqlite:/data/campaigns.db');
  const { openSqliteStore } = await import('./sqlite.js');
  return openSqliteStore(file);
}
