import type { Command } from 'commander';
import { action, printJson, withCommon, type CommonOptions } from '../run.js';
import { MEDMNIST, SIZES, downloadUrl } from '../../data/medmnist.js';
import { localSizes, resolveDatasetFile, parseDatasetName } from '../../data/dataset.js';
import { badArgument } from '../../errors.js';
import { progress } from '../progress.js';

interface DatasetsOptions extends CommonOptions { dataDir?: string }

export default function register(program: Command): void {
  const ds = program.command('datasets').description('list and download MedMNIST datasets');
  withCommon(ds.command('list').description('list the MedMNIST 2D sets, their task and which sizes are available locally'))
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .action(action(async (o: DatasetsOptions) => {
      const rows = Object.values(MEDMNIST).map((d) => {
        const local = localSizes(d.name, o.dataDir);
        return { name: d.name, task: d.task, classes: d.classes, numClasses: d.classes.length, channels: d.channels, sizes: [...SIZES], available: local.length > 0, availableSizes: local, samples: d.samples, license: d.license };
      });
      if (o.json) return printJson(rows);
      for (const r of rows) {
        process.stdout.write(`${r.name.padEnd(15)} ${r.task.padEnd(10)} ${String(r.numClasses).padStart(2)} classes  ${r.channels === 1 ? 'gray' : 'RGB '}  ${r.available ? `local: ${r.availableSizes.join(', ')} px` : 'download on first use'}\n`);
      }
    }));
  withCommon(ds.command('download').description('download MedMNIST files from the official record (md5-checked) into the cache').argument('<names...>', 'names such as dermamnist or dermamnist_64'))
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)')
    .action(action(async (names: string[], o: DatasetsOptions) => {
      const out = [];
      for (const n of names) {
        const parsed = parseDatasetName(n);
        if (!parsed) throw badArgument(`unknown dataset '${n}' (see 'medshield datasets list')`);
        const state: { bar: ReturnType<typeof progress> | null } = { bar: null };
        const r = await resolveDatasetFile(n, {
          dataDir: o.dataDir, download: true, cacheOnly: true,
          onProgress: (done, total) => { if (total) { state.bar ??= progress(`download ${n}`, total); state.bar.update(done); } },
        });
        state.bar?.stop();
        out.push({ name: n, path: r.path, url: downloadUrl(parsed.name, parsed.size) });
      }
      if (o.json) printJson(out);
      else for (const r of out) process.stdout.write(`${r.name}: ${r.path}\n`);
    }));
}
