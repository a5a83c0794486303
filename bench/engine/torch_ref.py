#!/usr/bin/python3
"""PyTorch reference timings for medshield's engine benchmark (bench/engine/run.ts).

Mirrors src/models/architectures.ts exactly (NCHW instead of NHWC):
  * input x in [0,1] is mapped to 2x-1 inside the model;
  * convs have no bias, 'same' padding with TensorFlow's rule (for a stride-2 3x3 conv on an
    even size the padding is (0,1): done with F.pad before an unpadded conv);
  * BatchNorm eps 1e-5, momentum 0.1 (= Keras momentum 0.9);
  * cnn (w=32): [conv3x3(w) BN ReLU]x2 maxpool2 [conv3x3(2w) BN ReLU]x2 maxpool2 flatten
    dense(128) ReLU dense(classes);
  * resnet18 (MedMNIST 28-px stem, w=64): conv3x3 BN ReLU, 4 stages x 2 BasicBlocks
    (w,2w,4w,8w; first strides 1,2,2,2; 1x1 conv + BN shortcut when the shape changes),
    global average pool, dense(classes).
Measures, per thread count: forward (eval, no_grad), one SGD train step (train mode: forward,
cross-entropy, backward, step) and the input gradient of the loss (eval mode,
torch.autograd.grad w.r.t. x), median ms per batch; per-conv-shape GFLOP/s (forward,
weight-gradient, input-gradient via aten.convolution_backward) and the sgemm peak (2048^2).
Prints one JSON object on stdout.

Run with Debian's python3-torch:  /usr/bin/python3 bench/engine/torch_ref.py --threads 1,2
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def tf_same_pad(size, k, s):
    """TensorFlow 'same' padding (before, after) for one spatial dimension."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class SameConv(nn.Module):
    def __init__(self, cin, cout, k, stride=1):
        super().__init__()
        self.k, self.s = k, stride
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=0, bias=False)

    def forward(self, x):
        t, b = tf_same_pad(x.shape[2], self.k, self.s)
        l, r = tf_same_pad(x.shape[3], self.k, self.s)
        if t or b or l or r:
            x = F.pad(x, (l, r, t, b))
        return self.conv(x)


def bn(c):
    return nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)


class Normalize(nn.Module):
    def forward(self, x):
        return 2 * x - 1


class SmallCNN(nn.Module):
    def __init__(self, in_ch=1, classes=2, w=32, size=28):
        super().__init__()
        def cbr(i, o):
            return [SameConv(i, o, 3), bn(o), nn.ReLU()]
        self.features = nn.Sequential(
            Normalize(),
            *cbr(in_ch, w), *cbr(w, w), nn.MaxPool2d(2),
            *cbr(w, 2 * w), *cbr(2 * w, 2 * w), nn.MaxPool2d(2),
            nn.Flatten())
        flat = 2 * w * (size // 4) * (size // 4)
        self.head = nn.Sequential(nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, classes))

    def forward(self, x):
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.b1 = SameConv(cin, cout, 3, stride), bn(cout)
        self.c2, self.b2 = SameConv(cout, cout, 3, 1), bn(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(SameConv(cin, cout, 1, stride), bn(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        s = x if self.short is None else self.short(x)
        return F.relu(y + s)


class ResNet18(nn.Module):
    def __init__(self, in_ch=1, classes=2, w=64):
        super().__init__()
        self.norm = Normalize()
        self.stem = nn.Sequential(SameConv(in_ch, w, 3), bn(w), nn.ReLU())
        layers, cin = [], w
        for s in range(4):
            cout = w << s
            for i in range(2):
                layers.append(BasicBlock(cin, cout, 2 if (i == 0 and s > 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layers(self.stem(self.norm(x)))
        return self.fc(x.mean(dim=(2, 3)))


def median_ms(fn, iters, warmup=1):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    return ts[len(ts) // 2]


def bench_model(model, batch, size, classes, iters, timer=None):
    """forward / trainStep / inputGrad of `model` on a seeded batch, each timed by `timer(fn, iters)` (default: median ms)."""
    timer = timer or median_ms
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, size, size, generator=g)
    y = torch.randint(0, classes, (batch,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def forward():
        model.eval()
        with torch.no_grad():
            model(x)

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    def input_grad():
        model.eval()
        xx = x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(xx), y), xx)

    return {"forward": timer(forward, iters), "trainStep": timer(train_step, iters),
            "inputGrad": timer(input_grad, iters)}


def conv_gflops(shapes, iters):
    """Summed-FLOP GFLOP/s over conv shapes: forward, weight grad, input grad."""
    tot = {"forward": [0.0, 0.0], "backwardFilter": [0.0, 0.0], "backwardInput": [0.0, 0.0]}
    for (b, h, w, ci, co, k, s, count) in shapes:
        x = torch.randn(b, ci, h, w)
        wt = torch.randn(co, ci, k, k)
        pt, pb = tf_same_pad(h, k, s)
        pl, pr = tf_same_pad(w, k, s)
        xp = F.pad(x, (pl, pr, pt, pb))
        y = F.conv2d(xp, wt, stride=s)
        dy = torch.randn_like(y)
        flops = 2.0 * b * y.shape[2] * y.shape[3] * k * k * ci * co * count
        conv_bwd = torch.ops.aten.convolution_backward
        cases = {
            "forward": lambda: F.conv2d(xp, wt, stride=s),
            "backwardFilter": lambda: conv_bwd(dy, xp, wt, None, [s, s], [0, 0], [1, 1], False, [0, 0], 1, [False, True, False]),
            "backwardInput": lambda: conv_bwd(dy, xp, wt, None, [s, s], [0, 0], [1, 1], False, [0, 0], 1, [True, False, False]),
        }
        for name, fn in cases.items():
            ms = median_ms(fn, iters)
            tot[name][0] += flops
            tot[name][1] += ms * count
    return {k: v[0] / v[1] / 1e6 for k, v in tot.items()}


def sgemm_peak(iters):
    """2048^2 x 2048^2 sgemm GFLOP/s: torch.matmul (whatever BLAS torch links; Debian's
    python3-torch uses the generic reference BLAS) and the same GEMM through oneDNN as a 1x1
    convolution (the kernel PyTorch's conv layers actually use)."""
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    flops = 2.0 * n ** 3
    ms_blas = median_ms(lambda: a @ b, iters)
    # 16 images of n/16 x 1 pixels (PyTorch only takes oneDNN for a 1x1 conv with batch >= 16 or >1 thread)
    x = torch.randn(16, n, n // 16, 1)
    w = torch.randn(n, n, 1, 1)
    ms_dnnl = median_ms(lambda: F.conv2d(x, w), iters)
    return {"matmul": flops / ms_blas / 1e6, "onednn1x1": flops / ms_dnnl / 1e6}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--models", default="cnn,resnet18")
    ap.add_argument("--conv-shapes", default="[]", help="JSON list of [b,h,w,ci,co,k,s,count]")
    args = ap.parse_args()
    torch.manual_seed(0)
    shapes = json.loads(args.conv_shapes)
    out = {"torch": torch.__version__, "batch": args.batch, "threads": {}}
    for t in [int(v) for v in args.threads.split(",")]:
        torch.set_num_threads(t)
        res = {}
        for name in args.models.split(","):
            model = SmallCNN(classes=args.classes, size=args.size) if name == "cnn" else ResNet18(classes=args.classes)
            res[name] = bench_model(model, args.batch, args.size, args.classes, args.iters)
        res["sgemmPeak"] = sgemm_peak(max(2, args.iters // 2))
        if shapes:
            res["conv"] = conv_gflops(shapes, args.iters)
        out["threads"][str(t)] = res
    print(json.dumps(out))


if __name__ == "__main__":
    main()
