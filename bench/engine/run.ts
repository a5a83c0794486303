/**
 * Engine benchmark (issue 4 §1): forward, one SGD train step and the input gradient of the loss,
 * ms per batch of 128 on 28×28×1, for the small CNN and ResNet-18 of src/models/architectures.ts,
 * on every medshield backend available (native when its addon is built, wasm, and cpu for the
 * small CNN only), next to the same models in PyTorch (bench/engine/torch_ref.py, Debian's
 * python3-torch) measured in the same run at 1 and 2 threads; plus achieved GFLOP/s of the conv
 * layers (FLOPs counted analytically) and the machine's sgemm peak.
 *
 *   npm run bench:engine [-- --json] [--iters N] [--batch B] [--threads T] [--models cnn,resnet18]
 *                        [--backends native,wasm,cpu] [--micro-batch M] [--cpu-batch C]
 *
 * The pure-JS cpu backend is ~1000× slower than PyTorch on gradients: it is measured on a batch
 * of C (default 8) and its times are scaled linearly to the batch size (all three workloads are
 * linear in the batch), flagged in the table.
 *
 * With --json the LAST line is {"cnn":{"forward","trainStep","inputGrad"},"resnet18":{…},"gflops":{…}}
 * where each workload value is a speedup = PyTorch time (T threads, default 2) / time of the
 * fastest medshield backend (≥ 1 means medshield is faster).
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { initEngine, tf, type BackendName } from '../../src/engine/index.js';
import { buildModel } from '../../src/models/architectures.js';
import { PACKAGE_ROOT } from '../../src/version.js';
import {
  batchData,
  convGflops,
  convShapes,
  timeWorkloads,
  type ConvGflops,
  type ConvShape,
  type Workloads,
} from './measure.js';

type ModelName = 'cnn' | 'resnet18';
const WORKLOADS: Array<keyof Workloads> = ['forward', 'trainStep', 'inputGrad'];

interface Args {
  json: boolean;
  iters: number;
  batch: number;
  threads: number;
  models: ModelName[];
  backends: BackendName[];
  microBatch?: number;
  cpuBatch: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    json: false,
    iters: 3,
    batch: 128,
    threads: 2,
    models: ['cnn', 'resnet18'],
    backends: ['native', 'wasm', 'cpu'],
    cpuBatch: 8,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    const int = () => {
      const n = Number(v());
      if (!Number.isInteger(n) || n < 1) throw new Error(`${k} needs a positive integer`);
      return n;
    };
    if (k === '--json') a.json = true;
    else if (k === '--iters') a.iters = int();
    else if (k === '--batch') a.batch = int();
    else if (k === '--threads') a.threads = int();
    else if (k === '--micro-batch') a.microBatch = int();
    else if (k === '--cpu-batch') a.cpuBatch = int();
    else if (k === '--models') a.models = v().split(',') as ModelName[];
    else if (k === '--backends') a.backends = v().split(',') as BackendName[];
    else throw new Error(`unknown option ${k}`);
  }
  return a;
}

interface TorchThreads {
  cnn?: Workloads;
  resnet18?: Workloads;
  sgemmPeak: { matmul: number; onednn1x1: number };
  conv?: ConvGflops;
}
interface TorchResult {
  torch: string;
  threads: Record<string, TorchThreads>;
}

function runTorch(args: Args, shapes: ConvShape[]): TorchResult | string {
  const script = path.join(PACKAGE_ROOT, 'bench', 'engine', 'torch_ref.py');
  const threads = [...new Set([1, args.threads])].join(',');
  const r = spawnSync(
    '/usr/bin/python3',
    [
      script,
      '--threads',
      threads,
      '--batch',
      String(args.batch),
      '--iters',
      String(Math.max(3, args.iters)),
      '--models',
      args.models.join(','),
      '--conv-shapes',
      JSON.stringify(shapes.map((c) => [c.b, c.h, c.w, c.ci, c.co, c.k, c.s, c.count])),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (r.error) return `cannot run /usr/bin/python3 (${r.error.message})`;
  if (r.status !== 0) return `torch_ref.py failed: ${(r.stderr || '').trim().split('\n').pop()}`;
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as TorchResult;
}

const log = (args: Args, s: string) => {
  if (!args.json) process.stdout.write(s + '\n');
  else process.stderr.write(s + '\n');
};
const fmt = (x: number | undefined, d = 0) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const shape: [number, number, number] = [28, 28, 1];
  const classes = 2;
  const loadBefore = os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

  // Conv shapes of both models (backend-independent: built once on cpu).
  await initEngine({ backend: 'cpu' });
  const allShapes: ConvShape[] = [];
  for (const m of args.models) {
    const model = buildModel({ arch: m, inputShape: shape, numClasses: classes, seed: 0 });
    allShapes.push(...convShapes(model, args.batch));
    model.dispose();
  }

  log(args, `PyTorch reference (/usr/bin/python3, threads 1 and ${args.threads})…`);
  const torch = runTorch(args, allShapes);
  if (typeof torch === 'string') log(args, `PyTorch: ${torch}`);

  const results: Partial<
    Record<
      BackendName,
      {
        models: Partial<Record<ModelName, Workloads & { microBatch: number; measuredBatch: number }>>;
        conv?: ConvGflops;
        threads: number;
      }
    >
  > = {};
  for (const backend of args.backends) {
    let info;
    try {
      info = await initEngine({ backend, threads: args.threads });
    } catch (e) {
      log(args, `${backend}: not available (${e instanceof Error ? e.message : String(e)})`);
      continue;
    }
    const res: NonNullable<(typeof results)[BackendName]> = { models: {}, threads: info.threads };
    results[backend] = res;
    for (const m of args.models) {
      if (backend === 'cpu' && m !== 'cnn') continue; // the pure-JS backend would take hours
      // The wasm heap is 4 GB: ResNet-18 trains in micro-batches there (as src/models/train.ts does).
      const micro = args.microBatch ?? (backend === 'wasm' && m !== 'cnn' ? 32 : args.batch);
      log(
        args,
        `${backend} (${info.threads} thread${info.threads > 1 ? 's' : ''}` +
          `${info.simd ? ', SIMD' : ''}): ${m}, micro-batch ${micro}…`,
      );
      const model = buildModel({ arch: m, inputShape: shape, numClasses: classes, seed: 0 });
      const measuredBatch = backend === 'cpu' ? Math.min(args.cpuBatch, args.batch) : args.batch;
      const { x, y } = batchData(measuredBatch, shape, classes);
      try {
        if (backend === 'cpu') {
          const w = timeWorkloads(model, x, y, 1, measuredBatch, 0);
          const k = args.batch / measuredBatch;
          res.models[m] = {
            forward: w.forward * k,
            trainStep: w.trainStep * k,
            inputGrad: w.inputGrad * k,
            microBatch: args.batch,
            measuredBatch,
          };
        } else {
          res.models[m] = { ...timeWorkloads(model, x, y, args.iters, micro), microBatch: micro, measuredBatch };
        }
      } catch (e) {
        log(args, `${backend}: ${m} failed (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); left out`);
      }
      tf.dispose([x, y]);
      model.dispose();
    }
    if (backend !== 'cpu') {
      log(args, `${backend}: conv-layer GFLOP/s…`);
      try {
        res.conv = convGflops(allShapes, Math.min(args.iters, 2));
      } catch (e) {
        log(args, `${backend}: conv GFLOP/s failed (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
      }
    }
  }

  // Fastest medshield backend per model (smallest total of the three workloads).
  const fastest: Partial<Record<ModelName, BackendName>> = {};
  for (const m of args.models) {
    let best: BackendName | undefined;
    let bestT = Infinity;
    for (const [b, r] of Object.entries(results) as Array<[BackendName, NonNullable<(typeof results)[BackendName]>]>) {
      const w = r.models[m];
      if (!w) continue;
      const t = w.forward + w.trainStep + w.inputGrad;
      if (t < bestT) {
        bestT = t;
        best = b;
      }
    }
    if (best) fastest[m] = best;
  }

  const pt = (t: number, m: ModelName) => (typeof torch === 'string' ? undefined : torch.threads[String(t)]?.[m]);
  const out: Record<string, unknown> = {};
  for (const m of args.models) {
    const b = fastest[m];
    const ours = b ? results[b]!.models[m] : undefined;
    const ref = pt(args.threads, m);
    out[m] = Object.fromEntries(WORKLOADS.map((k) => [k, ours && ref ? Number((ref[k] / ours[k]).toFixed(4)) : null]));
  }
  const round = (o: object | undefined) =>
    o ? Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number((v as number).toFixed(2))])) : null;
  // Conv-layer GFLOP/s (forward / backwardFilter / backwardInput) per medshield backend and for
  // PyTorch, plus the sgemm peak (torch.matmul and the same GEMM through oneDNN).
  out.gflops = {
    ...Object.fromEntries(
      (['native', 'wasm'] as BackendName[]).filter((b) => results[b]?.conv).map((b) => [b, round(results[b]!.conv)]),
    ),
    pytorch1: round(typeof torch === 'string' ? undefined : torch.threads['1']?.conv),
    [`pytorch${args.threads}`]: round(
      typeof torch === 'string' ? undefined : torch.threads[String(args.threads)]?.conv,
    ),
    sgemmPeak1: round(typeof torch === 'string' ? undefined : torch.threads['1']?.sgemmPeak),
    [`sgemmPeak${args.threads}`]: round(
      typeof torch === 'string' ? undefined : torch.threads[String(args.threads)]?.sgemmPeak,
    ),
  };

  // Human-readable table.
  const rows: string[] = [];
  rows.push(
    `batch ${args.batch}, 28×28×1, 2 classes; median of ${args.iters} after ` +
      `a warm-up (cpu: one run); ms per batch; * = fastest medshield backend`,
  );
  rows.push(
    `load average before / after: ${loadBefore} / ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')} on ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`,
  );
  rows.push(
    `${'model'.padEnd(9)}${'engine'.padEnd(22)}${'forward'.padStart(10)}` +
      `${'trainStep'.padStart(11)}${'inputGrad'.padStart(11)}`,
  );
  for (const m of args.models) {
    for (const [b, r] of Object.entries(results) as Array<[BackendName, NonNullable<(typeof results)[BackendName]>]>) {
      const w = r.models[m];
      if (!w) continue;
      const tag =
        `${b} ${r.threads}T${w.microBatch < args.batch ? ` µb${w.microBatch}` : ''}` +
        `${w.measuredBatch < args.batch ? ` (b${w.measuredBatch}×${args.batch / w.measuredBatch})` : ''}` +
        `${fastest[m] === b ? ' *' : ''}`;
      rows.push(
        `${m.padEnd(9)}${tag.padEnd(22)}${fmt(w.forward).padStart(10)}` +
          `${fmt(w.trainStep).padStart(11)}${fmt(w.inputGrad).padStart(11)}`,
      );
    }
    for (const t of [...new Set([1, args.threads])]) {
      const w = pt(t, m);
      if (w)
        rows.push(
          `${m.padEnd(9)}${`pytorch ${t}T`.padEnd(22)}${fmt(w.forward).padStart(10)}` +
            `${fmt(w.trainStep).padStart(11)}${fmt(w.inputGrad).padStart(11)}`,
        );
    }
    const b = fastest[m];
    for (const t of [...new Set([1, args.threads])]) {
      const ref = pt(t, m),
        ours = b ? results[b]!.models[m] : undefined;
      if (!ref || !ours) continue;
      rows.push(
        `${m.padEnd(9)}${`speedup vs pytorch ${t}T`.padEnd(22)}` +
          `${WORKLOADS.map((k, i) => fmt(ref[k] / ours[k], 3).padStart(i ? 11 : 10)).join('')}`,
      );
    }
  }
  rows.push('conv layers, GFLOP/s (forward / weight grad / input grad), FLOPs summed over both models:');
  for (const [b, r] of Object.entries(results) as Array<[BackendName, NonNullable<(typeof results)[BackendName]>]>) {
    if (r.conv)
      rows.push(
        `  ${b.padEnd(12)} ${fmt(r.conv.forward, 1)} / ` +
          `${fmt(r.conv.backwardFilter, 1)} / ${fmt(r.conv.backwardInput, 1)}`,
      );
  }
  if (typeof torch !== 'string') {
    for (const [t, r] of Object.entries(torch.threads)) {
      if (r.conv)
        rows.push(
          `  ${`pytorch ${t}T`.padEnd(12)} ${fmt(r.conv.forward, 1)} / ` +
            `${fmt(r.conv.backwardFilter, 1)} / ${fmt(r.conv.backwardInput, 1)}`,
        );
      rows.push(
        `  sgemm 2048² ${t}T: torch.matmul ${fmt(r.sgemmPeak.matmul, 1)} GFLOP/s ` +
          `(Debian generic BLAS), oneDNN 1×1 conv ${fmt(r.sgemmPeak.onednn1x1, 1)} GFLOP/s`,
      );
    }
  }
  log(args, rows.join('\n'));
  if (args.json) process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench:engine: error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
});
