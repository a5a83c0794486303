/**
 * medshield library API. The CLI and the gateway are thin shells over these functions.
 *
 *   import { initEngine, loadDataset, newClassifier, fitClassifier, saveModel, loadModel } from 'medshield';
 */
export { initEngine, engineInfo, tf, Rng, type EngineInfo, type BackendName } from './engine/index.js';
export { MedshieldError, type ErrorCode } from './errors.js';
export { MEDMNIST, SIZES, type DatasetInfo, type Task } from './data/medmnist.js';
export {
  loadDataset,
  batchImages,
  batchLabels,
  labelCounts,
  sampleSplit,
  limitSplit,
  type Dataset,
  type Split,
  type SplitName,
} from './data/dataset.js';
export { readNpz, readNpy } from './data/npz.js';
export { buildModel, ARCHITECTURES, type Architecture } from './models/architectures.js';
export { Classifier, type Model, type DifferentiableModel, type ForwardModel } from './models/model.js';
export type { ModelCard } from './models/card.js';
export { newClassifier, fitClassifier } from './models/factory.js';
export { train, evaluateSplit, predictSplit, type TrainOptions } from './models/train.js';
export { saveModel, loadModel, loadClassifier, defaultModelDir } from './models/io.js';
export { rocAuc, accuracy, auc, classificationMetrics } from './models/metrics.js';
export { VERSION } from './version.js';
// The library API: verbs over typed specs (src/api). `train` above is the low-level training loop
// (models/train.js); the `train` verb of src/api is exported here as `trainModel`.
export * from './api/index.js';
export { train as trainModel } from './api/train.js';
