/**
 * The shape shared by the `medshield campaign` sub-commands: a spec file or a campaign id as the argument,
 * the common flags, `--store URL` (all but plan), and `--seed` overriding the spec's seed only when given.
 */
import type { Command } from 'commander';
import { withCommon, type CommonOptions } from './run.js';
import { addFlags, type FlagTable } from './flags.js';
import * as C from '../api/campaign/index.js';

export type CampaignCli = CommonOptions & {
  store?: string;
  queue?: string;
  maxJobs?: number;
  out?: string;
  format?: 'json' | 'csv';
};
type Job<T> = (store: C.CampaignStore, id: string) => Promise<T>;

const STORE_HELP =
  'results store: sqlite:/path.db, a file path, or postgres://… (default: <spec>.campaign.db next to the spec)';
const ARGS: Record<string, string> = {
  '<spec>': 'campaign spec (.yaml or .json)',
  '<id|spec>': 'campaign id (with --store) or its spec file',
};
/** A sub-command: its argument (a spec, or an id or spec), the common flags, --store (not plan), `flags`. */
export function sub(
  camp: Command,
  name: string,
  what: string,
  arg?: string,
  flags: FlagTable = {},
  json?: boolean,
): Command {
  const c = camp.command(name).description(what);
  if (arg) c.argument(arg, ARGS[arg]!);
  withCommon(c, json === undefined ? {} : { json });
  return addFlags(c, name === 'plan' ? {} : { '--store <url>': STORE_HELP }, flags);
}
/** --seed overrides the spec's seed only when given on the command line. */
export const seedOf = (cmd: Command): { seed?: number } =>
  cmd.getOptionValueSource('seed') === 'cli' ? { seed: (cmd.opts() as CommonOptions).seed } : {};
/** `fn` on the stored campaign of an id or a spec file. */
export const stored = <T>(ref: string, o: CampaignCli, cmd: Command, fn: Job<T>): Promise<T> =>
  C.withCampaign(ref, { store: o.store, ...seedOf(cmd) }, fn);
