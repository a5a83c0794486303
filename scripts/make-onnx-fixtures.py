#!/usr/bin/python3
"""Export the ONNX fixtures for medshield's differentiable ONNX import (issue 21).

Run with Debian's python3 (python3-torch 1.13, python3-torchvision 0.14, python3-onnx 1.12):

    /usr/bin/python3 scripts/make-onnx-fixtures.py [--out test/fixtures/onnx]

Writes, per fixture, NAME.onnx and NAME.json: PyTorch's logits on 16 real PneumoniaMNIST test
images (8 per class, data/pneumoniamnist.npz), the input gradient of the summed cross-entropy
w.r.t. the 28x28 grey image in [0,1] (through the declared preprocessing: grey -> RGB replication
for 3-channel models, (x - mean) / std when declared), and PyTorch's own PGD-20 (L-inf, no random
start, step eps/4, per-sample early stop as medshield's) robust accuracy on the same images.

Fixtures: width-reduced, random-initialised torchvision architectures (resnet18's blocks,
densenet, mobilenet_v2/v3, efficientnet_b0, convnext, vit) whose batch-norm statistics are set
by a few forward passes over real training images (so activations stay in a sane range), small
hand-built modules for the remaining ops, and one small CNN trained for two epochs on
PneumoniaMNIST (the fixture that goes through attack/detect/defend/scorecard/serve).
"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models import resnet, densenet, efficientnet, convnext, vision_transformer, mobilenetv3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPS = 2 / 255


def load_data():
    d = np.load(os.path.join(ROOT, 'data', 'pneumoniamnist.npz'))
    tr = torch.tensor(d['train_images'], dtype=torch.float32).unsqueeze(1) / 255.0
    trl = torch.tensor(d['train_labels'][:, 0], dtype=torch.long)
    te = d['test_images'].astype(np.float32) / 255.0
    tel = d['test_labels'][:, 0].astype(np.int64)
    idx = [i for i in range(len(tel)) if tel[i] == 0][:8] + [i for i in range(len(tel)) if tel[i] == 1][:8]
    return tr, trl, torch.tensor(te[idx]).unsqueeze(1), torch.tensor(tel[idx]), idx


class Pre(nn.Module):
    """The preprocessing medshield applies in its differentiable path (not exported)."""

    def __init__(self, net, channels, mean=None, std=None):
        super().__init__()
        self.net, self.channels, self.mean, self.std = net, channels, mean, std

    def forward(self, x):
        if self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        if self.mean is not None:
            m = torch.tensor(self.mean).view(1, -1, 1, 1)
            s = torch.tensor(self.std).view(1, -1, 1, 1)
            x = (x - m) / s
        return self.net(x)


class SmallResNet(resnet.ResNet):
    """torchvision's ResNet-18 layout (BasicBlock, [2,2,2,2]) at 1/8 width after the stem."""

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        return super()._make_layer(block, max(8, planes // 8), blocks, stride, dilate)


class OpsA(nn.Module):
    """Activations, element-wise arithmetic, pools with ceil_mode / count_include_pad, pads, resize."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=2, dilation=2)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.ct = nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1)
        self.inorm = nn.InstanceNorm2d(6, affine=True)
        self.prelu = nn.PReLU(6)
        self.c3 = nn.Conv2d(6, 6, 3, stride=2, padding=(0, 1))
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 2 + 6, 2)

    def forward(self, x):
        y = F.leaky_relu(self.c1(x), 0.1)
        y = F.elu(self.c2(y)) + torch.sigmoid(y) * torch.tanh(y)
        y = F.hardsigmoid(y) * F.softplus(y) - F.hardswish(y)
        y = self.prelu(self.inorm(self.ct(y)))                      # 56x56
        y = F.avg_pool2d(y, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)   # 28
        y = F.avg_pool2d(y, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=True)    # 15
        y = F.max_pool2d(y, 2, stride=2, ceil_mode=True)              # 8
        y = F.pad(y, (1, 0, 2, 1), mode='constant', value=0.5)
        y = F.pad(y, (1, 1, 1, 1), mode='reflect')
        y = F.interpolate(y, size=(16, 16), mode='bilinear', align_corners=False)
        y = F.interpolate(y, scale_factor=0.5, mode='nearest')
        y = F.interpolate(y, size=(12, 12), mode='bilinear', align_corners=True)
        y = torch.clamp(y, -1.5, 2.0)
        y = torch.sqrt(torch.abs(y) + 1e-3) - torch.exp(-y.abs()) + torch.log(y * y + 1) + torch.reciprocal(y.abs() + 1)
        y = torch.pow(y, 2) * 0.1 + (-y) / 3.0
        y = self.bn(self.c3(y))                                       # 5x6
        a = torch.maximum(y, torch.zeros_like(y) - 0.2)
        b = torch.minimum(y, torch.ones_like(y))
        g1 = F.adaptive_max_pool2d(a, 1).flatten(1)
        g2 = b.mean(dim=(2, 3))
        g3 = y.amax(dim=3).sum(dim=2) * 0.1
        return self.fc(torch.cat([g1, g2, g3], 1))


class OpsB(nn.Module):
    """Sequence ops: layer norm, split, slice, gather, matmul, transpose, squeeze, softmax/log-softmax, gelu."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, stride=4)
        self.ln = nn.LayerNorm(16)
        self.q = nn.Linear(16, 48)
        self.drop = nn.Dropout(0.1)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        t = self.stem(x).flatten(2).transpose(1, 2)                  # [n, 49, 16]
        t = self.ln(t)
        q, k, v = self.q(t).split(16, dim=-1)
        a = torch.softmax(q @ k.transpose(-2, -1) / 4.0, dim=-1)
        t = t + self.drop(a @ v)
        t = F.gelu(t) + torch.log_softmax(t, dim=-1) * 0.1
        head = t[:, 0]                                              # Gather
        mid = t[:, 1:9].mean(1)                                     # Slice
        last = t[:, -1:, :].sum(1)                                  # Slice + ReduceSum
        z = (head + mid - last).unsqueeze(2).unsqueeze(3)           # Unsqueeze
        return self.fc(torch.squeeze(z, 3).squeeze(2))              # Squeeze


class SmallCNN(nn.Module):
    """The trained fixture: conv-BN-ReLU blocks, max-pool, global average pool, linear head."""

    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        )
        self.fc = nn.Linear(64, 2)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.f(x), 1), 1))


def small_resnet():
    net = SmallResNet(resnet.BasicBlock, [2, 2, 2, 2], num_classes=2)
    net.fc = nn.Linear(64, 2)
    return net


def calibrate_bn(net, tr, channels):
    """Set batch-norm running statistics from real images (random init otherwise explodes activations)."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    with torch.no_grad():
        for s in range(0, 512, 128):
            x = tr[s:s + 128]
            net(x.expand(-1, channels, -1, -1))
    net.eval()


def train_cnn(tr, trl, te_all, tel_all):
    torch.manual_seed(0)
    net = SmallCNN()
    pre = Pre(net, 1, [0.5], [0.5])
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for epoch in range(4):
        net.train()
        perm = torch.randperm(len(tr))
        for s in range(0, len(tr), 64):
            b = perm[s:s + 64]
            loss = F.cross_entropy(pre(tr[b]), trl[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            acc = (pre(te_all).argmax(1) == tel_all).float().mean()
        print(f'cnn epoch {epoch + 1}: loss {float(loss):.3f}, test accuracy {float(acc):.3f}')
    return net


def pgd_robust(model, x, y, eps=EPS, steps=20):
    alpha = eps / 4
    cur = x.clone()
    done = torch.zeros(len(x), dtype=torch.bool)
    for _ in range(steps):
        cur.requires_grad_(True)
        logits = model(cur)
        fooled = logits.argmax(1) != y
        done = done | fooled
        loss = F.cross_entropy(logits, y, reduction='sum')
        g, = torch.autograd.grad(loss, cur)
        with torch.no_grad():
            nxt = cur + alpha * torch.sign(g)
            nxt = torch.min(torch.max(nxt, x - eps), x + eps).clamp(0, 1)
            keep = done.view(-1, 1, 1, 1)
            cur = torch.where(keep, cur, nxt).detach()
    with torch.no_grad():
        final = model(cur).argmax(1) == y
    return int(final.sum().item()) / len(x)


def export(name, net, channels, out, x16, y16, mean=None, std=None, opset=13, note=''):
    net.eval()
    pre = Pre(net, channels, mean, std)
    dummy = torch.zeros(2, channels, 28, 28)
    path = os.path.join(out, name + '.onnx')
    torch.onnx.export(net, dummy, path, opset_version=opset, input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, do_constant_folding=True)
    x = x16.clone().requires_grad_(True)
    logits = pre(x)
    loss = F.cross_entropy(logits, y16, reduction='sum')
    g, = torch.autograd.grad(loss, x)
    rob = pgd_robust(pre, x16, y16)
    params = sum(p.numel() for p in net.parameters())
    meta = {
        'name': name, 'note': note, 'opset': opset, 'channels': channels, 'mean': mean, 'std': std,
        'parameters': params, 'eps': EPS, 'pgdSteps': 20, 'pgdRobustAccuracy': rob,
        'cleanAccuracy': float((logits.argmax(1) == y16).float().mean()),
        'logits': [round(float(v), 7) for v in logits.detach().flatten()],
        'grad': [float('%.7g' % float(v)) for v in g.flatten()],
    }
    with open(os.path.join(out, name + '.json'), 'w') as f:
        json.dump(meta, f)
    print(f'{name}: {os.path.getsize(path) / 1024:.0f} KiB, {params} parameters, clean {meta["cleanAccuracy"]:.3f}, PGD robust {rob:.3f}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=os.path.join(ROOT, 'test', 'fixtures', 'onnx'))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    tr, trl, x16, y16, idx = load_data()
    with open(os.path.join(a.out, 'images.json'), 'w') as f:
        json.dump({'source': 'data/pneumoniamnist.npz test split', 'indices': idx, 'labels': [int(v) for v in y16],
                   'shape': [16, 28, 28, 1], 'pixels': [round(float(v), 7) for v in x16.flatten()]}, f)

    d = np.load(os.path.join(ROOT, 'data', 'pneumoniamnist.npz'))
    cnn = train_cnn(tr, trl, torch.tensor(d['test_images'] / 255.0, dtype=torch.float32).unsqueeze(1), torch.tensor(d['test_labels'][:, 0], dtype=torch.long))
    export('cnn_trained', cnn, 1, a.out, x16, y16, mean=[0.5], std=[0.5], note='small CNN trained 4 epochs on PneumoniaMNIST; normalisation declared, not in the graph')

    def seeded(fn):
        torch.manual_seed(0)
        return fn()

    archs = [
        ('resnet18', small_resnet, 13),
        ('densenet121', lambda: densenet.DenseNet(growth_rate=8, block_config=(2, 3, 2), num_init_features=16, bn_size=2, num_classes=2), 13),
        ('mobilenet_v2', lambda: torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=2), 13),
        ('mobilenet_v3', lambda: torchvision.models.mobilenet_v3_small(width_mult=0.25, num_classes=2), 17),
        ('efficientnet_b0', lambda: efficientnet.EfficientNet(efficientnet._efficientnet_conf('efficientnet_b0', width_mult=0.25, depth_mult=0.3)[0], 0.2, num_classes=2), 13),
        ('convnext_tiny', lambda: convnext.ConvNeXt([convnext.CNBlockConfig(16, 32, 1), convnext.CNBlockConfig(32, 64, 1), convnext.CNBlockConfig(64, None, 1)], num_classes=2), 17),
        ('vit_b_16', lambda: vision_transformer.VisionTransformer(image_size=28, patch_size=7, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=2), 14),
        ('ops_a', lambda: OpsA(), 13),
        ('ops_b', lambda: OpsB(), 17),
    ]
    for name, make, opset in archs:
        net = seeded(make)
        calibrate_bn(net, tr, 3)
        if name == 'vit_b_16':  # random-initialised heads are zero in torchvision's ViT: give it a real one
            nn.init.normal_(net.heads.head.weight, std=0.5)
        last = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
        with torch.no_grad():  # keep random logits O(1), so float32 rounding stays far below the 1e-4 check
            z = Pre(net, 3)(tr[:256]).abs().max()
            last.weight.div_(z)
            last.bias.div_(z)
        export(name, net, 3, a.out, x16, y16, opset=opset, note='random-initialised, width-reduced; batch-norm statistics from 512 real training images')


if __name__ == '__main__':
    main()
