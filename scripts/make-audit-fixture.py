"""Writes src/audit/fixtures/numpy-bars: a dataset directory as a NumPy user would write it
(np.savez + a small dataset.json), 600 8x8 grayscale images of three classes (horizontal bar,
vertical bar, diagonal), 30 of which carry a planted backdoor: a bright 2x2 patch in the
bottom-right corner, relabelled to class 0. The planted ids are listed in planted.json for the
tests (the dataset itself carries no attack record, like real data)."""
import json
import os

import numpy as np

rng = np.random.default_rng(7)
n, k = 600, 3
x = rng.uniform(0.0, 0.25, size=(n, 8, 8, 1)).astype(np.float32)
y = np.arange(n) % k
for i in range(n):
    p = rng.integers(1, 7)
    if y[i] == 0:
        x[i, p, :, 0] += 0.7
    elif y[i] == 1:
        x[i, :, p, 0] += 0.7
    else:
        for d in range(8):
            x[i, d, (d + p) % 8, 0] += 0.7
planted = rng.choice(np.where(y != 0)[0], size=30, replace=False)
x[planted, 6:8, 6:8, 0] = 1.0
y[planted] = 0
x = np.clip(x, 0, 1)
out = os.path.join(os.path.dirname(__file__), '..', 'src', 'audit', 'fixtures', 'numpy-bars')
os.makedirs(out, exist_ok=True)
np.savez(os.path.join(out, 'data.npz'), x=x, y=y.astype(np.int64))
with open(os.path.join(out, 'dataset.json'), 'w') as f:
    json.dump({'classes': ['horizontal', 'vertical', 'diagonal']}, f)
with open(os.path.join(out, '..', 'numpy-bars.planted.json'), 'w') as f:
    json.dump(sorted(int(i) for i in planted), f)
