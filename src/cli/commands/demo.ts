/**
 * `medshield demo`: the main job on the embedded default model and data (src/api/demo.ts): its plan and
 * estimated time first (stderr), progress per stage, then the text report or `--json`.
 */
import type { Command } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { activity, progress, note, type Activity, type Progress } from '../progress.js';
import { demo, formatDemo, formatDemoPlan, DEMO_BUDGET_SECONDS, DEMO_DEFAULT_IMAGES } from '../../api/demo.js';
import { formatDuration as minutes } from '../../api/common-b.js';

export default function register(program: Command): void {
  withCommon(
    program
      .command('demo')
      .description('run the main job on the embedded default model and data (its plan and estimated time first)'),
  )
    .option(
      '--attack-images <n>',
      `test films attacked in the attack stage (default ${DEMO_DEFAULT_IMAGES}, fewer when ` +
        `the calibration says the backend is too slow for ${DEMO_BUDGET_SECONDS / 60} min)`,
      parseIntArg('--attack-images', 1, 100000),
    )
    .option('--full', `attack ${DEMO_DEFAULT_IMAGES} films whatever the estimate`)
    .action(
      action(async (o: CommonOptions & { attackImages?: number; full?: boolean }) => {
        await startEngine(o);
        const spec = { seed: o.seed, attackImages: o.attackImages, full: o.full };
        let bar: Progress | null = null;
        let steps: Activity | null = null;
        const r = await demo(spec, {
          onPlan: (plan, backend) => {
            for (const line of formatDemoPlan(plan, backend, spec)) note(line);
          },
          onStage: (st) => {
            bar?.stop();
            bar = null;
            note(`${st.stage}: ${st.images} films (~${minutes(st.estimatedSeconds)}) …`);
          },
          onStageDone: (st) => {
            bar?.stop();
            bar = null;
            note(`  ${st.stage} done in ${minutes(st.seconds)} (estimated ${minutes(st.estimatedSeconds)})`);
          },
          onProgress: (stage, d, t) => {
            bar ??= progress(stage, t);
            bar.update(Math.round(d));
          },
          onStep: (what) => {
            steps ??= activity('demo');
            steps.stage(what);
          }, // plain lines + the 30-s heartbeat
        });
        (steps as Activity | null)?.stop();
        (bar as Progress | null)?.stop();
        if (o.json) return printJson(r.summary);
        process.stdout.write(formatDemo(r));
      }),
    );
}
