#!/usr/bin/python3
"""PyTorch reference for the training-memory figure of bench/README.md: a full-width ResNet-50
(torchvision's bottlenecks with medshield's 28-px stem: 3x3 conv, stride 1, no max-pool; 1 input
channel, 2 classes) trained with Adam at batch B on 28x28 inputs; prints the seconds per step and the
peak RSS (getrusage) after the optimiser steps, after the evaluation, and at the end.

Two modes:
- noise (default): N steps (--steps) on uniform noise of the training batch's shape (memory and time
  do not depend on pixel values); no evaluation.
- --data FILE.npz: what `medshield train --model resnet50 --dataset D --limit N --epochs E
  --batch-size B` does — a random sample of --limit training images, --epochs epochs of shuffled
  batches, then the evaluation passes medshield runs (validation after each epoch, then validation
  and test again) at batch --eval-batch (256, medshield's) in eval mode under torch.no_grad().

  /usr/bin/time -v /usr/bin/python3 bench/models/torch_train_rss.py --steps 3 --batch 128 --threads 2
  /usr/bin/time -v /usr/bin/python3 bench/models/torch_train_rss.py --data data/pneumoniamnist.npz \
      --limit 384 --epochs 1 --batch 128 --threads 2
"""
import argparse, json, resource, time
import torch, torch.nn as nn, torch.nn.functional as F, torchvision

ap = argparse.ArgumentParser()
ap.add_argument('--steps', type=int, default=3)
ap.add_argument('--batch', type=int, default=128)
ap.add_argument('--threads', type=int, default=2)
ap.add_argument('--data', default=None)
ap.add_argument('--limit', type=int, default=384)
ap.add_argument('--epochs', type=int, default=1)
ap.add_argument('--eval-batch', type=int, default=256)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
net = torchvision.models.resnet50(num_classes=2)
net.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)
net.maxpool = nn.Identity()
opt = torch.optim.Adam(net.parameters(), 1e-3)
peak_mb = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step(x, y):
    net.train()
    t = time.perf_counter()
    opt.zero_grad()
    F.cross_entropy(net(x), y).backward()
    opt.step()
    return time.perf_counter() - t


def images(arr):
    return torch.from_numpy(arr.astype('float32') / 255.0).reshape(-1, 1, 28, 28)


ts = []
out = {}
if a.data is None:
    for _ in range(a.steps):
        ts.append(step(torch.rand(a.batch, 1, 28, 28), torch.randint(0, 2, (a.batch,))))
else:
    import numpy as np

    d = np.load(a.data)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(d['train_labels']), size=min(a.limit, len(d['train_labels'])), replace=False)
    xtr, ytr = images(d['train_images'][pick]), torch.from_numpy(d['train_labels'][pick].reshape(-1).astype('int64'))
    splits = {s: images(d[f'{s}_images']) for s in ('val', 'test')}

    def evaluate(x):
        net.eval()
        with torch.no_grad():
            return torch.cat([F.softmax(net(x[i:i + a.eval_batch]), 1) for i in range(0, len(x), a.eval_batch)])

    steps_peak = 0
    for _ in range(a.epochs):
        order = torch.randperm(len(xtr))
        for i in range(0, len(xtr), a.batch):
            j = order[i:i + a.batch]
            ts.append(step(xtr[j], ytr[j]))
        steps_peak = max(steps_peak, peak_mb())
        evaluate(splits['val'])
    evaluate(splits['val'])
    evaluate(splits['test'])
    out = {'stepsPeakMB': round(steps_peak), 'steps': len(ts)}
print(json.dumps({'secondsPerStep': sorted(ts)[len(ts) // 2], **out, 'rssMB': peak_mb()}))
