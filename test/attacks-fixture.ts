/**
 * Shared fixture for the attack tests: small CNNs trained on real MedMNIST images (PneumoniaMNIST,
 * binary chest X-rays; RetinaMNIST, 5-grade fundus), cached in the OS temp folder so the attack test
 * files (which node runs in parallel) train each model once. A lock directory serialises training.
 */
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadDataset, sampleSplit, type Dataset } from '../src/data/dataset.js';
import { newClassifier, fitClassifier } from '../src/models/factory.js';
import { loadClassifier, saveModel } from '../src/models/io.js';
import type { Classifier } from '../src/models/model.js';
import { selectImages } from '../src/data/images.js';
import type { Images } from '../src/eval/robustness.js';

const CACHE = path.join(tmpdir(), 'medshield-attacks-fixture-v2');

export interface Fixture {
  model: Classifier;
  dir: string;
  data: Dataset;
}

async function trained(
  name: 'pneumoniamnist' | 'retinamnist',
  width: number,
  trainN: number,
  epochs: number,
  seed = 0,
  key: string = name,
): Promise<Fixture> {
  const dir = path.join(CACHE, key);
  const done = path.join(dir, 'model-card.json');
  const lock = path.join(CACHE, `${key}.lock`);
  mkdirSync(CACHE, { recursive: true });
  const data = await loadDataset(name);
  for (;;) {
    if (existsSync(done)) return { model: await loadClassifier(dir), dir, data };
    try {
      mkdirSync(lock);
    } catch {
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 10 * 60_000)
        rmSync(lock, { recursive: true, force: true });
      await sleep(1000);
      continue;
    }
    try {
      const small = { ...data, splits: { ...data.splits, train: sampleSplit(data.splits.train, trainN, seed) } };
      const model = newClassifier('cnn', small, { width, seed });
      await fitClassifier(model, small, { epochs, batchSize: 64, seed });
      await saveModel(model, dir);
      writeFileSync(path.join(CACHE, `${key}.trained`), new Date().toISOString());
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

/** A small CNN (width 8) on 1500 PneumoniaMNIST training images, 2 epochs. */
export const pneumonia = (): Promise<Fixture> => trained('pneumoniamnist', 8, 1500, 2);
/**
 * An independently trained surrogate for `pneumonia()`: width 6, another seed (1) and another 1000-image sample, 2
 * epochs.
 */
export const surrogate = (): Promise<Fixture> => trained('pneumoniamnist', 6, 1000, 2, 1, 'pneumoniamnist-surrogate');
/** A small CNN (width 8) on RetinaMNIST (1080 training images), 3 epochs. */
export const retina = (): Promise<Fixture> => trained('retinamnist', 8, 1080, 3);

/** A seeded sample of n test images. */
export function testImages(f: Fixture, n: number, seed = 1): Images {
  return selectImages(f.data.splits.test, n, seed);
}
