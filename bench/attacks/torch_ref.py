#!/usr/bin/python3
"""PyTorch reference for medshield's attack benchmark and cross-check.

Builds the *same* network from a medshield model directory (model.json topology + its weight files, the
tfjs-layers format: a JSON manifest of float32 arrays concatenated in one file, which numpy reads
directly), then runs FGSM, PGD and CW on the images medshield wrote, and prints one JSON line with
robust accuracies and timings.

torchattacks is not installable from Debian or npm, so the attacks below are faithful few-line
transcriptions of torchattacks' FGSM, PGD (random start, sign step, projection, clamp) and CW
(tanh space, Adam, f6 margin, best-L2 bookkeeping) -- same defaults, same equations.

Run with Debian's python (python3-torch): /usr/bin/python3 bench/attacks/torch_ref.py SPEC.json
"""
import json, sys, time, os
import numpy as np
import torch
import torch.nn.functional as F


def load_medshield(model_dir):
    mj = json.load(open(os.path.join(model_dir, 'model.json')))
    # weights.bin, or tfjs shards (group1-shard1ofN.bin …) in manifest order
    files = [f for group in mj['weightsManifest'] for f in group['paths']]
    buf = np.concatenate([np.fromfile(os.path.join(model_dir, f), dtype=np.float32) for f in files])
    weights, off = {}, 0
    for group in mj['weightsManifest']:
        for w in group['weights']:
            n = int(np.prod(w['shape'])) if w['shape'] else 1
            weights[w['name']] = torch.from_numpy(buf[off:off + n].reshape(w['shape']).copy())
            off += n
    layers = mj['modelTopology']['config']['layers']
    return TfjsGraph(layers, weights, mj['modelTopology']['config'])


def same_pad(x, k, s):
    """TensorFlow 'same' padding (asymmetric: the extra row/column goes bottom/right)."""
    h, w = x.shape[2], x.shape[3]
    ph = max((-(-h // s) - 1) * s + k - h, 0)
    pw = max((-(-w // s) - 1) * s + k - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class TfjsGraph(torch.nn.Module):
    """Interprets a Keras functional graph (the layer kinds medshield's architectures use), NCHW inside."""

    def __init__(self, layers, weights, config):
        super().__init__()
        self.layers, self.w = layers, weights
        self.output = config['output_layers'][0][0]
        for name, t in weights.items():
            self.register_buffer(name.replace('/', '__'), t)

    def W(self, layer, name):
        return self.w[f"{layer}/{name}"]

    def forward(self, x):  # x: NCHW in [0,1]
        vals = {}
        for L in self.layers:
            cls, cfg, name = L['class_name'], L['config'], L['name']
            ins = [vals[n[0]] for n in L['inbound_nodes'][0]] if L['inbound_nodes'] else []
            if cls == 'InputLayer':
                y = x
            elif cls == 'Rescaling':
                y = ins[0] * cfg['scale'] + cfg['offset']
            elif cls == 'Conv2D':
                k = self.W(name, 'kernel').permute(3, 2, 0, 1)  # HWIO -> OIHW
                s = cfg['strides'][0]
                inp = same_pad(ins[0], k.shape[2], s) if cfg['padding'] == 'same' else ins[0]
                y = F.conv2d(inp, k, self.W(name, 'bias') if cfg['use_bias'] else None, stride=s)
            elif cls == 'BatchNormalization':
                y = F.batch_norm(ins[0], self.W(name, 'moving_mean'), self.W(name, 'moving_variance'),
                                 self.W(name, 'gamma'), self.W(name, 'beta'), False, 0.0, cfg['epsilon'])
            elif cls == 'ReLU':
                y = F.relu(ins[0])
            elif cls == 'MaxPooling2D':
                p, s = cfg['pool_size'][0], (cfg['strides'] or cfg['pool_size'])[0]
                # zero padding equals TF's for 'same' here: pooling follows a ReLU, so values are >= 0
                inp = same_pad(ins[0], p, s) if cfg['padding'] == 'same' else ins[0]
                y = F.max_pool2d(inp, p, s)
            elif cls == 'Flatten':
                y = ins[0].permute(0, 2, 3, 1).reshape(ins[0].shape[0], -1)  # NHWC order, as tfjs
            elif cls == 'Dense':
                y = ins[0] @ self.W(name, 'kernel') + self.W(name, 'bias')
            elif cls == 'Add':
                y = ins[0] + ins[1]
            elif cls == 'GlobalAveragePooling2D':
                y = ins[0].mean(dim=(2, 3))
            else:
                raise SystemExit(f'unsupported layer {cls}')
            vals[name] = y
        return vals[self.output]


# --- torchattacks, transcribed -------------------------------------------------------------------
def fgsm(model, x, y, eps):
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    g, = torch.autograd.grad(loss, x)
    return (x + eps * g.sign()).clamp(0, 1).detach()


def pgd(model, x, y, eps, alpha, steps, random_start=True, seed=0):
    torch.manual_seed(seed)
    adv = x.clone()
    if random_start:
        adv = (adv + torch.empty_like(adv).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        g, = torch.autograd.grad(loss, adv)
        adv = adv.detach() + alpha * g.sign()
        delta = (adv - x).clamp(-eps, eps)
        adv = (x + delta).clamp(0, 1).detach()
    return adv


def cw(model, x, y, c=1.0, kappa=0.0, steps=50, lr=0.01):
    w = torch.atanh((x * 2 - 1) * 0.999999).detach().requires_grad_(True)
    best = x.clone(); best_l2 = torch.full((len(x),), 1e10)
    opt = torch.optim.Adam([w], lr=lr)
    onehot = F.one_hot(y, model(x[:1]).shape[1]).bool()
    for _ in range(steps):
        adv = 0.5 * (torch.tanh(w) + 1)
        l2 = ((adv - x) ** 2).flatten(1).sum(1)
        z = model(adv)
        real = z[onehot]; other = z.masked_fill(onehot, -1e4).max(1).values
        f = (real - other).clamp(min=-kappa)
        loss = l2.sum() + c * f.sum()
        opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad():
            ok = (z.argmax(1) != y) & (l2 < best_l2)
            best_l2 = torch.where(ok, l2, best_l2); best[ok] = adv[ok].detach()
    return best


def robust_accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def main():
    spec = json.load(open(sys.argv[1]))
    torch.set_num_threads(spec.get('threads', 2))
    model = load_medshield(spec['model']).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    n, h, w, c = spec['shape']
    x = torch.from_numpy(np.fromfile(spec['images'], dtype=np.float32).reshape(n, h, w, c)).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(np.fromfile(spec['labels'], dtype=np.int32).astype(np.int64))
    out = {'clean': robust_accuracy(model, x, y), 'logits': model(x[:4]).detach().numpy().round(5).tolist()}
    bs = spec.get('batch', 128)

    def timed(fn):
        # Attack and score each batch, as medshield's attacks do (they return per-sample success, which
        # costs one forward pass at x_adv); the attack alone is timed too.
        advs, attack_sec = [], 0.0
        t0 = time.perf_counter()
        for i in range(0, n, bs):
            ta = time.perf_counter(); adv = fn(x[i:i + bs], y[i:i + bs]); attack_sec += time.perf_counter() - ta
            with torch.no_grad():
                model(adv).argmax(1) != y[i:i + bs]
            advs.append(adv)
        sec = time.perf_counter() - t0
        return torch.cat(advs), sec, attack_sec

    eps = spec['eps']
    for name, fn in [('fgsm', lambda a, b: fgsm(model, a, b, eps)),
                     ('pgd', lambda a, b: pgd(model, a, b, eps, spec['alpha'], spec['steps'])),
                     ('pgdNoRandomStart', lambda a, b: pgd(model, a, b, eps, spec['alpha'], spec['steps'], random_start=False)),
                     ('cw', lambda a, b: cw(model, a, b, steps=spec['cwSteps']))]:
        if (name if name != 'pgdNoRandomStart' else 'pgd') not in spec.get('attacks', ['fgsm', 'pgd', 'cw']):
            continue
        adv, sec, attack_sec = timed(fn)
        out[name] = {'robustAccuracy': robust_accuracy(model, adv, y), 'seconds': sec, 'attackSeconds': attack_sec,
                     'linf': (adv - x).abs().flatten(1).max(1).values.max().item()}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
