#!/usr/bin/python3
"""Export torchvision architectures (seeded random initialisation) to ONNX at [N, 3, 224, 224], opset 17.

    /usr/bin/python3 scripts/models/export_paper_models.py [--set paper|imagenet] [--only NAME] [--out DIR]

--set paper (default): the paper's ResNet-101 and VGG-16, for profiling and planning at paper scale;
default DIR .cache/models/paper/ (ignored by git: the files are 170 and 530 MB).
--set imagenet: ImageNet-style models with different graph features, standing in for a user's own model
(docs/data.md): SqueezeNet 1.1 (fire modules: concatenating branches), ShuffleNetV2 x1.0 (channel shuffle:
reshape/transpose), EfficientNet-B0 (depthwise convolutions, squeeze-and-excitation multiplies) and
ResNet-50 (bottleneck residuals); default DIR .cache/models/imagenet/.
Needs Debian's python3-torch, python3-torchvision and python3-onnx. Weights are random (no model hub
is reachable): latency and tensor sizes are those of the real networks, the predictions are not.
"""

import argparse
import hashlib
import json
import os
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SEED = 20261122
SETS = {
    "paper": ["resnet101", "vgg16"],
    "imagenet": ["squeezenet1_1", "shufflenet_v2_x1_0", "efficientnet_b0", "resnet50"],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=sorted(SETS), default="paper", help="which models")
    parser.add_argument("--only", help="export only this model of the set")
    parser.add_argument("--out", help="folder (default: .cache/models/<set>/)")
    parser.add_argument("--force", action="store_true", help="export again even if the files exist")
    args = parser.parse_args()
    args.out = args.out or os.path.join(ROOT, ".cache", "models", args.set)
    names = [n for n in SETS[args.set] if args.only in (None, n)]
    if not names:
        print(f"export_paper_models.py: --only {args.only} is not in the {args.set} set ({', '.join(SETS[args.set])})",
              file=sys.stderr)
        return 2
    try:
        import onnx
        import torch
        import torchvision
    except ImportError as e:
        print(f"export_paper_models.py: {e}; install with: apt-get install python3-torch python3-torchvision python3-onnx",
              file=sys.stderr)
        return 3

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    os.makedirs(args.out, exist_ok=True)
    exported = []
    for name in names:
        factory = getattr(torchvision.models, name)
        path = os.path.join(args.out, f"{name}-224.onnx")
        if os.path.exists(path) and not args.force:
            print(f"{path}: already exported", flush=True)
        else:
            start = time.time()
            torch.manual_seed(SEED)
            model = factory(weights=None).eval()
            dummy = torch.zeros(1, 3, 224, 224)
            tmp = path + ".tmp"
            with torch.no_grad():
                torch.onnx.export(model, dummy, tmp, opset_version=17, input_names=["frame"],
                                  output_names=["logits"], dynamic_axes={"frame": {0: "N"}, "logits": {0: "N"}},
                                  do_constant_folding=True)
            # record every intermediate tensor's shape in graph.value_info
            onnx.shape_inference.infer_shapes_path(tmp, tmp)
            onnx.checker.check_model(tmp)
            os.replace(tmp, path)
            print(f"{path}: exported in {time.time() - start:.0f} s", flush=True)
        with open(path, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        exported.append({"name": name, "file": path, "sha256": sha, "bytes": os.path.getsize(path),
                         "input": {"name": "frame", "shape": ["N", 3, 224, 224]}, "output": "logits",
                         "weights": f"random (torch.manual_seed({SEED}))"})
    with open(os.path.join(args.out, f"{args.set}-models.json"), "w") as f:
        json.dump({"models": exported}, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
