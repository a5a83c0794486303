import type { Command } from 'commander';
import { action, printJson, withCommon, type CommonOptions } from '../run.js';
import { listDatasets, downloadDataset } from '../../api/datasets.js';
import { progress } from '../progress.js';

interface DatasetsOptions extends CommonOptions {
  dataDir?: string;
}

export default function register(program: Command): void {
  const ds = program.command('datasets').description('list and download MedMNIST datasets');
  withCommon(
    ds.command('list').description('list the MedMNIST 2D sets, their task and which sizes are available locally'),
  )
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .action(
      action(async (o: DatasetsOptions) => {
        const rows = listDatasets({ dataDir: o.dataDir });
        if (o.json) return printJson(rows);
        for (const r of rows) {
          process.stdout.write(
            `${r.name.padEnd(15)} ${r.task.padEnd(10)} ${String(r.numClasses).padStart(2)}` +
              ` classes  ${r.channels === 1 ? 'gray' : 'RGB '}  ` +
              `${r.available ? `local: ${r.availableSizes.join(', ')} px` : 'download on first use'}\n`,
          );
        }
      }),
    );
  withCommon(
    ds
      .command('download')
      .description('download MedMNIST files from the official record (md5-checked) into the cache')
      .argument('<names...>', 'names such as dermamnist or dermamnist_64'),
  )
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .action(
      action(async (names: string[], o: DatasetsOptions) => {
        const out = [];
        for (const n of names) {
          const state: { bar: ReturnType<typeof progress> | null } = { bar: null };
          const r = await downloadDataset(n, {
            dataDir: o.dataDir,
            onProgress: (done, total) => {
              if (total) {
                state.bar ??= progress(`download ${n}`, total);
                state.bar.update(done);
              }
            },
          });
          state.bar?.stop();
          out.push(r);
        }
        if (o.json) printJson(out);
        else for (const r of out) process.stdout.write(`${r.name}: ${r.path}\n`);
      }),
    );
}
