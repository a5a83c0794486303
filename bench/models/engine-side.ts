/**
 * medshield side of `npm run bench:models`: load an ONNX file as a differentiable graph (no
 * onnxruntime check) and time forward (logits read back) and the input gradient of the summed
 * cross-entropy at batch B; prints one JSON line (ms per batch, peak RSS). A separate process per
 * model, so the RSS is this model's. MEDSHIELD_BENCH_PROFILE=1 also prints, on stderr, the time per
 * kernel of one input gradient and the kernels that fell back from native to the cpu backend.
 */
import { readFileSync } from 'node:fs';
import { initEngine, tf } from '../../src/engine/index.js';
import { readOnnxModel } from '../../src/models/onnx-graph/proto.js';
import { OnnxGraph } from '../../src/models/onnx-graph/graph.js';

const [file, batchS, threadsS, itersS] = process.argv.slice(2);
const batch = Number(batchS);
const iters = Number(itersS);
await initEngine({ threads: Number(threadsS) });
const g = new OnnxGraph(readOnnxModel(readFileSync(file), file), file);
const x = tf.randomUniform([batch, 224, 224, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
const y = tf.oneHot(tf.zeros([batch], 'int32') as tf.Tensor1D, 2);
const rssAfterLoad = process.resourceUsage().maxRSS / 1024;

async function timed(f: () => tf.Tensor): Promise<number> {
  const run = async () => {
    const t = f();
    await t.data();
    t.dispose();
  };
  await run();
  const ts: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t = performance.now();
    await run();
    ts.push(performance.now() - t);
  }
  return ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)];
}

const logits = (xx: tf.Tensor) => tf.reshape(g.run(xx, true, [g.outputName])[0], [batch, -1]);
const grad = () => tf.tidy(() => tf.grad((xx: tf.Tensor) => tf.sum(tf.neg(tf.mul(y, tf.logSoftmax(logits(xx))))))(x));
const forward = await timed(() => tf.tidy(() => logits(x)));
const rssAfterForward = process.resourceUsage().maxRSS / 1024;
const inputGrad = await timed(grad);
if (process.env.MEDSHIELD_BENCH_PROFILE === '1') {
  const native = await import('../../src/engine/native/index.js');
  native.countNativeCalls(true);
  const p = await tf.profile(() => grad());
  const by = new Map<string, { ms: number; n: number }>();
  for (const k of p.kernels) {
    const e = by.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += Number(k.kernelTimeMs) || 0;
    e.n++;
    by.set(k.name, e);
  }
  const rows = [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
  for (const [name, e] of rows)
    process.stderr.write(`  ${name.padEnd(36)} ${e.ms.toFixed(0).padStart(7)} ms  ×${e.n}\n`);
  const fb = [...native.nativeCounts].filter(([, c]) => c.cpu > 0);
  process.stderr.write(`  cpu fallbacks: ${JSON.stringify(fb)}  pool ${JSON.stringify(native.poolStats)}\n`);
}
process.stdout.write(
  JSON.stringify({
    forward,
    inputGrad,
    rssMB: process.resourceUsage().maxRSS / 1024,
    rssAfterLoadMB: rssAfterLoad,
    rssAfterForwardMB: rssAfterForward,
    backend: tf.getBackend(),
  }) + '\n',
);
