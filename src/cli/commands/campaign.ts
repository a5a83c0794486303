/**
 * `medshield campaign plan|run|status|report|export|list` (issue 22): a campaign spec (YAML/JSON) of
 * models × attacks × ε × detectors, run in process (or on a BullMQ queue with --queue) with every job's
 * result in a store (SQLite next to the spec by default, or --store postgres://…). Re-running resumes.
 * The work lives in src/api/campaign (run.ts); this file parses, calls and prints (docs/campaigns.md).
 */
import { writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { progress } from '../progress.js';
import * as C from '../../api/campaign/index.js';

type Cli = CommonOptions & { store?: string; queue?: string; maxJobs?: number; out?: string; format?: 'json' | 'csv' };

/** --seed overrides the spec's seed only when given on the command line. */
const seedOf = (cmd: Command): { seed?: number } =>
  cmd.getOptionValueSource('seed') === 'cli' ? { seed: (cmd.opts() as CommonOptions).seed } : {};
const STORE_HELP =
  'results store: sqlite:/path.db, a file path, or postgres://… (default: <spec>.campaign.db next to the spec)';
const sub = (camp: Command, name: string, what: string, arg?: string, json?: { json: boolean }): Command => {
  const c = camp.command(name).description(what);
  const argHelp = arg === '<spec>' ? 'campaign spec (.yaml or .json)' : 'campaign id (with --store) or its spec file';
  if (arg) c.argument(arg, argHelp);
  return name === 'plan' ? withCommon(c, json) : withCommon(c, json).option('--store <url>', STORE_HELP);
};
const print = (s: C.CampaignStatus, json?: boolean): void =>
  json ? printJson(s) : void process.stdout.write(C.statusText(s));

export default function register(program: Command): void {
  const camp = program
    .command('campaign')
    .description(
      'campaigns: models × attacks × ε × defences × detectors × scorecard rows as jobs, ' +
        'with a results store and resume',
    );
  sub(camp, 'plan', 'expand a spec into jobs and estimate the cost', '<spec>').action(
    action(async (file: string, o: Cli, cmd: Command) => {
      const s = await C.loadCampaign(file, seedOf(cmd));
      await startEngine(o);
      const out = await C.planSummary(s);
      if (o.json) printJson(out);
      else process.stdout.write(C.planText(out, s.shardSize));
    }),
  );
  sub(camp, 'run', 'run a campaign (resumes: only jobs without a stored result run)', '<spec>')
    .option(
      '--queue <url>',
      'enqueue the jobs on a BullMQ queue (redis://…) for `medshield worker`s instead of running them here',
    )
    .option('--max-jobs <n>', 'run at most N jobs, then stop (resume later)', parseIntArg('--max-jobs', 1, 1e9))
    .action(
      action(async (file: string, o: Cli, cmd: Command) => {
        const s = await C.loadCampaign(file, seedOf(cmd));
        const store = await C.openStore(o.store, file);
        const ac = new AbortController();
        const stop = (): void => ac.abort();
        try {
          if (!o.queue) {
            await startEngine(o);
            process.once('SIGINT', stop);
          }
          const run = { store, queue: o.queue, maxJobs: o.maxJobs, signal: ac.signal, progress };
          const status = await C.runCampaign(s, run);
          print(status, o.json);
          if (status.status === 'failed') process.exitCode = 1;
        } finally {
          process.off('SIGINT', stop);
          await store.close();
        }
      }),
    );
  sub(camp, 'status', 'status and results of a campaign, from the store', '<id|spec>').action(
    action(async (ref: string, o: Cli, cmd: Command) =>
      print(await C.withCampaign(ref, { store: o.store, ...seedOf(cmd) }, C.campaignStatus), o.json),
    ),
  );
  sub(camp, 'list', 'campaigns in a store', undefined, { json: true }).action(
    action(async (o: Cli) => {
      const l = await C.withStore(o.store, C.listCampaigns);
      if (o.json) printJson(l);
      else process.stdout.write(C.campaignListText(l));
    }),
  );
  sub(camp, 'report', 'self-contained HTML report of a campaign, from the store', '<id|spec>', { json: false })
    .requiredOption('--out <file.html>', 'HTML file to write')
    .action(
      action(async (ref: string, o: Cli, cmd: Command) => {
        const write = (st: C.CampaignStore, id: string): Promise<void> => C.writeCampaignReport(st, id, o.out!);
        await C.withCampaign(ref, { store: o.store, ...seedOf(cmd) }, write);
        process.stderr.write(`report: ${o.out}\n`);
      }),
    );
  const what = 'results of a campaign as JSON (the status object) or CSV (one line per job result)';
  sub(camp, 'export', what, '<id|spec>', { json: false })
    .addOption(new Option('--format <fmt>', 'output format').choices(['json', 'csv']).default('json'))
    .option('--out <file>', 'write to FILE instead of stdout')
    .action(
      action(async (ref: string, o: Cli, cmd: Command) => {
        const text = await C.withCampaign(ref, { store: o.store, ...seedOf(cmd) }, (st, id) =>
          C.exportCampaign(st, id, o.format),
        );
        if (o.out) writeFileSync(o.out, text);
        else process.stdout.write(text);
      }),
    );
}
