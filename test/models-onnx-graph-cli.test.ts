/**
 * `medshield model import` end to end on the trained ONNX fixture (a small CNN trained on
 * PneumoniaMNIST by scripts/make-onnx-fixtures.py, normalisation declared with --mean/--std): the
 * imported directory goes through `eval`, `attack` (pgd, apgd-ce, autoattack), `detect` (kd_bu on
 * the ONNX node feature layer), `defend`, `predict` and the gateway (`serve`'s createGateway) on
 * real PneumoniaMNIST test images; bad input (unsupported op, dynamic spatial input without
 * --input, class-count mismatch, corrupt protobuf, a changed ONNX file) is one line, exit 2.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { loadDataset } from '../src/data/dataset.js';
import { encodePng } from '../src/data/png-encode.js';
import { graph, model as onnxModel, node, valueInfo, floatTensor } from '../src/models/onnx-proto.js';
import { createGateway, loadGatewayConfig, type Gateway } from '../src/gateway/index.js';
import { loadModel } from '../src/models/io.js';
import { makeGatewayDir, pngBytes, infer } from '../bench/gateway/fixtures.js';
import { ROOT, cli, cliAsync, isCleanError } from './helpers.js';

const FIX = path.join(ROOT, 'test', 'fixtures', 'onnx');
const TRAINED = path.join(FIX, 'cnn_trained.onnx');
const tmp = mkdtempSync(path.join(tmpdir(), 'medshield-onnx-cli-'));
const dir = path.join(tmp, 'cnn');
const env = { MEDSHIELD_THREADS: '1' };
const gateways: Gateway[] = [];

function json(args: string[]): any {
  const r = cli([...args, '--json'], { env });
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

before(() => {
  const r = json([
    'model',
    'import',
    TRAINED,
    '--out',
    dir,
    '--mean',
    '0.5',
    '--std',
    '0.5',
    '--dataset',
    'pneumoniamnist',
  ]);
  assert.equal(r.format, 'onnx');
  assert.equal(r.differentiable, true);
  assert.equal(r.opset, 13);
  assert.deepEqual(r.input, { shape: [28, 28, 1], layout: 'nchw', range: [0, 1], mean: [0.5], std: [0.5] });
  assert.deepEqual(r.featureLayers, ['/Flatten_output_0']);
  assert.equal(r.check.images, 16);
  assert.ok(r.check.maxAbsDiff <= 1e-4);
  assert.ok(r.eval.accuracy > 0.8 && r.eval.auc > 0.9, JSON.stringify(r.eval));
  const card = JSON.parse(readFileSync(path.join(dir, 'model-card.json'), 'utf8'));
  assert.match(card.onnx.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(card.onnx.preprocess, { range: [0, 1], mean: [0.5], std: [0.5], channels: 1 });
});

after(async () => {
  for (const g of gateways) await g.close();
});

test('eval on the imported directory reproduces the import evaluation', () => {
  const r = json(['eval', '--model', dir]);
  assert.equal(r.n, 624);
  assert.ok(r.accuracy > 0.8 && r.auc > 0.9);
});

test('attack: pgd, apgd-ce and autoattack run white-box on the imported model; robust ≤ clean, larger ε no stronger model', () => {
  const pgd = json(['attack', '--model', dir, '--attack', 'pgd', '--eps', '2/255,8/255', '--limit', '32']);
  assert.equal(pgd.length, 2);
  assert.ok(pgd[0].cleanAccuracy > 0.7);
  assert.ok(pgd[0].robustAccuracy <= pgd[0].cleanAccuracy && pgd[1].robustAccuracy <= pgd[0].robustAccuracy);
  assert.ok(pgd[1].robustAccuracy < 0.2, `PGD at 8/255 robust ${pgd[1].robustAccuracy}`);
  for (const attack of ['apgd-ce', 'autoattack']) {
    const r = json(['attack', '--model', dir, '--attack', attack, '--eps', '8/255', '--limit', '16']);
    const row = Array.isArray(r) ? r[0] : r;
    assert.ok(row.robustAccuracy <= row.cleanAccuracy && row.robustAccuracy < 0.2, `${attack}: ${JSON.stringify(row)}`);
  }
});

test('detect: kd_bu fits on the ONNX node feature layer and its final Gemm', () => {
  const r = json([
    'detect',
    '--model',
    dir,
    '--detector',
    'kd_bu',
    '--train-attack',
    'pgd',
    '--test-attacks',
    'pgd',
    '--eps',
    '8/255',
    '--fit-limit',
    '80',
    '--limit',
    '40',
  ]);
  const row = r.results[0];
  assert.equal(r.detector, 'kd_bu');
  assert.ok(row.n > 10 && row.auc > 0.5, JSON.stringify(row));
});

test('defend: input-transform defences under white-box attacks crafted on the imported model', () => {
  const r = json([
    'defend',
    '--model',
    dir,
    '--defence',
    'median:k=3',
    '--attacks',
    'pgd',
    '--eps',
    '4/255',
    '--limit',
    '32',
  ]);
  assert.ok(JSON.stringify(r).includes('median'));
});

test('predict and the gateway serve the imported model', async () => {
  const data = await loadDataset('pneumoniamnist');
  const te = data.splits.test;
  const img = Float32Array.from(te.images.subarray(0, 784) as Uint8Array, (v) => v / 255);
  const png = path.join(tmp, 'x.png');
  writeFileSync(png, encodePng(img, 28, 28, 1));
  const p = json(['predict', png, '--model', dir]);
  const row = Array.isArray(p) ? p[0] : (p.results?.[0] ?? p);
  assert.ok(JSON.stringify(row).includes('probabilities'));

  await initEngine({ threads: 1 });
  const m = await loadModel(dir);
  assert.equal(m.differentiable, true);
  const g = await makeGatewayDir(dir, (c) => {
    c.logging = { level: 'silent' };
    c.signature = { required: false, trustedCas: [] };
    c.inputs = { contentTypes: ['image/png'] };
    c.queryDetection = { enabled: false };
    c.output = { mode: 'probs', decimals: 6 };
  });
  const gw = await createGateway(loadGatewayConfig(g.config), { model: m });
  gateways.push(gw);
  const base = await gw.listen(0, '127.0.0.1');
  const res = await infer(base, g.apiKey, pngBytes(te.images.subarray(0, 784) as Uint8Array), 'image/png');
  assert.equal(res.status, 200, res.body.toString());
  const probs = await m.predictProbs(
    Float32Array.from(te.images.subarray(0, 784) as Uint8Array, (v) => v / 255),
    1,
  );
  assert.ok(res.body.toString().includes(String(Math.round(probs[0] * 1e6) / 1e6).slice(0, 6)), res.body.toString());
});

test('bad input: unsupported op, dynamic spatial input, class-count mismatch, corrupt protobuf, changed file — one line, exit 2', async () => {
  const meta = { irVersion: 8, opset: 13, producer: 'medshield-test', producerVersion: '0' };
  // An op outside the supported set (Einsum) in a graph that onnxruntime itself accepts.
  const einsum = path.join(tmp, 'einsum.onnx');
  writeFileSync(
    einsum,
    onnxModel(
      graph(
        'g',
        [node('Flatten', ['x'], ['f'], 'flat'), node('Einsum', ['f', 'w'], ['y'], 'head', { equation: 'bi,ij->bj' })],
        [floatTensor('w', [784, 2], new Float32Array(1568).fill(0.01))],
        [valueInfo('x', ['batch', 1, 28, 28])],
        [valueInfo('y', ['batch', 2])],
      ),
      meta,
    ),
  );
  let r = cli(['model', 'import', einsum, '--out', path.join(tmp, 'e')], { env });
  assert.ok(isCleanError(r), r.stderr);
  assert.match(r.stderr, /unsupported ONNX op Einsum in node 'head' \(opset 13\)/);
  // Dynamic spatial size without --input.
  const dyn = path.join(tmp, 'dynamic.onnx');
  writeFileSync(
    dyn,
    onnxModel(
      graph(
        'g',
        [
          node('GlobalAveragePool', ['x'], ['p'], 'gap'),
          node('Flatten', ['p'], ['f'], 'flat'),
          node('Gemm', ['f', 'w'], ['y'], 'fc'),
        ],
        [floatTensor('w', [3, 2], new Float32Array(6).fill(0.5))],
        [valueInfo('x', ['batch', 3, 'height', 'width'])],
        [valueInfo('y', ['batch', 2])],
      ),
      meta,
    ),
  );
  r = cli(['model', 'import', dyn, '--out', path.join(tmp, 'd')], { env });
  assert.ok(isCleanError(r), r.stderr);
  assert.match(r.stderr, /dynamic spatial size.*--input/);
  const ok = json(['model', 'import', dyn, '--out', path.join(tmp, 'd'), '--input', '28x28x3']);
  assert.deepEqual(ok.input.shape, [28, 28, 3]);
  // Class-count mismatch.
  r = cli(['model', 'import', TRAINED, '--out', path.join(tmp, 'c'), '--classes', 'a,b,c'], { env });
  assert.ok(isCleanError(r), r.stderr);
  assert.match(r.stderr, /outputs 2 values per image but --classes lists 3/);
  // Corrupt protobuf: truncated.
  const bytes = readFileSync(TRAINED);
  const bad = path.join(tmp, 'corrupt.onnx');
  writeFileSync(bad, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  r = cli(['model', 'import', bad, '--out', path.join(tmp, 'x')], { env });
  assert.ok(isCleanError(r), r.stderr);
  assert.match(r.stderr, /corrupt ONNX protobuf/);
  // A changed ONNX file in an imported directory is refused at load.
  const copy = path.join(tmp, 'changed');
  json(['model', 'import', TRAINED, '--out', copy, '--mean', '0.5', '--std', '0.5']);
  const onnx = readFileSync(path.join(copy, 'model.onnx'));
  onnx[onnx.length - 10] ^= 1;
  writeFileSync(path.join(copy, 'model.onnx'), onnx);
  r = await cliAsync(['eval', '--model', copy, '--dataset', 'pneumoniamnist'], { env });
  assert.ok(isCleanError(r), r.stderr);
  assert.match(r.stderr, /sha256/);
});
