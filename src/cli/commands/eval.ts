/** `medshield eval`: a shell over the library's `evaluate` verb (src/api/evaluate.ts). */
import type { Command } from 'commander';
import { action, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addFlags, pick } from '../flags.js';
import * as D from '../data-options.js';
import { evaluate } from '../../api/evaluate.js';
import { note } from '../progress.js';

type EvalCli = CommonOptions & D.DataCli & { model?: string };

export default function register(program: Command): void {
  const cmd = withCommon(
    program.command('eval').description('evaluate a model on a dataset split (MedMNIST ACC and AUC)'),
  );
  const limit = { '--limit <n>; int 1..1e9': 'evaluate only the first N images' };
  addFlags(cmd, D.MODEL_DATA_FLAGS, D.SPLIT_FLAG, limit, D.DATA_DIR_FLAG, D.IMAGE_SET_FLAGS).action(
    action(async (o: EvalCli) => {
      await startEngine(o);
      const data = { ...pick(o, 'dataset split'), head: o.limit, ...pick(o, 'dataDir splitRatios splitSeed skipBad') };
      const r = await evaluate({ model: o.model, data }, { onNote: note });
      if (o.json) return printJson(r.json);
      process.stdout.write(
        `${r.model} on ${r.dataset}/${r.split} (n=${r.n}): accuracy ` +
          `${r.accuracy.toFixed(4)}, AUC ${r.auc.toFixed(4)}\n`,
      );
    }),
  );
}
