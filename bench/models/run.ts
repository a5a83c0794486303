/**
 * `npm run bench:models [-- --json] [--models resnet50,…] [--batch 16] [--vit-batch 4] [--threads 2] [--iters 3]
 * [--cache DIR]`:
 * torchvision ResNet-50, DenseNet-121, EfficientNet-B0 and ViT-B/16 at 224×224×3 (random init,
 * 2 classes; ViT-B/16 at batch `--vit-batch`, default 4, since PyTorch's side of it runs on Debian's
 * reference BLAS), exported to ONNX by Debian's PyTorch 1.13 and imported as differentiable graphs:
 * forward and input-gradient speedups (PyTorch ms / medshield ms, ≥ 1 = medshield faster) against
 * eager PyTorch at the same thread count in the same run, and peak RSS ratio (medshield/PyTorch),
 * each side in its own process (the PyTorch process that times does not export). The ONNX files
 * (100–350 MB, not committed) are exported once into the cache directory (`--cache`, env
 * MEDSHIELD_BENCH_CACHE, default ~/.cache/medshield/bench-models) and reused. Last stdout line
 * with --json: {"resnet50":{"forward","inputGrad","rssRatio"},…}. Issue 21, acceptance 3; see
 * bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.resolve(here, '..', '..', '..', 'bench', 'models');
const args = process.argv.slice(2);
const opt = (k: string, d: string): string => {
  const i = args.indexOf(k);
  return i >= 0 ? args[i + 1] : d;
};
const models = opt('--models', 'resnet50,densenet121,efficientnet_b0,vit_b_16').split(',');
const batch = opt('--batch', '16');
// ViT-B/16's PyTorch side is its Linear layers on Debian's generic reference BLAS (1–3 GFLOP/s,
// bench/README.md): at batch 16 one warm-up + one timed forward and input gradient take ≈ 40 min.
const vitBatch = opt('--vit-batch', '4');
const threads = opt('--threads', '2');
const iters = opt('--iters', '3');
const cache = opt(
  '--cache',
  process.env.MEDSHIELD_BENCH_CACHE || path.join(homedir(), '.cache', 'medshield', 'bench-models'),
);
mkdirSync(cache, { recursive: true });
const torchSide = path.join(src, 'torch_side.py');
const out: Record<string, { forward: number; inputGrad: number; rssRatio: number }> = {};
const r3 = (v: number): number => Math.round(v * 1000) / 1000;
const lastJson = (s: string) => JSON.parse(s.trim().split('\n').pop()!);
for (const m of models) {
  const b = m === 'vit_b_16' ? vitBatch : batch;
  const file = path.join(cache, `${m}-224-opset14.onnx`);
  if (!existsSync(file)) {
    process.stderr.write(`${m}: exporting to ${file}\n`);
    execFileSync('/usr/bin/python3', [torchSide, 'export', m, `${file}.part`], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    renameSync(`${file}.part`, file);
  }
  const py = lastJson(
    execFileSync('/usr/bin/python3', [torchSide, 'bench', m, b, threads, iters], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      // The same OpenMP wait policy as medshield's addon (src/engine/native/addon.ts): spinning threads on a
      // shared machine slow the spinner itself down several-fold.
      env: { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' },
    }),
  );
  const ms = lastJson(
    execFileSync(process.execPath, [path.join(here, 'engine-side.js'), file, b, threads, iters], {
      encoding: 'utf8',
      env: { ...process.env, MEDSHIELD_THREADS: threads },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  out[m] = {
    forward: r3(py.forward / ms.forward),
    inputGrad: r3(py.inputGrad / ms.inputGrad),
    rssRatio: r3(ms.rssMB / py.rssMB),
  };
  process.stderr.write(
    `${m.padEnd(16)} forward ${ms.forward.toFixed(0)} ms (PyTorch ${py.forward.toFixed(0)})  input ` +
      `grad ${ms.inputGrad.toFixed(0)} ms (PyTorch ${py.inputGrad.toFixed(0)})  RSS ${ms.rssMB.toFixed(0)}` +
      ` MB (PyTorch ${py.rssMB.toFixed(0)}) [${ms.backend}, batch ${b}, ${threads} threads]\n`,
  );
}
process.stdout.write((args.includes('--json') ? JSON.stringify(out) : JSON.stringify(out, null, 1)) + '\n');
