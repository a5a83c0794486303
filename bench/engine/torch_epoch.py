#!/usr/bin/python3
"""One training epoch of ResNet-18 on PneumoniaMNIST in PyTorch — the reference for
`medshield train --dataset pneumoniamnist --model resnet18 --epochs 1` (bench/README.md).

Same as medshield's training loop (src/models/train.ts) where it matters for time:
  * the architecture of bench/engine/torch_ref.py (= src/models/architectures.ts, width 64);
  * data/pneumoniamnist.npz read with numpy, train split 4708 images, x/255 in [0,1];
  * batch 128 (37 steps, the last one 100 images), shuffled each epoch;
  * Adam, lr 1e-3 with the cosine schedule per step, balanced class weights in the
    cross-entropy (medshield's `auto` for binary tasks), the loss read back every step;
  * augmentation: random translation by up to +-2 px with zero fill (numpy, per image);
  * after the epoch, the validation split (524 images) in eval mode, batch 256, accuracy + AUC.
Differs: random streams (shuffle order, shifts, initial weights) are numpy/torch's, not
medshield's; medshield also keeps a copy of the best weights and, after training, evaluates val
and test again and saves the model (outside `training.seconds`, inside its command's wall time).

  /usr/bin/python3 bench/engine/torch_epoch.py [--threads 2] [--epochs 1] [--npz data/pneumoniamnist.npz]

Prints one JSON line: trainSeconds (the step loop), valSeconds, epochSeconds (both), per epoch.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ref import ResNet18  # noqa: E402


def shift_batch(x, rng):
    """Random translation by up to +-2 px per image, zero fill (x: N,1,H,W float32)."""
    out = np.zeros_like(x)
    n, _, h, w = x.shape
    for i in range(n):
        dy, dx = rng.integers(-2, 3), rng.integers(-2, 3)
        ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
        xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
        out[i, :, yd, xd] = x[i, :, ys, xs]
    return out


def auc(scores, labels):
    order = np.argsort(scores, kind='mergesort')
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--npz', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'data', 'pneumoniamnist.npz'))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    d = np.load(a.npz)
    xtr = (d['train_images'].astype(np.float32) / 255.0)[:, None]
    ytr = d['train_labels'].reshape(-1).astype(np.int64)
    xva = torch.from_numpy((d['val_images'].astype(np.float32) / 255.0)[:, None])
    yva = d['val_labels'].reshape(-1).astype(np.int64)
    k = 2
    counts = np.bincount(ytr, minlength=k)
    weights = torch.tensor(len(ytr) / (k * counts), dtype=torch.float32)

    model = ResNet18(1, k, 64)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = math.ceil(len(ytr) / a.batch)
    total = steps * a.epochs
    epochs = []
    for ep in range(a.epochs):
        t0 = time.perf_counter()
        model.train()
        order = rng.permutation(len(ytr))
        loss_sum = 0.0
        for s in range(steps):
            for g in opt.param_groups:
                g['lr'] = 1e-3 * 0.5 * (1 + math.cos(math.pi * (ep * steps + s) / total))
            idx = order[s * a.batch:(s + 1) * a.batch]
            x = torch.from_numpy(shift_batch(xtr[idx], rng))
            y = torch.from_numpy(ytr[idx])
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y, weight=weights)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
        t1 = time.perf_counter()
        model.eval()
        with torch.no_grad():
            probs = torch.cat([F.softmax(model(xva[i:i + 256]), dim=1) for i in range(0, len(yva), 256)]).numpy()
        t2 = time.perf_counter()
        epochs.append({'epoch': ep + 1, 'trainSeconds': round(t1 - t0, 2), 'valSeconds': round(t2 - t1, 2),
                       'epochSeconds': round(t2 - t0, 2), 'loss': round(loss_sum / len(ytr), 4),
                       'valAccuracy': round(float((probs.argmax(1) == yva).mean()), 4), 'valAuc': round(auc(probs[:, 1], yva), 4)})
        print(json.dumps(epochs[-1]), file=sys.stderr)
    print(json.dumps({'torch': torch.__version__, 'threads': a.threads, 'batch': a.batch, 'steps': steps, 'epochs': epochs}))


if __name__ == '__main__':
    main()
