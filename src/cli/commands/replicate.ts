/**
 * `medshield replicate finlayson|ma|amit`: the seed papers' settings on MedMNIST, each result beside the
 * paper's headline, with an HTML report (src/api/replicate.ts). `--quick` trains small models briefly
 * and attacks a seeded sample of test images so a run fits in minutes on 2 cores.
 */
import type { Command } from 'commander';
import { action, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { replicate, checkReplicateSpec, formatReplication, type ReplicateSpec } from '../../api/replicate.js';
import { commaList } from '../../api/common-b.js';
import { activity, type Activity } from '../progress.js';

interface ReplicateCli extends CommonOptions {
  detectors?: boolean;
  eps?: string;
  defences?: string;
  blackbox?: boolean;
  surrogate?: string;
  quick?: boolean;
  dataset: string;
  models: string;
  limit?: number;
  work?: string;
  report?: string;
  dataDir?: string;
}

export default function register(program: Command): void {
  withCommon(
    program
      .command('replicate')
      .description(
        "replicate the seed papers' results on MedMNIST: finlayson | ma " +
          '(white-box, black-box) | amit (adaptive attacks vs every defence)',
      )
      .argument('<paper>', 'finlayson, ma or amit'),
  )
    .option('--quick', 'small models, short training, a seeded sample of test images (minutes on 2 cores)')
    .option(
      '--blackbox',
      'finlayson: transfer PGD from an independently trained surrogate, ' +
        'and adversarial patches (white-box, black-box, natural)',
    )
    .option(
      '--detectors',
      'ma: fit kd_bu, lid, mahalanobis and deepfeature_rf on PGD and print the ' +
        "detection AUC per test attack beside the paper's > 98 % (only this part of ma)",
    )
    .option(
      '--surrogate <dir>',
      '--blackbox: the surrogate model (default: the shipped one for PneumoniaMNIST, else trained with seed+1)',
    )
    .option(
      '--dataset <list>',
      'comma-separated MedMNIST names or .npz paths (e.g. a DermaMNIST file)',
      'pneumoniamnist,retinamnist',
    )
    .option('--models <list>', 'architectures to attack', 'cnn,resnet18')
    .option(
      '--limit <n>',
      'test images per dataset (default: 64 with --quick — 100 for ma --detectors — else all)',
      parseIntArg('--limit', 1, 1e9),
    )
    .option('--work <dir>', 'where trained models are cached')
    .option('--eps <eps>', 'amit: L∞ budget of the scorecard (default 8/255)')
    .option(
      '--defences <list>',
      'amit: defences and detectors (default: adversarial-training, jpeg, ' +
        'squeeze, kd_bu, lid, mahalanobis, deepfeature_rf, magnet, smoothing)',
    )
    .option('--report <file>', 'HTML report (default replicate-<paper>.html)')
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .action(
      action(async (paper: string, o: ReplicateCli, cmd: Command) => {
        const spec: ReplicateSpec = {
          paper: paper as ReplicateSpec['paper'],
          quick: !!o.quick,
          seed: o.seed,
          datasets: commaList(o.dataset),
          // --blackbox attacks resnet18 unless --models is given
          models:
            o.blackbox && cmd.getOptionValueSource('models') !== 'cli'
              ? undefined
              : (commaList(o.models) as ReplicateSpec['models']),
          limit: o.limit,
          work: o.work,
          report: o.report,
          dataDir: o.dataDir,
          blackbox: o.blackbox,
          surrogate: o.surrogate,
          detectors: o.detectors,
          eps: o.eps,
          defences: o.defences,
          command: ['medshield', ...process.argv.slice(2)].join(' '),
        };
        checkReplicateSpec(spec);
        await startEngine(o);
        let stages: Activity | null = null;
        const r = await replicate(spec, { onProgress: (s) => (stages ??= activity('replicate')).stage(s) });
        if (o.json) return printJson(r.result);
        process.stdout.write(formatReplication(r));
      }),
    );
}
