#!/usr/bin/python3
"""PyTorch cross-check of medshield's transfer attack on the SAME weights.

Loads two medshield model directories into PyTorch (bench/attacks/torch_ref.py's loader), crafts
torchattacks-style PGD (random start, sign step, no early stop), I-FGSM, MI-FGSM and DI-FGSM on the
surrogate and reports the target's accuracy on the PneumoniaMNIST test split (or its first --limit films).
If these agree with `bench/transfer/table.ts`, medshield's gradient path (BN folding, ReLU, loss) is not
what makes transfer weak; the models are.

  /usr/bin/python3 bench/transfer/torch_transfer.py --target models/default --surrogate models/surrogate \
      --npz data/pneumoniamnist.npz --eps 2,4,8,16 --attacks pgd,ifgsm,mifgsm,difgsm
"""
import argparse, json, os, sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'attacks'))
from torch_ref import load_medshield  # noqa: E402


def step_loop(model, x, y, eps, alpha, steps, random_start=False, decay=0.0, diversity=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    adv = x.clone()
    if random_start:
        adv = (adv + (torch.rand(adv.shape, generator=g) * 2 - 1) * eps).clamp(0, 1)
    mom = torch.zeros_like(x)
    for _ in range(steps):
        adv.requires_grad_(True)
        inp = diversity(adv, g) if diversity else adv
        loss = F.cross_entropy(model(inp), y)
        grad, = torch.autograd.grad(loss, adv)
        if decay > 0 or diversity:
            grad = grad / grad.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-30)
            grad = grad + decay * mom
            mom = grad
        adv = adv.detach() + alpha * grad.sign()
        adv = (x + (adv - x).clamp(-eps, eps)).clamp(0, 1).detach()
    return adv


def input_diversity(x, g, rate=0.9, prob=0.5):
    """torchattacks DIFGSM.input_diversity: shrink to rnd in [int(rate*H), H) and zero-pad back."""
    size = x.shape[-1]
    lo = int(size * rate)
    if torch.rand(1, generator=g).item() >= prob:
        return x
    rnd = int(torch.randint(lo, size, (1,), generator=g))
    rem = size - rnd
    top = int(torch.randint(0, rem + 1, (1,), generator=g))
    left = int(torch.randint(0, rem + 1, (1,), generator=g))
    r = F.interpolate(x, size=[rnd, rnd], mode='bilinear', align_corners=False)
    return F.pad(r, [left, rem - left, top, rem - top], value=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--target', required=True)
    ap.add_argument('--surrogate', required=True)
    ap.add_argument('--npz', required=True)
    ap.add_argument('--eps', default='8')
    ap.add_argument('--attacks', default='pgd')
    ap.add_argument('--limit', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    target = load_medshield(a.target).eval()
    sur = load_medshield(a.surrogate).eval()
    z = np.load(a.npz)
    x = torch.from_numpy(z['test_images'].astype(np.float32) / 255.0)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    else:
        x = x.permute(0, 3, 1, 2)
    y = torch.from_numpy(z['test_labels'].reshape(-1).astype(np.int64))
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]

    def acc(m, xx):
        with torch.no_grad():
            return round((m(xx).argmax(1) == y).float().mean().item(), 4)

    print(json.dumps({'n': len(y), 'targetClean': acc(target, x), 'surrogateClean': acc(sur, x)}), flush=True)
    for name in a.attacks.split(','):
        for e in [float(v) for v in a.eps.split(',')]:
            eps = e / 255
            cfg = {
                'pgd': dict(alpha=eps / 4, steps=20, random_start=True),
                'ifgsm': dict(alpha=eps / 10, steps=20),
                'fgsm': dict(alpha=eps, steps=1),
                'mifgsm': dict(alpha=eps / 10, steps=10, decay=1.0),
                'difgsm': dict(alpha=eps / 4, steps=20, diversity=input_diversity),
                'mdifgsm': dict(alpha=eps / 4, steps=20, decay=1.0, diversity=input_diversity),
            }[name]
            advs = [step_loop(sur, x[i:i + 128], y[i:i + 128], eps, **cfg) for i in range(0, len(y), 128)]
            adv = torch.cat(advs)
            print(json.dumps({'attack': name, 'eps': f'{e:g}/255', 'target': acc(target, adv),
                              'surrogate': acc(sur, adv)}), flush=True)


if __name__ == '__main__':
    main()
