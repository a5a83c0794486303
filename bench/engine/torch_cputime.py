#!/usr/bin/python3
"""CPU time (all threads, time.process_time) and wall time of PyTorch's three engine-benchmark
workloads (forward, SGD train step, input gradient; bench/engine/torch_ref.py's models and loops),
with OMP_WAIT_POLICY=passive so idle OpenMP threads sleep instead of spinning — the same setting
medshield's native addon uses. CPU time measures the work done and is far less sensitive than
wall time to other jobs sharing the cores; compare with `node dist/bench/engine/profile.js --json`
(`totalCpuMs`).

  /usr/bin/python3 bench/engine/torch_cputime.py [--threads 2] [--iters 3] [--models cnn,resnet18]
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault('OMP_WAIT_POLICY', 'passive')  # before torch loads libgomp
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ref import ResNet18, SmallCNN, bench_model  # noqa: E402


def median(fn, iters):
    fn()
    rows = []
    for _ in range(iters):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        rows.append(((time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000))
    rows.sort()
    w, c = rows[len(rows) // 2]
    return {'wallMs': round(w, 1), 'cpuMs': round(c, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--iters', type=int, default=3)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--models', default='cnn,resnet18')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = {'torch': torch.__version__, 'threads': a.threads, 'ompWaitPolicy': os.environ['OMP_WAIT_POLICY']}
    for name in a.models.split(','):
        model = SmallCNN(classes=2, size=28) if name == 'cnn' else ResNet18(classes=2)
        out[name] = bench_model(model, a.batch, 28, 2, a.iters, timer=median)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
