"""PyTorch side of `npm run bench -- --only onnx-backdoor` (issue 17). Only for the benchmark.

Trains the fixtures' CNN (scripts/make-onnx-fixtures.py: Conv-BN-ReLU-MaxPool twice, Linear 32,
Linear 10) on a poisoned MNIST dataset directory written by `antidote attack backdoor`
(argv[1]/data.npz: x float32 [N, 28, 28, 1] in [0, 1], y), normalised with the MNIST mean/std,
for argv[3] epochs (seed argv[4], default 17: the weights' initialisation), and exports it to argv[2] with a sidecar naming that normalisation.
Prints {"seconds": ..., "trainAccuracy": ...}.
"""
import contextlib
import importlib.util
import io
import json
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    data, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 17
    spec = importlib.util.spec_from_file_location(
        "make_onnx_fixtures", os.path.join(ROOT, "scripts", "make-onnx-fixtures.py")
    )
    fx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fx)
    torch.manual_seed(seed)
    arrays = np.load(os.path.join(data, "data.npz"))
    x = torch.tensor(arrays["x"], dtype=torch.float32).permute(0, 3, 1, 2)
    x = (x - fx.MEAN) / fx.STD
    y = torch.tensor(arrays["y"], dtype=torch.int64)
    model = fx.Cnn()
    t = time.perf_counter()
    fx.train(model, x, y, lr=2e-3, epochs=epochs)
    seconds = time.perf_counter() - t
    with torch.no_grad():
        accuracy = float((model(x).argmax(1) == y).float().mean())
    fx.OUT = os.path.dirname(os.path.abspath(out))
    with contextlib.redirect_stderr(io.StringIO()):
        fx.export(model, x[:1], os.path.basename(out))
    classes = json.load(open(os.path.join(data, "dataset.json")))["classes"]
    with open(out + ".json", "w") as f:
        json.dump(
            {
                "classes": classes,
                "normalization": {"scale": 1, "mean": [fx.MEAN], "std": [fx.STD]},
            },
            f,
        )
    print(json.dumps({"seconds": round(seconds, 2), "trainAccuracy": accuracy}))


if __name__ == "__main__":
    main()
