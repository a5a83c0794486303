/**
 * Per-kernel throughput of the native oneDNN backend vs tfjs' cpu backend vs PyTorch (Debian's
 * python3-torch, oneDNN inside, same thread count) — GFLOP/s = 2·MACs / median time.
 * Kernels: 3×3 'same' convolution forward, backward-data and backward-filter at batch 128 on
 * ResNet-18's stage shapes for 28×28 inputs, plus the sgemm peak (2048² matrix product).
 * The cpu backend is timed at batch 2 (it needs ~10 s per batch-128 conv); GFLOP/s is per FLOP,
 * so the figures compare. Run on a quiet machine: other processes halve 2-thread figures.
 *
 *   node dist/bench/native-kernels.js [--threads 2] [--reps 5] [--no-torch] [--no-cpu] [--json]
 * Last line with --json: {"threads","kernels":[{"name","shape","native","cpu","torch"}…],"sgemm":{…}}.
 */
import { spawnSync } from 'node:child_process';
import { initEngine, tf } from '../src/engine/index.js';
import { nativeInfo } from '../src/engine/native/index.js';

interface Args {
  threads: number;
  reps: number;
  torch: boolean;
  cpu: boolean;
  json: boolean;
}
function parseArgs(argv: string[]): Args {
  const a: Args = { threads: Number(process.env.MEDSHIELD_THREADS ?? 2), reps: 5, torch: true, cpu: true, json: false };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--threads') a.threads = Number(argv[++i]);
    else if (v === '--reps') a.reps = Number(argv[++i]);
    else if (v === '--no-torch') a.torch = false;
    else if (v === '--no-cpu') a.cpu = false;
    else if (v === '--json') a.json = true;
  }
  return a;
}

interface ConvShape {
  n: number;
  h: number;
  c: number;
  oc: number;
  stride: number;
}
const SHAPES: ConvShape[] = [
  { n: 128, h: 28, c: 64, oc: 64, stride: 1 },
  { n: 128, h: 14, c: 128, oc: 128, stride: 1 },
  { n: 128, h: 7, c: 256, oc: 256, stride: 1 },
  { n: 128, h: 28, c: 64, oc: 128, stride: 2 },
];
const KINDS = ['fwd', 'bwd_data', 'bwd_filter'] as const;
type Kind = (typeof KINDS)[number];
const SGEMM_N = 2048;

function convFlops(s: ConvShape, n = s.n): number {
  const oh = Math.ceil(s.h / s.stride);
  return 2 * n * oh * oh * s.oc * 9 * s.c;
}

function median(xs: number[]): number {
  const s = [...xs].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)]!;
}

/** Median milliseconds of `f` over `reps` runs after one warm-up. */
function time(f: () => tf.Tensor, reps: number): number {
  const ts: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    const r = f();
    r.dataSync();
    const t = performance.now() - t0;
    r.dispose();
    if (i > 0) ts.push(t);
  }
  return median(ts);
}

function convOp(kind: Kind, s: ConvShape, n: number): () => tf.Tensor {
  const oh = Math.ceil(s.h / s.stride);
  const x = tf.randomNormal([n, s.h, s.h, s.c], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, s.c, s.oc], 0, 0.05, 'float32', 2) as tf.Tensor4D;
  const dy = tf.randomNormal([n, oh, oh, s.oc], 0, 1, 'float32', 3) as tf.Tensor4D;
  if (kind === 'fwd') return () => tf.conv2d(x, w, s.stride, 'same');
  if (kind === 'bwd_data') return () => tf.conv2dTranspose(dy, w, [n, s.h, s.h, s.c], s.stride, 'same');
  const attrs = { strides: [s.stride, s.stride], pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, s.c, s.oc] };
  return () =>
    tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

function gflops(flops: number, ms: number): number {
  return Math.round((flops / ms / 1e6) * 10) / 10;
}
function gflops2(flops: number, ms: number): number {
  return Math.round((flops / ms / 1e6) * 100) / 100;
}

const TORCH_SCRIPT = String.raw`
import json, sys, time, torch
cfg = json.loads(sys.argv[1]); torch.set_num_threads(cfg['threads'])
def med(f, reps):
    ts = []
    for i in range(reps + 1):
        t0 = time.perf_counter(); f(); t = (time.perf_counter() - t0) * 1000
        if i: ts.append(t)
    ts.sort(); return ts[len(ts) // 2]
out = {'version': torch.__version__, 'conv': [], 'sgemm_ms': None}
for s in cfg['shapes']:
    n, h, c, oc, st = s['n'], s['h'], s['c'], s['oc'], s['stride']
    x = torch.randn(n, c, h, h, requires_grad=True); w = (torch.randn(oc, c, 3, 3) * 0.05).requires_grad_()
    fwd = lambda: torch.nn.functional.conv2d(x, w, stride=st, padding=1)
    y = fwd(); dy = torch.randn_like(y)
    r = {}
    with torch.no_grad(): r['fwd'] = med(fwd, cfg['reps'])
    r['bwd_data'] = med(lambda: torch.ops.aten.convolution_backward(dy, x, w, None, [st, st], [1, 1], [1, 1], False, [0, 0], 1, [True, False, False]), cfg['reps'])
    r['bwd_filter'] = med(lambda: torch.ops.aten.convolution_backward(dy, x, w, None, [st, st], [1, 1], [1, 1], False, [0, 0], 1, [False, True, False]), cfg['reps'])
    out['conv'].append(r)
a = torch.randn(cfg['gemm'], cfg['gemm']); b = torch.randn(cfg['gemm'], cfg['gemm'])
out['sgemm_ms'] = med(lambda: a @ b, cfg['reps'])
print(json.dumps(out))
`;

interface TorchResult {
  version: string;
  conv: Record<Kind, number>[];
  sgemm_ms: number;
}
function runTorch(threads: number, reps: number): TorchResult | string {
  const r = spawnSync(
    '/usr/bin/python3',
    ['-c', TORCH_SCRIPT, JSON.stringify({ threads, reps, shapes: SHAPES, gemm: SGEMM_N })],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  if (r.status !== 0) return `PyTorch unavailable (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchResult;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const info = await initEngine({ backend: 'native', threads: a.threads });
  const ni = nativeInfo();
  const log = (s: string): void => {
    if (!a.json) console.log(s);
    else console.error(s);
  };
  log(`native backend: oneDNN ${ni?.onednn} ${ni?.isa}, ${info.threads} threads`);
  const torch = a.torch ? runTorch(a.threads, a.reps) : 'skipped';
  if (typeof torch === 'string') log(torch);
  const kernels: { name: string; shape: string; native: number; cpu: number | null; torch: number | null }[] = [];
  SHAPES.forEach((s, si) => {
    for (const kind of KINDS) {
      tf.setBackend('native');
      const nat = tf.tidy(() => {
        const f = convOp(kind, s, s.n);
        return time(f, a.reps);
      });
      let cpu: number | null = null;
      if (a.cpu) {
        tf.setBackend('cpu');
        const n = 2;
        cpu = gflops2(
          convFlops(s, n),
          tf.tidy(() => {
            const f = convOp(kind, s, n);
            return time(f, 1);
          }),
        );
      }
      const tt = typeof torch === 'string' ? null : gflops(convFlops(s), torch.conv[si]![kind]);
      const row = {
        name: `conv3x3_${kind}`,
        shape: `[${s.n},${s.h},${s.h},${s.c}]→${s.oc} s${s.stride}`,
        native: gflops(convFlops(s), nat),
        cpu,
        torch: tt,
      };
      kernels.push(row);
      log(
        `${row.name.padEnd(20)} ${row.shape.padEnd(24)} native ${String(row.native).padStart(6)}  cpu ` +
          `${String(row.cpu ?? '-').padStart(5)}  torch ${String(row.torch ?? '-').padStart(6)} GFLOP/s`,
      );
    }
  });
  tf.setBackend('native');
  const nGemm = tf.tidy(() => {
    const p = tf.randomNormal([SGEMM_N, SGEMM_N]),
      q = tf.randomNormal([SGEMM_N, SGEMM_N]);
    return time(() => tf.matMul(p, q), a.reps);
  });
  const gemmFlops = 2 * SGEMM_N ** 3;
  const sgemm = {
    n: SGEMM_N,
    native: gflops(gemmFlops, nGemm),
    torch: typeof torch === 'string' ? null : gflops(gemmFlops, torch.sgemm_ms),
  };
  log(`sgemm ${SGEMM_N}²: native ${sgemm.native} GFLOP/s, torch ${sgemm.torch ?? '-'} GFLOP/s`);
  const peak = Math.max(sgemm.native, sgemm.torch ?? 0);
  const convAll = kernels.filter((k) => k.shape.startsWith('[128,28,28,64]→64'));
  const fb = convAll.length ? 3 / convAll.reduce((s, k) => s + 1 / k.native, 0) : 0;
  log(
    `conv fwd+bwd [128,28,28,64]→64: ${Math.round(fb)} GFLOP/s = ${Math.round((100 * fb) / peak)} % of the sgemm peak`,
  );
  if (a.json)
    console.log(
      JSON.stringify({
        threads: info.threads,
        torch: typeof torch === 'string' ? null : torch.version,
        kernels,
        sgemm,
        convFwdBwdOfPeak: Math.round((100 * fb) / peak) / 100,
      }),
    );
}

main().catch((e) => {
  console.error(`native-kernels: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
