"""PyTorch side of `npm run bench -- --only onnx` (issue 17). Only for the benchmark: never a
dependency of the product or its tests.

Rebuilds the ONNX fixtures' PyTorch models with scripts/make-onnx-fixtures.py (same seeds, so the
same weights: the exports are compared byte for byte with the committed .onnx files), then, in
the work directory given as argv[1]:
- writes PyTorch's class probabilities (float32, raw) of 10,000 MNIST test records for the MLP and
  the CNN, of 10,000 coloured 32x32 test records for the ResNet-style model (their uint8 HWC
  pixels written too, for Antidote to read the same records), and of 2,000 generated texts for the
  text model (the texts written as JSON);
- measures forward throughput (records/s, batches of 1,024, inference mode) of the CNN and the
  ResNet on 1 and 2 threads, and the time to extract the CNN's penultimate activations (input of
  its last Linear) for the 60,000 MNIST training records.
Prints one JSON object.
"""
import contextlib
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


def load_fixture_script():
    path = os.path.join(ROOT, "scripts", "make-onnx-fixtures.py")
    spec = importlib.util.spec_from_file_location("make_onnx_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def batched(fn, x):
    with torch.inference_mode():
        return torch.cat([fn(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])


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
    activations = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, model, x in (("cnn", cnn, norm(test)), ("resnet", resnet, coloured)):
            batched(model, x[:BATCH])  # warm-up
            s = best_seconds(lambda: batched(model, x))
            forward[f"{name}/{threads}"] = round(len(x) / s)
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
                "activations60kSeconds": activations,
                "batch": BATCH,
            }
        )
    )


if __name__ == "__main__":
    main()
