#!/usr/bin/python3
"""Train the bundled Fashion-MNIST-112 classifiers, export them to ONNX and write models/manifest.json.

Run from the repository root (Debian python3-torch 1.13, python3-torchvision, python3-onnx,
dataset-fashion-mnist):

    /usr/bin/python3 scripts/models/train.py --model all

Both models see the same frames the C# engine renders (scripts/models/frames.py); the normalisation is
the model's first layer, so the input is RGB in [0, 1] and an 8-bit frame is exact. Seeds are fixed and
the run uses two CPU threads; checkpoints go to .cache/models/train/ after every epoch.
"""

import argparse
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frames  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CACHE = os.path.join(ROOT, ".cache", "models")
SEED = 20261122


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------- data

def renderer_fingerprint():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "frames.py"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def rendered_split(split):
    """Frames [N, 3, 112, 112] uint8 and labels [N] of one Fashion-MNIST split, cached on disk."""
    os.makedirs(os.path.join(CACHE, "frames"), exist_ok=True)
    key = renderer_fingerprint()
    path = os.path.join(CACHE, "frames", f"{split}-{key}.npy")
    images, labels = frames.load_split(split)
    if os.path.exists(path):
        rendered = np.load(path, mmap_mode="r")
        if rendered.shape == (len(images), 3, frames.SIZE, frames.SIZE):
            return np.ascontiguousarray(rendered), labels.astype(np.int64)
    log(f"rendering {len(images)} {split} frames")
    start = time.time()
    rendered = frames.render_all(images)
    np.save(path + ".tmp.npy", rendered)
    os.replace(path + ".tmp.npy", path)
    log(f"rendered {split} in {time.time() - start:.0f} s")
    return rendered, labels.astype(np.int64)


# --------------------------------------------------------------------------------------------- models

class Normalise(nn.Module):
    """(x - mean) / std per channel, inside the model so callers feed [0, 1] RGB."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("inv_std", torch.tensor([1.0 / s for s in std], dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x):
        return (x - self.mean) * self.inv_std


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:  # downsampling shortcut: 1x1 strided conv + BN
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = x if self.shortcut is None else self.shortcut(x)
        return F.relu(y + skip)


class ResNetFm112(nn.Module):
    """ImageNet-style stem (7x7/2 conv + 3x3/2 max-pool: 112 -> 28) and three stages of basic blocks."""

    def __init__(self, mean, std, widths=(16, 32, 64), blocks=(3, 3, 3)):
        super().__init__()
        self.normalise = Normalise(mean, std)
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        layers = []
        cin = widths[0]
        for stage, (w, n) in enumerate(zip(widths, blocks)):
            for i in range(n):
                layers.append(BasicBlock(cin, w, 2 if (i == 0 and stage > 0) else 1))
                cin = w
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, 10)

    def forward(self, x):
        x = self.blocks(self.stem(self.normalise(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class VggFm112(nn.Module):
    """A plain chain: strided first conv (112 -> 56), conv/BN/ReLU stacks with max-pooling, FC classifier."""

    def __init__(self, mean, std, widths=(24, 32, 48, 96)):
        super().__init__()
        self.normalise = Normalise(mean, std)

        def cbr(cin, cout, stride=1):
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        w = widths
        self.features = nn.Sequential(
            *cbr(3, w[0], 2), nn.MaxPool2d(2),                            # 112 -> 56 -> 28
            *cbr(w[0], w[1]), nn.MaxPool2d(2),                            # 28 -> 14
            *cbr(w[1], w[2]), *cbr(w[2], w[2]), nn.MaxPool2d(2),          # 14 -> 7
            *cbr(w[2], w[3]), *cbr(w[3], w[3]))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(w[3] * 7 * 7, 128),
                                        nn.ReLU(inplace=True), nn.Dropout(0.3), nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(self.normalise(x)))


MODELS = {
    "resnet-fm112": dict(
        cls=ResNetFm112,
        architecture="ResNet-style DAG: normalise, 7x7/2 conv(16)+BN+ReLU, 3x3/2 max-pool (112->28), "
                     "9 basic residual blocks (3 x 16ch @28x28, 3 x 32ch @14x14, 3 x 64ch @7x7; identity "
                     "shortcuts and 1x1/2 conv+BN downsampling shortcuts), global average pool, FC(10)"),
    "vgg-fm112": dict(
        cls=VggFm112,
        architecture="VGG-style chain: normalise, 3x3/2 conv(24) + 2x2 max-pool (112->28), conv(32) pool "
                     "(->14), [conv(48) x2] pool (->7), [conv(96) x2] (each 3x3 conv+BN+ReLU), flatten, dropout, "
                     "FC(128), ReLU, dropout, FC(10)"),
}


# ------------------------------------------------------------------------------------------- training

def augment(batch_u8, generator):
    """Random horizontal flip and random shift by up to 4 px (reflect padding) of uint8 frames -> float [0,1]."""
    x = batch_u8.float().div_(255.0)
    n = x.shape[0]
    flip = torch.rand(n, generator=generator) < 0.5
    x[flip] = x[flip].flip(3)
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    offsets = torch.randint(0, 9, (n, 2), generator=generator)
    out = torch.empty_like(x)
    for i in range(n):
        oy, ox = int(offsets[i, 0]), int(offsets[i, 1])
        out[i] = padded[i, :, oy:oy + frames.SIZE, ox:ox + frames.SIZE]
    return out


def evaluate(model, images_u8, labels, batch=500):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images_u8), batch):
            x = images_u8[start:start + batch].float().div_(255.0)
            correct += int((model(x).argmax(1) == labels[start:start + batch]).sum())
    return correct / len(images_u8)


def train_one(name, epochs, batch_size, lr, train_x, train_y, test_x, test_y, mean, std, max_batches=None,
              from_checkpoint=False):
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    spec = MODELS[name]
    model = spec["cls"](mean, std)
    params = sum(p.numel() for p in model.parameters())
    if from_checkpoint:
        path = os.path.join(CACHE, "train", f"{name}-epoch{epochs}.pt")
        model.load_state_dict(torch.load(path))
        accuracy = evaluate(model, test_x, test_y)
        log(f"{name}: loaded {path}, test accuracy {accuracy:.4f}")
        minutes = None
        manifest = os.path.join(ROOT, "models", "manifest.json")
        if os.path.exists(manifest):  # keep the training time the training run recorded
            with open(manifest) as f:
                minutes = next((m.get("train_minutes") for m in json.load(f)["models"] if m["name"] == name), None)
        return model, dict(test_accuracy=accuracy, parameters=params, epochs=epochs, train_minutes=minutes)
    steps_per_epoch = len(train_x) // batch_size
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, epochs=epochs,
                                                   steps_per_epoch=steps_per_epoch, pct_start=0.25)
    log(f"{name}: {params} parameters, {epochs} epochs x {steps_per_epoch} steps of {batch_size}")
    ckpt_dir = os.path.join(CACHE, "train")
    os.makedirs(ckpt_dir, exist_ok=True)
    start_all = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        start = time.time()
        seen, loss_sum, correct = 0, 0.0, 0
        for step in range(steps_per_epoch):
            if max_batches is not None and step >= max_batches:
                break
            idx = order[step * batch_size:(step + 1) * batch_size]
            x = augment(train_x[idx], generator)
            y = train_y[idx]
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            seen += len(idx)
            loss_sum += float(loss) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            if step % 50 == 0:
                log(f"{name} epoch {epoch + 1} step {step}/{steps_per_epoch} loss {loss_sum / seen:.4f} "
                    f"train acc {correct / seen:.4f} ({(time.time() - start) / (step + 1):.3f} s/step)")
        if max_batches is not None:
            log(f"{name}: {(time.time() - start) / max_batches:.3f} s/step -> "
                f"{(time.time() - start) / max_batches * steps_per_epoch / 60:.1f} min/epoch")
            return None, None
        torch.save(model.state_dict(), os.path.join(ckpt_dir, f"{name}-epoch{epoch + 1}.pt"))
        log(f"{name} epoch {epoch + 1} done in {time.time() - start:.0f} s: loss {loss_sum / seen:.4f} "
            f"train acc {correct / seen:.4f}")
    accuracy = evaluate(model, test_x, test_y)
    minutes = (time.time() - start_all) / 60
    log(f"{name}: test accuracy {accuracy:.4f} on {len(test_x)} t10k frames after {epochs} epochs ({minutes:.1f} min)")
    return model, dict(test_accuracy=accuracy, parameters=params, epochs=epochs, train_minutes=round(minutes, 1))


# --------------------------------------------------------------------------------------------- export

def inline_constant_identities(proto):
    """The exporter writes `Identity(initializer)` nodes for weights it de-duplicated; make them initializers,
    so every node of the graph is a layer that computes on activations."""
    graph = proto.graph
    initializers = {t.name: t for t in graph.initializer}
    for node in list(graph.node):
        if node.op_type == "Identity" and node.input[0] in initializers:
            copy = type(initializers[node.input[0]])()
            copy.CopyFrom(initializers[node.input[0]])
            copy.name = node.output[0]
            graph.initializer.append(copy)
            graph.node.remove(node)
    used = {i for node in graph.node for i in node.input}
    for t in list(graph.initializer):
        if t.name not in used:
            graph.initializer.remove(t)
    for v in list(graph.value_info):
        if v.name in initializers or v.name not in {o for node in graph.node for o in node.output}:
            graph.value_info.remove(v)


def export(name, model, path):
    import onnx
    model.eval()
    dummy = torch.zeros(1, 3, frames.SIZE, frames.SIZE)
    torch.onnx.export(model, dummy, path, opset_version=17, input_names=["frame"], output_names=["logits"],
                      dynamic_axes={"frame": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    proto = onnx.load(path)
    inline_constant_identities(proto)
    proto = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    onnx.checker.check_model(proto, full_check=True)
    declared = {v.name for v in list(proto.graph.value_info) + list(proto.graph.output) + list(proto.graph.input)}
    missing = [o for node in proto.graph.node for o in node.output if o not in declared]
    if missing:
        raise RuntimeError(f"{name}: tensors without a recorded shape: {missing}")
    proto.producer_name = "coach scripts/models/train.py"
    onnx.save(proto, path)
    size = os.path.getsize(path)
    if size >= 10 * 1024 * 1024:
        raise RuntimeError(f"{name}: {path} is {size} bytes, over the 10 MB limit")
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_manifest(entries):
    import fcntl
    path = os.path.join(ROOT, "models", "manifest.json")
    # the two models may train in parallel processes: serialise the read-modify-write
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _write_manifest_locked(path, entries)
    os.remove(path + ".lock") if os.path.exists(path + ".lock") else None


def _write_manifest_locked(path, entries):
    existing = []
    if os.path.exists(path):
        with open(path) as f:
            existing = json.load(f).get("models", [])
    by_name = {e["name"]: e for e in existing}
    for e in entries:
        by_name[e["name"]] = e
    ordered = [by_name[n] for n in MODELS if n in by_name]
    with open(path, "w") as f:
        json.dump({"models": ordered}, f, indent=2)
        f.write("\n")
    log(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="all", choices=["all", *MODELS])
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default per model)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 per process: the two models train best as two parallel processes)")
    parser.add_argument("--from-checkpoint", action="store_true",
                        help="skip training: load the last epoch's checkpoint from .cache/models/train/ and export")
    parser.add_argument("--time-batches", type=int, default=None, help="only time this many steps per model")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    np.random.seed(SEED)

    train_np, train_labels = rendered_split("train")
    test_np, test_labels = rendered_split("t10k")
    # per-channel statistics of the training frames, baked into each model's first layer
    mean = [float(train_np[:, c].mean(dtype=np.float64) / 255.0) for c in range(3)]
    std = [float(train_np[:, c].std(dtype=np.float64) / 255.0) for c in range(3)]
    log(f"train frames mean {mean} std {std}")
    train_x = torch.from_numpy(train_np)
    train_y = torch.from_numpy(train_labels)
    test_x = torch.from_numpy(test_np)
    test_y = torch.from_numpy(test_labels)

    default_epochs = {"resnet-fm112": 6, "vgg-fm112": 5}
    names = list(MODELS) if args.model == "all" else [args.model]
    for name in names:
        epochs = args.epochs or default_epochs[name]
        model, stats = train_one(name, epochs, args.batch_size, args.lr, train_x, train_y, test_x, test_y,
                                 mean, std, args.time_batches, args.from_checkpoint)
        if model is None:
            continue
        rel = f"models/{name}.onnx"
        sha = export(name, model, os.path.join(ROOT, rel))
        command = f"/usr/bin/python3 scripts/models/train.py --model {name} --epochs {epochs} " \
                  f"--batch-size {args.batch_size} --lr {args.lr} --threads {args.threads}"
        write_manifest([{
            "name": name,
            "file": rel,
            "sha256": sha,
            "input": {"name": "frame", "shape": ["N", 3, frames.SIZE, frames.SIZE], "element_type": "float32",
                      "layout": "NCHW", "range": [0, 1],
                      "normalisation": {"inside_model": True, "mean": mean, "std": std,
                                        "frames": "scripts/models/frames.py (= Coach.Engine.Data.FrameRenderer)"}},
            "output": {"name": "logits", "shape": ["N", 10], "element_type": "float32"},
            "class_names": frames.CLASS_NAMES,
            "test_accuracy": round(stats["test_accuracy"], 4),
            "test_samples": len(test_x),
            "epochs": epochs,
            "train_minutes": stats["train_minutes"],
            "architecture": MODELS[name]["architecture"],
            "parameters": stats["parameters"],
            "opset": 17,
            "command": command,
        }])


if __name__ == "__main__":
    main()
