/**
 * `medshield campaign plan|run|status|report|export|list` (issue 22; docs/campaigns.md): a campaign spec of
 * models × attacks × ε × detectors run in process or on a BullMQ queue (--queue), every job's result in a store
 * (SQLite next to the spec, or --store postgres://…); re-running resumes. A shell over src/api/campaign.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { abortOnSigint, action, printResult, startEngine } from '../run.js';
import { seedOf, stored, sub, type CampaignCli as Cli } from '../campaign-options.js';
import { progress } from '../progress.js';
import * as C from '../../api/campaign/index.js';

const RUN_FLAGS = {
  '--queue <url>':
    'enqueue the jobs on a BullMQ queue (redis://…) for `medshield worker`s instead of running them here',
  '--max-jobs <n>; int 1..1e9': 'run at most N jobs, then stop (resume later)',
};
const EXPORT_FLAGS = {
  '--format <fmt>; one of json|csv; default json': 'output format',
  '--out <file>': 'write to FILE instead of stdout',
};

export default function register(program: Command): void {
  const about =
    'campaigns: models × attacks × ε × defences × detectors × scorecard rows as jobs, ' +
    'with a results store and resume';
  const camp = program.command('campaign').description(about);
  sub(camp, 'plan', 'expand a spec into jobs and estimate the cost', '<spec>').action(
    action(async (file: string, o: Cli, cmd: Command) => {
      const s = await C.loadCampaign(file, seedOf(cmd));
      await startEngine(o);
      printResult(o.json, await C.planSummary(s), (out) => C.planText(out, s.shardSize));
    }),
  );
  const run = sub(camp, 'run', 'run a campaign (resumes: only jobs without a stored result run)', '<spec>', RUN_FLAGS);
  run.action(
    action(async (file: string, o: Cli, cmd: Command) => {
      const s = await C.loadCampaign(file, seedOf(cmd));
      const opts = { queue: o.queue, maxJobs: o.maxJobs, progress };
      const go = async (store: C.CampaignStore): Promise<C.CampaignStatus> => {
        if (!o.queue) await startEngine(o);
        return abortOnSigint(!o.queue, (signal) => C.runCampaign(s, { ...opts, store, signal }));
      };
      const status = await C.withStore(o.store, go, file);
      printResult(o.json, status, C.statusText);
      if (status.status === 'failed') process.exitCode = 1;
    }),
  );
  sub(camp, 'status', 'status and results of a campaign, from the store', '<id|spec>').action(
    action(async (ref: string, o: Cli, cmd: Command) =>
      printResult(o.json, await stored(ref, o, cmd, C.campaignStatus), C.statusText),
    ),
  );
  sub(camp, 'list', 'campaigns in a store', undefined, {}, true).action(
    action(async (o: Cli) => printResult(o.json, await C.withStore(o.store, C.listCampaigns), C.campaignListText)),
  );
  const html = { '--out <file.html>; required': 'HTML file to write' };
  sub(camp, 'report', 'self-contained HTML report of a campaign, from the store', '<id|spec>', html, false).action(
    action(async (ref: string, o: Cli, cmd: Command) => {
      await stored(ref, o, cmd, (st, id) => C.writeCampaignReport(st, id, o.out!));
      process.stderr.write(`report: ${o.out}\n`);
    }),
  );
  const what = 'results of a campaign as JSON (the status object) or CSV (one line per job result)';
  sub(camp, 'export', what, '<id|spec>', EXPORT_FLAGS, false).action(
    action(async (ref: string, o: Cli, cmd: Command) => {
      const text = await stored(ref, o, cmd, (st, id) => C.exportCampaign(st, id, o.format));
      if (o.out) writeFileSync(o.out, text);
      else process.stdout.write(text);
    }),
  );
}
