/**
 * `medshield campaign plan|run|status|report|export|list` (issue 22): a campaign spec (YAML/JSON) of
 * models × attacks × ε × detectors, run in process (or on a BullMQ queue with --queue) with every job's
 * result in a store (SQLite next to the spec by default, or --store postgres://…). Re-running resumes.
 * The work lives in src/api/campaign; this file parses, calls and prints (docs/campaigns.md).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { progress, type Progress } from '../progress.js';
import { badArgument, unsupported } from '../../errors.js';
import * as C from '../../api/campaign/index.js';

interface RunCli extends CommonOptions {
  store?: string;
  queue?: string;
  maxJobs?: number;
}
interface IdCli extends CommonOptions {
  store?: string;
  out?: string;
  format?: 'json' | 'csv';
}

/** Load a spec; --seed (when given) overrides the spec's seed. */
async function spec(file: string, cmd: Command): Promise<C.CampaignSpec> {
  const s = await C.loadCampaignSpec(file);
  const o = cmd.opts() as CommonOptions;
  return cmd.getOptionValueSource('seed') === 'cli' ? { ...s, seed: o.seed } : s;
}

/** `ID` with --store, or a spec file (its id and, without --store, its default store). */
async function open(ref: string, o: IdCli, cmd: Command): Promise<{ store: C.CampaignStore; id: string }> {
  if (/\.(ya?ml|json)$/i.test(ref) && existsSync(ref))
    return { store: await C.openStore(o.store, ref), id: C.campaignId(await spec(ref, cmd)) };
  if (!o.store) throw badArgument(`give --store URL for campaign '${ref}' (or pass its spec file instead of the id)`);
  return { store: await C.openStore(o.store), id: ref };
}

const storeOpt = (cmd: Command): Command =>
  cmd.option(
    '--store <url>',
    'results store: sqlite:/path.db, a file path, or postgres://… (default: <spec>.campaign.db next to the spec)',
  );

export default function register(program: Command): void {
  const camp = program
    .command('campaign')
    .description('campaigns: models × attacks × ε × detectors as jobs, with a results store and resume');
  withCommon(
    camp
      .command('plan')
      .description('expand a spec into jobs and estimate the cost')
      .argument('<spec>', 'campaign spec (.yaml or .json)'),
  ).action(
    action(async (file: string, o: CommonOptions, cmd: Command) => {
      const s = await spec(file, cmd);
      await startEngine(o);
      const plan = await C.prepareCampaign(s, { calibrate: true });
      const out = {
        id: plan.id,
        name: plan.name,
        specHash: plan.specHash,
        jobs: plan.jobs.length,
        attackJobs: plan.jobs.filter((j) => j.kind === 'attack').length,
        detectionJobs: plan.jobs.filter((j) => j.kind === 'detect').length,
        sampleSize: plan.sampleSize,
        shards: plan.shards,
        estimate: plan.estimate,
      };
      if (o.json) return printJson(out);
      process.stdout.write(
        `${out.id}: ${out.jobs} jobs (${out.attackJobs} attack shards of ${s.shardSize} images, ${out.detectionJobs} detection), about ${Math.round(out.estimate.seconds)} s on ${out.estimate.backend}\n`,
      );
    }),
  );
  storeOpt(
    withCommon(
      camp
        .command('run')
        .description('run a campaign (resumes: only jobs without a stored result run)')
        .argument('<spec>', 'campaign spec (.yaml or .json)'),
    ),
  )
    .option(
      '--queue <url>',
      'enqueue the jobs on a BullMQ queue (redis://…) for `medshield worker`s instead of running them here',
    )
    .option('--max-jobs <n>', 'run at most N jobs, then stop (resume later)', parseIntArg('--max-jobs', 1, 1e9))
    .action(
      action(async (file: string, o: RunCli, cmd: Command) => {
        const s = await spec(file, cmd);
        const store = await C.openStore(o.store, file);
        try {
          let status: C.CampaignStatus;
          if (o.queue) {
            const file = new URL('../../api/campaign/queue.js', import.meta.url);
            if (!existsSync(file))
              throw unsupported('--queue is not available in this build (run without --queue to run in process)');
            const q = (await import(file.href)) as {
              runCampaignOnQueue: (spec: C.CampaignSpec, o: object) => Promise<C.CampaignStatus>;
            };
            let bar: Progress | null = null;
            try {
              status = await q.runCampaignOnQueue(s, {
                queue: o.queue,
                store,
                json: o.json,
                onProgress: (p: { done: number; total: number; failed?: number }) => {
                  bar ??= progress(`campaign ${C.campaignId(s)} (queue)`, p.total);
                  bar.update(p.done, p.failed ? { failed: p.failed } : undefined);
                },
              });
            } finally {
              (bar as Progress | null)?.stop();
            }
          } else {
            await startEngine(o);
            const plan = await C.prepareCampaign(s);
            // the bar counts this run's jobs (a resumed campaign's earlier jobs would make the ETA too hopeful)
            const done = (await store.doneKeys(plan.id)).size;
            const bar = progress(
              `campaign ${plan.id}${done ? ` (${done} of ${plan.jobs.length} jobs already done)` : ''}`,
              plan.jobs.length - done,
            );
            const ac = new AbortController();
            const stop = (): void => {
              ac.abort();
              bar.log('medshield: stopping after the running job (re-run to resume)');
            };
            process.once('SIGINT', stop);
            try {
              status = await C.runCampaignLocal(s, {
                store,
                plan,
                signal: ac.signal,
                maxJobs: o.maxJobs,
                onProgress: (p) =>
                  bar.update(
                    p.done - done,
                    p.job ? { job: p.job, at: `${Math.round((p.fraction ?? 0) * 100)}%` } : undefined,
                  ),
                onJob: (j, _r, e) => {
                  if (e) bar.log(`medshield: job ${j.key} failed: ${e instanceof Error ? e.message : String(e)}`);
                },
              });
            } finally {
              bar.stop();
              process.off('SIGINT', stop);
            }
          }
          print(status, o.json);
          if (status.status === 'failed') process.exitCode = 1;
        } finally {
          await store.close();
        }
      }),
    );
  storeOpt(
    withCommon(
      camp
        .command('status')
        .description('status and results of a campaign, from the store')
        .argument('<id|spec>', 'campaign id (with --store) or its spec file'),
    ),
  ).action(
    action(async (ref: string, o: IdCli, cmd: Command) => {
      const { store, id } = await open(ref, o, cmd);
      try {
        print(await C.campaignStatus(store, id), o.json);
      } finally {
        await store.close();
      }
    }),
  );
  storeOpt(withCommon(camp.command('list').description('campaigns in a store'), { json: true })).action(
    action(async (o: IdCli) => {
      const store = await C.openStore(
        o.store ??
          (() => {
            throw badArgument('give --store URL');
          })(),
      );
      try {
        const l = await C.listCampaigns(store);
        if (o.json) printJson(l);
        else for (const c of l) process.stdout.write(`${c.id} ${c.status} ${c.shards.done}/${c.shards.total}\n`);
      } finally {
        await store.close();
      }
    }),
  );
  storeOpt(
    withCommon(
      camp
        .command('report')
        .description('self-contained HTML report of a campaign, from the store')
        .argument('<id|spec>', 'campaign id (with --store) or its spec file'),
      { json: false },
    ),
  )
    .requiredOption('--out <file.html>', 'HTML file to write')
    .action(
      action(async (ref: string, o: IdCli, cmd: Command) => {
        const { store, id } = await open(ref, o, cmd);
        try {
          writeFileSync(o.out!, await C.campaignReportHtml(store, id));
          process.stderr.write(`report: ${o.out}\n`);
        } finally {
          await store.close();
        }
      }),
    );
  storeOpt(
    withCommon(
      camp
        .command('export')
        .description('results of a campaign as JSON (the status object) or CSV (one line per job result)')
        .argument('<id|spec>', 'campaign id (with --store) or its spec file'),
      { json: false },
    ),
  )
    .addOption(new Option('--format <fmt>', 'output format').choices(['json', 'csv']).default('json'))
    .option('--out <file>', 'write to FILE instead of stdout')
    .action(
      action(async (ref: string, o: IdCli, cmd: Command) => {
        const { store, id } = await open(ref, o, cmd);
        try {
          const text =
            o.format === 'csv'
              ? await C.campaignCsv(store, id)
              : JSON.stringify(await C.campaignStatus(store, id)) + '\n';
          if (o.out) writeFileSync(o.out, text);
          else process.stdout.write(text);
        } finally {
          await store.close();
        }
      }),
    );
}

function print(s: C.CampaignStatus, json?: boolean): void {
  if (json) printJson(s);
  else process.stdout.write(C.statusText(s));
}
