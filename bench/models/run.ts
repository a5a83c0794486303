/**
 * `npm run bench:models [-- --json] [--models resnet50,…] [--batch 16] [--threads 2] [--iters 3]`:
 * torchvision ResNet-50, DenseNet-121, EfficientNet-B0 and ViT-B/16 at 224×224×3 (random init,
 * 2 classes), exported to ONNX by Debian's PyTorch 1.13 and imported as differentiable graphs:
 * forward and input-gradient speedups (PyTorch ms / medshield ms, ≥ 1 = medshield faster) against
 * eager PyTorch at the same thread count in the same run, and peak RSS ratio (medshield/PyTorch),
 * each side in its own process. Last stdout line with --json:
 * {"resnet50":{"forward","inputGrad","rssRatio"},…}. Issue 21, acceptance 3; see bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
const threads = opt('--threads', '2');
const iters = opt('--iters', '3');
const tmp = mkdtempSync(path.join(tmpdir(), 'medshield-bench-models-'));
const out: Record<string, { forward: number; inputGrad: number; rssRatio: number }> = {};
const r3 = (v: number): number => Math.round(v * 1000) / 1000;
try {
  for (const m of models) {
    const file = path.join(tmp, `${m}.onnx`);
    const py = JSON.parse(
      execFileSync('/usr/bin/python3', [path.join(src, 'torch_side.py'), m, file, batch, threads, iters], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .trim()
        .split('\n')
        .pop()!,
    );
    const ms = JSON.parse(
      execFileSync(process.execPath, [path.join(here, 'engine-side.js'), file, batch, threads, iters], {
        encoding: 'utf8',
        env: { ...process.env, MEDSHIELD_THREADS: threads },
      })
        .trim()
        .split('\n')
        .pop()!,
    );
    out[m] = {
      forward: r3(py.forward / ms.forward),
      inputGrad: r3(py.inputGrad / ms.inputGrad),
      rssRatio: r3(ms.rssMB / py.rssMB),
    };
    process.stderr.write(
      `${m.padEnd(16)} forward ${ms.forward.toFixed(0)} ms (PyTorch ${py.forward.toFixed(0)})  input ` +
        `grad ${ms.inputGrad.toFixed(0)} ms (PyTorch ${py.inputGrad.toFixed(0)})  RSS ${ms.rssMB.toFixed(0)}` +
        ` MB (PyTorch ${py.rssMB.toFixed(0)}) [${ms.backend}, batch ${batch}, ${threads} threads]\n`,
    );
    rmSync(file, { force: true });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
process.stdout.write((args.includes('--json') ? JSON.stringify(out) : JSON.stringify(out, null, 1)) + '\n');
