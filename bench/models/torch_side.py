#!/usr/bin/python3
"""PyTorch side of `npm run bench:models`.

  torch_side.py export NAME OUT.onnx          torchvision NAME (random init, seed 0, 2 classes) to ONNX at
                                              224x224x3, opset 14, dynamic batch axis (run once; cached).
  torch_side.py bench NAME BATCH THREADS ITERS time eager forward and the input gradient of the summed
                                              cross-entropy at batch B with T threads; one JSON line (ms per
                                              batch, peak RSS of this process, which never exported anything).
"""
import json, resource, sys, time
import torch, torch.nn.functional as F, torchvision


def build(name):
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(num_classes=2).eval()


def export(name, out):
    net = build(name)
    torch.onnx.export(net, torch.zeros(1, 3, 224, 224), out, opset_version=14, input_names=['input'],
                      output_names=['logits'], dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})


def bench(name, batch, threads, iters):
    torch.set_num_threads(threads)
    net = build(name)
    x = torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    y = torch.zeros(batch, dtype=torch.long)

    def timed(f):
        f()
        ts = []
        for _ in range(iters):
            t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
        return 1000 * sorted(ts)[len(ts) // 2]

    def fwd():
        with torch.no_grad():
            net(x)

    def grad():
        xx = x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(net(xx), y, reduction='sum'), xx)

    r = {'forward': timed(fwd), 'inputGrad': timed(grad),
         'rssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(json.dumps(r))


if __name__ == '__main__':
    if sys.argv[1] == 'export':
        export(sys.argv[2], sys.argv[3])
    else:
        bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
