/**
 * Where the engine benchmark's time goes: wall time per tfjs kernel (every kernel function of the
 * active backend wrapped with a timer; nested kernels are counted in their caller too) for one
 * workload of bench/engine, after a warm-up. Also prints the total wall time and the share spent
 * outside kernels (tape, tidy, tfjs-layers bookkeeping). Wall and process CPU time (all threads;
 * CPU time is the steadier figure when other jobs share the cores).
 *
 *   node dist/bench/engine/profile.js [--model cnn|resnet18] [--workload forward|trainStep|inputGrad]
 *                                     [--backend native] [--batch 128] [--iters 3] [--threads 2] [--json]
 */
import { initEngine, tf, type BackendName } from '../../src/engine/index.js';
import { buildModel } from '../../src/models/architectures.js';
import { batchData, workloadFns, type Workloads } from './measure.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

async function main(): Promise<void> {
  const model = arg('model', 'cnn') as 'cnn' | 'resnet18';
  const workload = arg('workload', 'trainStep') as keyof Workloads;
  const backend = arg('backend', 'native') as BackendName;
  const batch = Number(arg('batch', '128'));
  const iters = Number(arg('iters', '3'));
  const info = await initEngine({ backend, threads: Number(arg('threads', '2')) });
  const net = buildModel({ arch: model, inputShape: [28, 28, 1], numClasses: 2, seed: 0 });
  const { x, y } = batchData(batch, [28, 28, 1], 2);
  const fns = workloadFns(net, x, y, batch);
  const fn = fns[workload];

  // Wrap every kernel of the backend with a timer.
  const times = new Map<string, { ms: number; cpu: number; calls: number }>();
  let depth = 0;
  for (const k of tf.getKernelsForBackend(info.backend)) {
    const inner = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, info.backend);
    tf.registerKernel({
      ...k,
      kernelFunc: ((a: Parameters<tf.KernelFunc>[0]) => {
        const t0 = performance.now();
        const c0 = depth === 0 ? process.cpuUsage() : null;
        depth++;
        try {
          return inner(a);
        } finally {
          depth--;
          if (depth === 0) {
            const e = times.get(k.kernelName) ?? { ms: 0, cpu: 0, calls: 0 };
            const c = process.cpuUsage(c0!);
            e.ms += performance.now() - t0;
            e.cpu += (c.user + c.system) / 1000;
            e.calls++;
            times.set(k.kernelName, e);
          }
        }
      }) as tf.KernelFunc,
    });
  }
  fn(); // warm-up (also oneDNN primitive creation)
  times.clear();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < iters; i++) fn();
  const total = (performance.now() - t0) / iters;
  const cu = process.cpuUsage(c0);
  const totalCpu = (cu.user + cu.system) / 1000 / iters;
  const rows = [...times.entries()]
    .map(([name, v]) => ({ name, ms: v.ms / iters, cpuMs: v.cpu / iters, calls: v.calls / iters }))
    .sort((a, b) => b.ms - a.ms);
  const inKernels = rows.reduce((s, r) => s + r.ms, 0);
  const inKernelsCpu = rows.reduce((s, r) => s + r.cpuMs, 0);
  fns.dispose();
  if (process.argv.includes('--json')) {
    console.log(
      JSON.stringify({
        model,
        workload,
        backend: info.backend,
        batch,
        totalMs: total,
        totalCpuMs: totalCpu,
        outsideKernelsMs: total - inKernels,
        outsideKernelsCpuMs: totalCpu - inKernelsCpu,
        kernels: rows,
      }),
    );
    return;
  }
  console.log(
    `${model} ${workload} on ${info.backend} (${info.threads}T), batch ${batch}` +
      `: ${total.toFixed(1)} ms wall / ${totalCpu.toFixed(1)} ms CPU per call, ` +
      `${(total - inKernels).toFixed(1)} ms wall / ${(totalCpu - inKernelsCpu).toFixed(1)} ms CPU outside kernels`,
  );
  console.log(`${'kernel'.padEnd(28)} ${'wall ms'.padStart(8)} ${'CPU ms'.padStart(8)} calls`);
  for (const r of rows)
    if (r.ms >= 0.05)
      console.log(
        `${r.name.padEnd(28)} ${r.ms.toFixed(1).padStart(8)} ` +
          `${r.cpuMs.toFixed(1).padStart(8)} ${String(r.calls).padStart(5)}`,
      );
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
