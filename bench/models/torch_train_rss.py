#!/usr/bin/python3
"""PyTorch reference for the training-memory figure of bench/README.md: a full-width ResNet-50
(torchvision's bottlenecks with medshield's 28-px stem: 3x3 conv, stride 1, no max-pool; 1 input
channel, 2 classes) trained with Adam at batch B for N steps on 28x28 inputs; prints the seconds per
step and the peak RSS. The inputs are uniform noise of the training batch's shape (memory and time
do not depend on pixel values).

  /usr/bin/time -v /usr/bin/python3 bench/models/torch_train_rss.py --steps 3 --batch 128 --threads 2
"""
import argparse, json, resource, time
import torch, torch.nn as nn, torch.nn.functional as F, torchvision

ap = argparse.ArgumentParser()
ap.add_argument('--steps', type=int, default=3)
ap.add_argument('--batch', type=int, default=128)
ap.add_argument('--threads', type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
net = torchvision.models.resnet50(num_classes=2)
net.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)
net.maxpool = nn.Identity()
net.train()
opt = torch.optim.Adam(net.parameters(), 1e-3)
ts = []
for _ in range(a.steps):
    x = torch.rand(a.batch, 1, 28, 28)
    y = torch.randint(0, 2, (a.batch,))
    t = time.perf_counter()
    opt.zero_grad()
    F.cross_entropy(net(x), y).backward()
    opt.step()
    ts.append(time.perf_counter() - t)
print(json.dumps({'secondsPerStep': sorted(ts)[len(ts) // 2], 'rssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
