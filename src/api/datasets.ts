/**
 * Dataset verbs of the library API: the MedMNIST catalogue with what is cached locally, and downloads
 * (md5-checked, from the official record) into the cache.
 */
import { MEDMNIST, SIZES, downloadUrl } from '../data/medmnist.js';
import { localSizes, resolveDatasetFile, parseDatasetName } from '../data/dataset.js';
import { badArgument } from '../errors.js';

export interface DatasetRow {
  name: string;
  task: string;
  classes: string[];
  numClasses: number;
  channels: number;
  sizes: number[];
  available: boolean;
  availableSizes: number[];
  samples: { train: number; val: number; test: number };
  license: string;
}

/** Every MedMNIST 2D set: task, classes, and which sizes are in the cache (`dataDir` or MEDSHIELD_DATA). */
export function listDatasets(spec: { dataDir?: string } = {}): DatasetRow[] {
  return Object.values(MEDMNIST).map((d) => {
    const local = localSizes(d.name, spec.dataDir);
    return {
      name: d.name,
      task: d.task,
      classes: d.classes,
      numClasses: d.classes.length,
      channels: d.channels,
      sizes: [...SIZES],
      available: local.length > 0,
      availableSizes: local,
      samples: d.samples,
      license: d.license,
    };
  });
}

/** Download one MedMNIST file (`dermamnist` or `dermamnist_64`) into the cache; returns its path and source. */
export async function downloadDataset(
  name: string,
  opts: { dataDir?: string; onProgress?: (done: number, total: number | null) => void } = {},
): Promise<{ name: string; path: string; url: string }> {
  const parsed = parseDatasetName(name);
  if (!parsed) throw badArgument(`unknown dataset '${name}' (see 'medshield datasets list')`);
  const r = await resolveDatasetFile(name, {
    dataDir: opts.dataDir,
    download: true,
    cacheOnly: true,
    onProgress: opts.onProgress,
  });
  return { name, path: r.path, url: downloadUrl(parsed.name, parsed.size) };
}
