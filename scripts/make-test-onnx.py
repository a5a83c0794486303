#!/usr/bin/env python3
"""Make the small ONNX model that medshield's tests load as a forward-only (black-box) model.

Trains a tiny CNN for 2 epochs with PyTorch on the repo's embedded PneumoniaMNIST train split
(real chest X-rays, MedMNIST v2, CC BY 4.0), exports it to ONNX (opset 13, NCHW input in [0,1]),
and records the probabilities PyTorch gives for the first 16 test images so the test can check
onnxruntime-node's output against them.

Run with Debian's python3 (python3-torch):  /usr/bin/python3 scripts/make-test-onnx.py
Writes test/fixtures/pneumonia-tiny.onnx, .card.json and .expected.json.
"""
import json, os, sys
import numpy as np
import torch
import torch.nn as nn

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = os.path.join(root, 'test', 'fixtures')
torch.manual_seed(0)
np.random.seed(0)
torch.set_num_threads(2)

d = np.load(os.path.join(root, 'data', 'pneumoniamnist.npz'))
xtr = torch.tensor(d['train_images'], dtype=torch.float32).unsqueeze(1) / 255.0
ytr = torch.tensor(d['train_labels'][:, 0], dtype=torch.long)
xte = torch.tensor(d['test_images'], dtype=torch.float32).unsqueeze(1) / 255.0
yte = d['test_labels'][:, 0]

model = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(16 * 7 * 7, 2),
)
opt = torch.optim.Adam(model.parameters(), lr=2e-3)
for epoch in range(2):
    perm = torch.randperm(len(xtr))
    for i in range(0, len(xtr), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
        loss.backward()
        opt.step()
model.eval()
with torch.no_grad():
    probs = torch.softmax(model(xte), 1).numpy()
acc = float((probs.argmax(1) == yte).mean())
ranks = np.argsort(np.argsort(probs[:, 1])) + 1  # no ties expected in float scores
npos = int(yte.sum()); nneg = len(yte) - npos
auc = float((ranks[yte == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))


torch.onnx.export(model, xte[:1], os.path.join(out, 'pneumonia-tiny.onnx'), opset_version=13,
                  input_names=['image'], output_names=['logits'], dynamic_axes={'image': {0: 'n'}, 'logits': {0: 'n'}})
card = {
    'schema': 'medshield.model-card/1', 'name': 'pneumonia-tiny-onnx',
    'architecture': {'name': 'tiny-cnn (PyTorch)', 'width': 8, 'parameters': int(sum(p.numel() for p in model.parameters())), 'format': 'onnx'},
    'dataset': {'name': 'pneumoniamnist', 'size': 28, 'task': 'binary', 'classes': ['normal', 'pneumonia'], 'sha256': '',
                'splits': {'train': len(xtr), 'val': 0, 'test': len(xte)}},
    'input': {'shape': [28, 28, 1], 'range': [0, 1], 'layout': 'NHWC', 'normalization': 'none', 'resize': 'area/bilinear'},
    'metrics': {'test': {'accuracy': round(acc, 4), 'auc': round(auc, 4), 'n': len(xte)}},
    'onnx': {'layout': 'NCHW', 'output': 'logits'},
    'medshieldVersion': 'scripts/make-test-onnx.py', 'gitCommit': None, 'createdAt': '2026-11-23T00:00:00Z',
}
print(f'test accuracy {acc:.4f}, AUC {auc:.4f}', file=sys.stderr)
json.dump(card, open(os.path.join(out, 'pneumonia-tiny.card.json'), 'w'), indent=2)
json.dump({'indices': list(range(16)), 'probabilities': probs[:16].round(6).tolist(), 'testAccuracy': acc},
          open(os.path.join(out, 'pneumonia-tiny.expected.json'), 'w'), indent=1)
