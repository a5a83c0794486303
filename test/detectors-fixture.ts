/**
 * Fit and held-out pairs for the detector tests: PGD-8/255 examples of the fixture CNN on real
 * PneumoniaMNIST films (successful ones only, Ma et al.'s protocol), noisy copies of the fit images,
 * and the `DetectorFitData` each detector gets (kd_bu and lid also take the noisy copies).
 */
import { selectImages } from '../src/data/images.js';
import { adversarialPairs, noisyCopies, type AdversarialPairs } from '../src/eval/detection.js';
import { getAttack } from '../src/attacks/registry.js';
import type { DetectorFitData } from '../src/detectors/types.js';
import { pneumonia, type Fixture } from './attacks-fixture.js';

export interface DetectorFixture {
  fx: Fixture;
  fit: AdversarialPairs;
  held: AdversarialPairs;
  fitData(name: string): DetectorFitData;
}

export async function detectorFixture(nFit: number, nHeld: number): Promise<DetectorFixture> {
  const fx = await pneumonia();
  const pgd = getAttack('pgd');
  const fit = await adversarialPairs(fx.model, selectImages(fx.data.splits.train, nFit, 3), pgd, 8 / 255, 0);
  const held = await adversarialPairs(fx.model, selectImages(fx.data.splits.test, nHeld, 4), pgd, 8 / 255, 1);
  const noisy = noisyCopies(fit, 0);
  const fitData = (name: string): DetectorFitData => ({
    clean: fit.clean,
    labels: fit.labels,
    adversarial: fit.adversarial,
    advLabels: fit.labels,
    noisy: name === 'kd_bu' || name === 'lid' ? noisy : undefined,
    seed: 0,
  });
  return { fx, fit, held, fitData };
}
