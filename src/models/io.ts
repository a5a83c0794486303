/**
 * Save and load a model as a directory: `model.json` (tfjs-layers topology + weight manifest),
 * `weights.bin`, and `model-card.json`. Writes go to a temporary sibling directory that is renamed
 * into place, so an interrupted save never leaves a directory that looks complete.
 * A directory holding `model.onnx` + card loads as a forward-only ONNX model.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tf } from '../engine/index.js';
import { badInput, notFound } from '../errors.js';
import { PACKAGE_ROOT } from '../version.js';
import { CARD_FILE, validateCard, type ModelCard } from './card.js';
import { Classifier, type Model } from './model.js';

/** The shipped default model (ResNet-18 on PneumoniaMNIST). */
export function defaultModelDir(): string { return path.join(PACKAGE_ROOT, 'models', 'default'); }
/** The shipped surrogate: trained independently of the default model (other seed, width), for transfer attacks. */
export function surrogateModelDir(): string { return path.join(PACKAGE_ROOT, 'models', 'surrogate'); }

/** The shipped robust models for the scorecard: PGD-adversarially trained and noise-trained CNNs on PneumoniaMNIST. */
export const SHIPPED_MODELS = ['default', 'surrogate', 'adv-cnn', 'noise-cnn'] as const;

/** `default` (or nothing) names the shipped model, `surrogate`, `adv-cnn`, `noise-cnn` the other shipped ones; anything else is a directory or an .onnx file. */
export function resolveModelPath(spec?: string): string {
  if (spec === 'surrogate') return surrogateModelDir();
  if (spec === 'adv-cnn' || spec === 'noise-cnn') return path.join(PACKAGE_ROOT, 'models', spec);
  return !spec || spec === 'default' ? defaultModelDir() : spec;
}

export async function saveModel(model: Classifier, dir: string): Promise<void> {
  const parent = path.dirname(path.resolve(dir));
  mkdirSync(parent, { recursive: true });
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw badInput(`--out '${dir}' exists and is not a directory`);
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    await model.net.save(tf.io.withSaveHandler(async (a) => {
      const weightData = a.weightData instanceof ArrayBuffer ? a.weightData : tf.io.concatenateArrayBuffers(a.weightData as ArrayBuffer[]);
      writeFileSync(path.join(tmp, 'weights.bin'), Buffer.from(weightData));
      writeFileSync(path.join(tmp, 'model.json'), JSON.stringify({
        format: 'layers-model', generatedBy: 'medshield', modelTopology: a.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
      }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    writeFileSync(path.join(tmp, CARD_FILE), JSON.stringify(model.card, null, 2) + '\n');
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

function readCard(dir: string): ModelCard {
  const p = path.join(dir, CARD_FILE);
  if (!existsSync(p)) throw badInput(`model '${dir}' has no ${CARD_FILE}`);
  let raw: unknown;
  try { raw = JSON.parse(readFileSync(p, 'utf8')); } catch { throw badInput(`model '${dir}': ${CARD_FILE} is not valid JSON`); }
  return validateCard(raw, dir);
}

export async function loadClassifier(spec?: string): Promise<Classifier> {
  const dir = resolveModelPath(spec);
  if (!existsSync(dir)) throw notFound(spec && spec !== 'default' ? `model '${spec}' does not exist` : `the shipped default model is missing (${dir})`);
  if (!statSync(dir).isDirectory()) throw badInput(`model '${dir}' is not a model directory`);
  const card = readCard(dir);
  const mj = path.join(dir, 'model.json');
  const wb = path.join(dir, 'weights.bin');
  if (!existsSync(mj) || !existsSync(wb)) throw badInput(`model '${dir}' is incomplete (needs model.json and weights.bin)`);
  let artifacts: { modelTopology: object; weightsManifest: Array<{ weights: tf.io.WeightsManifestEntry[] }> };
  try { artifacts = JSON.parse(readFileSync(mj, 'utf8')); } catch { throw badInput(`model '${dir}': model.json is not valid JSON`); }
  const buf = readFileSync(wb);
  const weightSpecs = artifacts.weightsManifest.flatMap((g) => g.weights);
  const expected = weightSpecs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (buf.byteLength !== expected) throw badInput(`model '${dir}': weights.bin has ${buf.byteLength} bytes, expected ${expected}`);
  let net: tf.LayersModel;
  try {
    net = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: artifacts.modelTopology, weightSpecs,
      weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
    }));
  } catch (e) {
    throw badInput(`model '${dir}': cannot load the network (${e instanceof Error ? e.message.split('\n')[0] : e})`);
  }
  const inShape = net.inputs[0].shape.slice(1) as number[];
  if (inShape.join() !== card.input.shape.join()) throw badInput(`model '${dir}': the network's input ${inShape.join('×')} does not match the card's ${card.input.shape.join('×')}`);
  const outK = net.outputs[0].shape[1];
  if (outK !== card.dataset.classes.length) throw badInput(`model '${dir}': the network has ${outK} outputs but the card lists ${card.dataset.classes.length} classes`);
  return new Classifier(net, card);
}

/** Load any model: a medshield directory (tfjs) or ONNX (a `.onnx` file or a directory with model.onnx). */
export async function loadModel(spec?: string): Promise<Model> {
  const p = resolveModelPath(spec);
  const isOnnx = p.toLowerCase().endsWith('.onnx') || (existsSync(path.join(p, 'model.onnx')) && !existsSync(path.join(p, 'model.json')));
  if (isOnnx) {
    const { loadOnnxModel } = await import('./onnx.js');
    return loadOnnxModel(p);
  }
  return loadClassifier(spec);
}
