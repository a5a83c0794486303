/**
 * Model integrity (issue #20 item 7): the card binds the weights (SHA-256 of the weight files in
 * manifest order, or of the .onnx file) and the classes/task/input read from them. On the shipped
 * models: swapped classes in model-card.json, one altered weight byte, or a class count that does not
 * match the network are refused at load (CLI exit 2, one line); a card without a hash loads with one
 * warning in the CLI and is refused by the gateway; saving and ONNX export write the hash.
 * Data: NaN/Inf pixels in an .npz split (built from data/pneumoniamnist.npz) or a decoded image are
 * refused (exit 2 naming the split and count), never evaluated.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { zipSync } from 'fflate';
import { initEngine } from '../src/engine/index.js';
import {
  loadModel,
  loadClassifier,
  saveModel,
  modelWeightFiles,
  SHIPPED_MODELS,
  resolveModelPath,
} from '../src/models/io.js';
import { withWeightsHash } from '../src/models/card.js';
import { newClassifier } from '../src/models/factory.js';
import { exportOnnx } from '../src/models/onnx-export.js';
import { loadDataset } from '../src/data/dataset.js';
import { readNpz } from '../src/data/npz.js';
import { decodeImage } from '../src/data/image.js';
import { toModelInput } from '../src/data/resize.js';
import { createGateway, loadGatewayConfig } from '../src/gateway/index.js';
import { MedshieldError } from '../src/errors.js';
import { makeGatewayDir } from '../bench/gateway/fixtures.js';
import { cli, isCleanError, DICOM_DIR, EMBEDDED_NPZ, npyBytes } from './helpers.js';

let tmp: string;
const CHEST = path.join(DICOM_DIR, 'CR-MONO1-10-chest.dcm');
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
/** A copy of a shipped model whose card is changed by `edit`. */
function copyModel(name: string, edit: (card: any, dir: string) => void = () => undefined): string {
  const dir = path.join(mkdtempSync(path.join(tmp, `${name}-`)), name);
  cpSync(resolveModelPath(name), dir, { recursive: true });
  const f = path.join(dir, 'model-card.json');
  const card = JSON.parse(readFileSync(f, 'utf8'));
  edit(card, dir);
  writeFileSync(f, JSON.stringify(card, null, 2));
  return dir;
}

before(async () => {
  await initEngine();
  tmp = mkdtempSync(path.join(tmpdir(), 'ms-integrity-'));
});

test('every shipped card records the SHA-256 of its weight files in manifest order, and loads under requireWeightsHash', async () => {
  for (const m of SHIPPED_MODELS) {
    const dir = resolveModelPath(m);
    const card = JSON.parse(readFileSync(path.join(dir, 'model-card.json'), 'utf8'));
    const files = modelWeightFiles(dir);
    assert.deepEqual(
      card.weights.files,
      files.map((f) => path.basename(f)),
    );
    assert.equal(card.weights.sha256, sha(Buffer.concat(files.map((f) => readFileSync(f)))), m);
    const loaded = await loadModel(m, { requireWeightsHash: true });
    assert.equal(loaded.card.weights?.sha256, card.weights.sha256);
  }
});

test('swapped classes in model-card.json → load refused (library CHECKSUM, CLI exit 2 one line)', async () => {
  const dir = copyModel('surrogate', (c) => {
    c.dataset.classes = [...c.dataset.classes].reverse();
  });
  await assert.rejects(
    loadModel(dir),
    (e: unknown) =>
      e instanceof MedshieldError && e.code === 'CHECKSUM' && /classes\/task\/input do not match/.test(e.message),
  );
  const r = cli(['predict', '--model', dir, CHEST]);
  assert.ok(isCleanError(r), r.stderr);
  assert.match(r.stderr, /do not match what was bound to these weights/);
  // the untouched copy still predicts
  assert.equal(cli(['predict', '--model', copyModel('surrogate'), CHEST]).code, 0);
});

test('one altered weight byte → refused; a re-bound card with the wrong class count → refused by the network size', async () => {
  const dir = copyModel('adv-cnn');
  const w = path.join(dir, 'weights.bin');
  const bytes = readFileSync(w);
  bytes[bytes.length >> 1] ^= 0x01;
  writeFileSync(w, bytes);
  await assert.rejects(loadClassifier(dir), /weights' SHA-256 [0-9a-f]{16}… does not match the model card's/);
  const r = cli(['eval', '--model', dir, '--limit', '8']);
  assert.ok(isCleanError(r), r.stderr);
  // An editor who also recomputes the binding cannot change how many classes the network outputs.
  const three = copyModel('adv-cnn', (c) => {
    c.dataset.classes = [...c.dataset.classes, 'third'];
    c.dataset.task = 'multiclass';
    Object.assign(c, withWeightsHash(c, c.weights.sha256, c.weights.files));
  });
  await assert.rejects(loadClassifier(three), /the network has 2 outputs but the card lists 3 classes/);
});

test('a card without a weights hash: the CLI warns once and runs, the gateway refuses to serve it', async () => {
  const dir = copyModel('noise-cnn', (c) => {
    delete c.weights;
  });
  const r = cli(['predict', '--model', dir, CHEST, path.join(DICOM_DIR, 'CT_small.dcm')], {
    env: { MEDSHIELD_QUIET: '0' },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.split('\n').filter((l) => /no weights hash/.test(l)).length, 1, r.stderr);
  await assert.rejects(loadModel(dir, { requireWeightsHash: true }), /records no weights hash/);
  const g = await makeGatewayDir(dir, (c) => {
    c.logging = { level: 'silent' };
  });
  await assert.rejects(createGateway(loadGatewayConfig(g.config)), /records no weights hash/);
});

test('saving writes the hash; ONNX export writes the hash of model.onnx, and an altered .onnx is refused', async () => {
  const ds = await loadDataset(EMBEDDED_NPZ);
  const dir = path.join(tmp, 'saved');
  await saveModel(newClassifier('cnn', ds, { width: 4, seed: 1 }), dir);
  const card = JSON.parse(readFileSync(path.join(dir, 'model-card.json'), 'utf8'));
  assert.equal(card.weights.sha256, sha(readFileSync(path.join(dir, 'weights.bin'))));
  await loadModel(dir, { requireWeightsHash: true });
  const out = path.join(tmp, 'onnx');
  const file = await exportOnnx(await loadClassifier('surrogate'), out);
  const oc = JSON.parse(readFileSync(path.join(out, 'model-card.json'), 'utf8'));
  assert.equal(oc.weights.sha256, sha(readFileSync(file)));
  assert.deepEqual(oc.weights.files, ['model.onnx']);
  const m = await loadModel(out, { requireWeightsHash: true });
  assert.equal(m.card.weights?.sha256, oc.weights.sha256);
  const swapped = path.join(tmp, 'onnx-swapped');
  cpSync(out, swapped, { recursive: true });
  writeFileSync(
    path.join(swapped, 'model-card.json'),
    JSON.stringify({ ...oc, dataset: { ...oc.dataset, classes: [...oc.dataset.classes].reverse() } }),
  );
  await assert.rejects(loadModel(swapped), /do not match what was bound/);
  const altered = readFileSync(file);
  altered[altered.length - 100] ^= 0x10;
  writeFileSync(file, altered);
  await assert.rejects(loadModel(out), MedshieldError);
});

test('NaN/Inf pixels in an .npz split or a decoded image → exit 2 naming the split and count, never evaluated', async () => {
  const arrays = readNpz(new Uint8Array(readFileSync(EMBEDDED_NPZ)));
  const files: Record<string, Uint8Array> = {};
  for (const [k, a] of Object.entries(arrays)) {
    if (k === 'test_images') {
      const f = Float32Array.from(a.data as Uint8Array, (v) => v / 255);
      f[5] = NaN;
      f[1000] = Infinity;
      f[2000] = -Infinity;
      files[`${k}.npy`] = npyBytes('<f4', a.shape, new Uint8Array(f.buffer));
    } else
      files[`${k}.npy`] = npyBytes(
        a.dtype === 'u1' ? '|u1' : `<${a.dtype}`,
        a.shape,
        new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength),
      );
  }
  const bad = path.join(tmp, 'pneumoniamnist-nan.npz');
  writeFileSync(bad, zipSync(files));
  await assert.rejects(loadDataset(bad), /split 'test' has 3 NaN\/Inf pixel values/);
  const r = cli(['eval', '--model', 'surrogate', '--dataset', bad]);
  assert.ok(isCleanError(r), r.stderr);
  assert.match(r.stderr, /split 'test' has 3 NaN\/Inf pixel values/);
  // a decoded real image with one NaN is refused before the model
  const img = await decodeImage(new Uint8Array(readFileSync(CHEST)), 'chest');
  assert.equal(toModelInput(img, [28, 28, 1]).length, 784);
  img.data[123] = NaN;
  assert.throws(() => toModelInput(img, [28, 28, 1]), /decoded image has 1 NaN\/Inf pixel value/);
});
