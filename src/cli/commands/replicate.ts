/**
 * `medshield replicate finlayson|ma|amit`: the seed papers' settings on MedMNIST, each result beside the
 * paper's headline, with an HTML report (src/api/replicate.ts). `--quick` trains small models briefly
 * and attacks a seeded sample of test images so a run fits in minutes on 2 cores.
 */
import type { Command } from 'commander';
import { action, commandLine, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addFlags, pick } from '../flags.js';
import { replicate, checkReplicateSpec, formatReplication, type ReplicateSpec } from '../../api/replicate.js';
import { commaList } from '../../api/common-b.js';
import { activity, type Activity } from '../progress.js';

interface ReplicateCli extends CommonOptions {
  blackbox?: boolean;
  quick?: boolean;
  dataset: string;
  models: string;
}

const FLAGS = {
  '--quick': 'small models, short training, a seeded sample of test images (minutes on 2 cores)',
  '--blackbox':
    'finlayson: transfer PGD from an independently trained surrogate, ' +
    'and adversarial patches (white-box, black-box, natural)',
  '--detectors':
    'ma: fit kd_bu, lid, mahalanobis and deepfeature_rf on PGD and print the ' +
    "detection AUC per test attack beside the paper's > 98 % (only this part of ma)",
  '--surrogate <dir>':
    '--blackbox: the surrogate model (default: the shipped one for PneumoniaMNIST, else trained with seed+1)',
  '--dataset <list>; default pneumoniamnist,retinamnist':
    'comma-separated MedMNIST names or .npz paths (e.g. a DermaMNIST file)',
  '--models <list>; default cnn,resnet18': 'architectures to attack',
  '--limit <n>; int 1..1e9': 'test images per dataset (default: 64 with --quick — 100 for ma --detectors — else all)',
  '--work <dir>': 'where trained models are cached',
  '--eps <eps>': 'amit: L∞ budget of the scorecard (default 8/255)',
  '--defences <list>':
    'amit: defences and detectors (default: adversarial-training, jpeg, ' +
    'squeeze, kd_bu, lid, mahalanobis, deepfeature_rf, magnet, smoothing)',
  '--report <file>': 'HTML report (default replicate-<paper>.html)',
  '--data-dir <dir>': 'dataset cache directory (env MEDSHIELD_DATA)',
};

export default function register(program: Command): void {
  const about =
    "replicate the seed papers' results on MedMNIST: finlayson | ma " +
    '(white-box, black-box) | amit (adaptive attacks vs every defence)';
  const cmd = program.command('replicate').description(about).argument('<paper>', 'finlayson, ma or amit');
  addFlags(withCommon(cmd), FLAGS).action(
    action(async (paper: string, o: ReplicateCli, cmd: Command) => {
      // --blackbox attacks resnet18 unless --models is given
      const models = o.blackbox && cmd.getOptionValueSource('models') !== 'cli' ? undefined : commaList(o.models);
      const spec: ReplicateSpec = {
        paper: paper as ReplicateSpec['paper'],
        quick: !!o.quick,
        seed: o.seed,
        datasets: commaList(o.dataset),
        models: models as ReplicateSpec['models'],
        ...pick(o, 'limit work report dataDir blackbox surrogate detectors eps defences'),
        command: commandLine(),
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
