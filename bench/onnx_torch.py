"""PyTorch side of `npm run bench -- --only onnx` (issue 17). Only for the benchmark: never a
dependency of the product or its tests.

Rebuilds the ONNX fixtures' PyTorch models with scripts/make-onnx-fixtures.py (same seeds, so the
same weights: the exports are compared byte for byte with the committed .onnx files), then, in
the work directory given as argv[1]:
- writes PyTorch's class probabilities (float32, raw) of 10,000 MNIST test records for the MLP and
  the CNN, of 10,000 coloured 32x32 test records for the ResNet-style model (their uint8 HWC
  pixels written too, for Antidote to read the same records), and of 2,000 generated texts for the
  text model (the texts written as JSON);
- measures forward throughput (records/s, inference mode) of the CNN and the ResNet on 1 and 2
  threads, in batches of 64, 256 and 1,024 (the sizes the ONNX Runtime side runs), each as eager
  PyTorch on NCHW tensors ("eager"), eager on channels_last tensors and weights ("channels_last",
  oneDNN's preferred layout) and as a frozen TorchScript graph (`torch.jit.freeze`, which folds
  BatchNorm into the convolutions and fuses Conv+ReLU; "torchscript"): PyTorch measured at its
  best, every figure reported;
- the time to extract the CNN's penultimate activations (input of its last Linear) for the
  60,000 MNIST training records.
Prints one JSON object.
"""
import contextlib
import copy
import filecmp
import importlib.util
import io
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 1024
FORWARD_BATCHES = (64, 256, 1024)


def load_fixture_script():
    path = os.path.join(ROOT, "scripts", "make-onnx-fixtures.py")
    spec = importlib.util.spec_from_file_location("make_onnx_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def batched(fn, x, batch=BATCH):
    with torch.inference_mode():
        return torch.cat([fn(x[i : i + batch]) for i in range(0, len(x), batch)])


def forward_variants(model, x):
    """The model as eager NCHW, eager channels_last and frozen TorchScript, with its input."""
    last = copy.deepcopy(model).to(memory_format=torch.channels_last).eval()
    with torch.inference_mode():
        frozen = torch.jit.freeze(torch.jit.trace(model, x[:BATCH]).eval())
    return {
        "eager": (model, x),
        "channels_last": (last, x.contiguous(memory_format=torch.channels_last)),
        "torchscript": (frozen, x),
    }


def best_seconds(fn, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    work = sys.argv[1]
    fx = load_fixture_script()
    committed = fx.OUT
    with tempfile.TemporaryDirectory() as tmp:
        fx.OUT = tmp
        # The export warnings are the fixture script's business, not the bench's output.
        with contextlib.redirect_stderr(io.StringIO()):
            models = fx.main()
        same = {
            name: filecmp.cmp(
                os.path.join(tmp, name + ".onnx"),
                os.path.join(committed, name + ".onnx"),
                shallow=False,
            )
            for name in ("mlp", "cnn", "resnet", "text")
        }
    mlp, cnn, resnet = models["mlp"], models["cnn"], models["resnet"]
    text_model, text_index = models["text"]
    for m in (mlp, cnn, resnet, text_model):
        m.eval()

    test = torch.tensor(fx.idx("t10k-images-idx3-ubyte"), dtype=torch.float32) / 255
    train = torch.tensor(fx.idx("train-images-idx3-ubyte"), dtype=torch.float32) / 255
    norm = lambda x: ((x - fx.MEAN) / fx.STD).unsqueeze(1)  # noqa: E731

    def save(name, t):
        t.detach().numpy().astype(np.float32).tofile(os.path.join(work, name))

    torch.set_num_threads(2)
    save("mlp.f32", batched(mlp, test.reshape(-1, 784)))
    save("cnn.f32", batched(lambda x: torch.softmax(cnn(x), 1), norm(test)))

    # ResNet: coloured copies of the test digits, as uint8 HWC pixels (what Antidote reads).
    sidecar = json.load(open(os.path.join(committed, "resnet.onnx.json")))
    mean = torch.tensor(sidecar["normalization"]["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(sidecar["normalization"]["std"]).view(1, 3, 1, 1)
    pixels = np.rint(fx.colourise(test.numpy(), np.random.default_rng(2024)) * 255).astype(np.uint8)
    pixels.tofile(os.path.join(work, "resnet.u8"))
    coloured = (torch.tensor(pixels, dtype=torch.float32) / 255).permute(0, 3, 1, 2)
    coloured = ((coloured - mean) / std).contiguous()
    save("resnet.f32", batched(lambda x: torch.softmax(resnet(x), 1), coloured))

    rng = np.random.default_rng(2024)
    labels = [int(v) for v in rng.integers(0, 2, size=2000)]
    texts = [fx.make_text(rng, y, rare=i % 5 == 0) for i, y in enumerate(labels)]
    with open(os.path.join(work, "texts.json"), "w") as f:
        json.dump({"texts": texts, "labels": labels}, f)
    ids = torch.tensor([fx.token_ids(s, text_index) for s in texts], dtype=torch.int64)
    save("text.f32", batched(lambda x: torch.softmax(text_model(x), 1), ids))

    forward = {}
    variants = {
        "cnn": forward_variants(cnn, norm(test)),
        "resnet": forward_variants(resnet, coloured),
    }
    # Same predictions from every variant (the frozen graph folds BatchNorm: float rounding only).
    for name, vs in variants.items():
        ref = batched(vs["eager"][0], vs["eager"][1][:BATCH])
        for key, (m, x) in vs.items():
            diff = (batched(m, x[:BATCH]) - ref).abs().max().item()
            assert diff < 1e-4, f"{name} {key} differs from eager by {diff}"
    activations = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, vs in variants.items():
            for key, (m, x) in vs.items():
                for batch in FORWARD_BATCHES:
                    batched(m, x[: 2 * batch], batch)  # warm-up (TorchScript profiles its first runs)
                    s = best_seconds(lambda: batched(m, x, batch))
                    forward[f"{name}/{key}/{threads}/{batch}"] = round(len(x) / s)
        x60 = norm(train)
        s = best_seconds(lambda: batched(cnn.features, x60), repeats=2)
        activations[f"cnn/{threads}"] = round(s, 3)

    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "sameWeightsAsCommittedOnnx": same,
                "records": {"mnistTest": len(test), "resnet": len(coloured), "text": len(texts)},
                "forwardRecordsPerSecond": forward,
                "forwardKeys": "model/variant/threads/batch",
                "activations60kSeconds": activations,
                "batch": BATCH,
                "forwardBatches": list(FORWARD_BATCHES),
            }
        )
    )


if __name__ == "__main__":
    main()
