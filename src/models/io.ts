/**
 * Save and load a model as a directory: `model.json` (tfjs-layers topology + weight manifest), the
 * weights — `weights.bin`, or above 4 MiB tfjs's usual 4 MiB shards `group1-shard1ofN.bin` … in
 * manifest order — and `model-card.json`. Writes go to a temporary sibling directory that is renamed
 * into place, so an interrupted save never leaves a directory that looks complete.
 * A directory holding `model.onnx` + card loads as a forward-only ONNX model.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tf } from '../engine/index.js';
import { MedshieldError, badInput, notFound } from '../errors.js';
import { PACKAGE_ROOT } from '../version.js';
import { CARD_FILE, checkWeightsHash, validateCard, withWeightsHash, type ModelCard } from './card.js';
import { Classifier, type Model } from './model.js';

/** The shipped default model (ResNet-18 on PneumoniaMNIST). */
export function defaultModelDir(): string {
  return path.join(PACKAGE_ROOT, 'models', 'default');
}
/**
 * The shipped surrogate for transfer attacks: the default model's recipe (full-width ResNet-18, 10 epochs) with
 * another seed (1), as an outside attacker with a similarly trained model would have.
 */
export function surrogateModelDir(): string {
  return path.join(PACKAGE_ROOT, 'models', 'surrogate');
}

/**
 * The shipped models: the default (full-width ResNet-18), the transfer surrogate, the PGD-adversarially
 * trained and noise-trained CNNs for the scorecard, `resnet18-w32`, the width-32 ResNet-18 that was
 * the default before full width was shipped, and `surrogate-w16`, the width-16 surrogate shipped before the
 * full-width one (figures in the docs measured on these name them).
 */
export const SHIPPED_MODELS = [
  'default',
  'surrogate',
  'adv-cnn',
  'noise-cnn',
  'resnet18-w32',
  'surrogate-w16',
] as const;

/**
 * `default` (or nothing) names the shipped model, the other {@link SHIPPED_MODELS} names the other shipped ones;
 * anything else is a directory or an .onnx file.
 */
export function resolveModelPath(spec?: string): string {
  if (!spec) return defaultModelDir();
  return (SHIPPED_MODELS as readonly string[]).includes(spec) ? path.join(PACKAGE_ROOT, 'models', spec) : spec;
}

/** Weights above this size are written as shards of this size (tfjs-converter's default shard size). */
export const SHARD_BYTES = 4 * 1024 * 1024;

/** File names for `total` bytes of weights: one `weights.bin`, or `group1-shard{i}of{n}.bin`. */
export function weightFileNames(total: number, shardBytes = SHARD_BYTES): string[] {
  const n = Math.max(1, Math.ceil(total / shardBytes));
  return n === 1 ? ['weights.bin'] : Array.from({ length: n }, (_, i) => `group1-shard${i + 1}of${n}.bin`);
}

/**
 * A model directory's weight files in manifest order (bare file names only: a manifest cannot point outside its
 * directory); pass the parsed model.json if it is already read.
 */
export function modelWeightFiles(dir: string, manifest?: { weightsManifest?: Array<{ paths?: unknown }> }): string[] {
  let mj = manifest;
  if (!mj) {
    try {
      mj = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as {
        weightsManifest?: Array<{ paths?: unknown }>;
      };
    } catch {
      throw badInput(`model '${dir}': model.json is missing or not valid JSON`);
    }
  }
  const paths = (mj.weightsManifest ?? []).flatMap((g) => (Array.isArray(g.paths) ? g.paths : []));
  if (!paths.length) throw badInput(`model '${dir}': model.json lists no weight files`);
  for (const f of paths) {
    if (typeof f !== 'string' || !f || f !== path.basename(f) || f === '..' || f === '.')
      throw badInput(`model '${dir}': weight file name ${JSON.stringify(f)} is not a plain file name`);
  }
  return (paths as string[]).map((f) => path.join(dir, f));
}

export async function saveModel(model: Classifier, dir: string, opts: { shardBytes?: number } = {}): Promise<void> {
  const parent = path.dirname(path.resolve(dir));
  mkdirSync(parent, { recursive: true });
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw badInput(`--out '${dir}' exists and is not a directory`);
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    await model.net.save(
      tf.io.withSaveHandler(async (a) => {
        const weightData = Buffer.from(
          a.weightData instanceof ArrayBuffer
            ? a.weightData
            : tf.io.concatenateArrayBuffers(a.weightData as ArrayBuffer[]),
        );
        const shard = opts.shardBytes ?? SHARD_BYTES;
        const names = weightFileNames(weightData.byteLength, shard);
        names.forEach((f, i) =>
          writeFileSync(
            path.join(tmp, f),
            weightData.subarray(i * shard, Math.min((i + 1) * shard, weightData.byteLength)),
          ),
        );
        model.card = withWeightsHash(model.card, sha256Hex(weightData), names);
        writeFileSync(
          path.join(tmp, 'model.json'),
          JSON.stringify({
            format: 'layers-model',
            generatedBy: 'medshield',
            modelTopology: a.modelTopology,
            weightsManifest: [{ paths: names, weights: a.weightSpecs }],
          }),
        );
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    writeFileSync(path.join(tmp, CARD_FILE), JSON.stringify(model.card, null, 2) + '\n');
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** SHA-256 (hex) of bytes. */
export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * How loading treats a card without a weights hash (older saves): the gateway requires one; the CLI warns once per
 * model.
 */
export interface LoadOptions {
  requireWeightsHash?: boolean;
}

const warnedUnhashed = new Set<string>();
/** Check the weights' hash against the card (ModelCard.weights); refuse or warn when the card has none. */
function checkIntegrity(card: ModelCard, sha: string, where: string, o: LoadOptions): void {
  if (checkWeightsHash(card, sha, where)) return;
  if (o.requireWeightsHash)
    throw new MedshieldError(
      'CHECKSUM',
      `${where}: the model card records no weights hash (saved by an older medshield), ` +
        `so its weights cannot be checked; re-save the model with this version`,
    );
  const key = path.resolve(where);
  if (!warnedUnhashed.has(key) && process.env.MEDSHIELD_QUIET !== '1')
    process.stderr.write(
      `medshield: warning: model '${where}' has no weights hash in ` +
        `its card (older save): weights and classes are not checked\n`,
    );
  warnedUnhashed.add(key);
}

function readCard(dir: string): ModelCard {
  const p = path.join(dir, CARD_FILE);
  if (!existsSync(p)) throw badInput(`model '${dir}' has no ${CARD_FILE}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    throw badInput(`model '${dir}': ${CARD_FILE} is not valid JSON`);
  }
  return validateCard(raw, dir);
}

export async function loadClassifier(spec?: string, opts: LoadOptions = {}): Promise<Classifier> {
  const dir = resolveModelPath(spec);
  if (!existsSync(dir))
    throw notFound(
      spec && spec !== 'default' ? `model '${spec}' does not exist` : `the shipped default model is missing (${dir})`,
    );
  if (!statSync(dir).isDirectory()) throw badInput(`model '${dir}' is not a model directory`);
  const card = readCard(dir);
  const mj = path.join(dir, 'model.json');
  if (!existsSync(mj)) throw badInput(`model '${dir}' is incomplete (needs model.json and its weight files)`);
  let artifacts: {
    modelTopology: object;
    weightsManifest: Array<{ paths?: unknown; weights: tf.io.WeightsManifestEntry[] }>;
  };
  try {
    artifacts = JSON.parse(readFileSync(mj, 'utf8'));
  } catch {
    throw badInput(`model '${dir}': model.json is not valid JSON`);
  }
  const files = modelWeightFiles(dir, artifacts);
  const missing = files.find((f) => !existsSync(f));
  if (missing)
    throw badInput(
      `model '${dir}' is incomplete (needs model.json and its weight files; ${path.basename(missing)} is missing)`,
    );
  const buf = files.length === 1 ? readFileSync(files[0]) : Buffer.concat(files.map((f) => readFileSync(f)));
  const weightSpecs = artifacts.weightsManifest.flatMap((g) => g.weights);
  const expected = weightSpecs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (buf.byteLength !== expected)
    throw badInput(
      `model '${dir}': the weight files (${files.map((f) => path.basename(f)).join(', ')}` +
        `) hold ${buf.byteLength} bytes, expected ${expected}`,
    );
  checkIntegrity(card, sha256Hex(buf), dir, opts);
  let net: tf.LayersModel;
  try {
    net = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: artifacts.modelTopology,
        weightSpecs,
        weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
      }),
    );
  } catch (e) {
    throw badInput(`model '${dir}': cannot load the network (${e instanceof Error ? e.message.split('\n')[0] : e})`);
  }
  const inShape = net.inputs[0].shape.slice(1) as number[];
  if (inShape.join() !== card.input.shape.join())
    throw badInput(
      `model '${dir}': the network's input ${inShape.join('×')}` +
        ` does not match the card's ${card.input.shape.join('×')}`,
    );
  const outK = net.outputs[0].shape[1];
  if (outK !== card.dataset.classes.length)
    throw badInput(
      `model '${dir}': the network has ${outK} outputs but the card lists ${card.dataset.classes.length} classes`,
    );
  return new Classifier(net, card);
}

/** Load any model: a medshield directory (tfjs) or ONNX (a `.onnx` file or a directory with model.onnx). */
export async function loadModel(spec?: string, opts: LoadOptions = {}): Promise<Model> {
  const p = resolveModelPath(spec);
  const isOnnx =
    p.toLowerCase().endsWith('.onnx') ||
    (existsSync(path.join(p, 'model.onnx')) && !existsSync(path.join(p, 'model.json')));
  if (isOnnx) {
    const { loadOnnxModel } = await import('./onnx.js');
    const m = await loadOnnxModel(p);
    // The .onnx file is hashed as it is on disk after the session is built; the model is refused before any use.
    const file = existsSync(p) && statSync(p).isDirectory() ? path.join(p, 'model.onnx') : p;
    checkIntegrity(m.card, sha256Hex(readFileSync(file)), p, opts);
    return m;
  }
  return loadClassifier(spec, opts);
}

/** The weights' SHA-256 a loaded model was checked against (ModelCard.weights.sha256), or null for an unhashed card. */
export function modelSha256(m: { card: ModelCard }): string | null {
  return m.card.weights?.sha256 ?? null;
}
