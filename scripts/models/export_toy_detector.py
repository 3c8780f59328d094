#!/usr/bin/python3
"""Export a small detection-shaped model to ONNX: frame [N, 3, 64, 64] -> boxes [N, 8, 6] (x, y, w, h, score, class).

    /usr/bin/python3 scripts/models/export_toy_detector.py [--out FILE]   (default .cache/models/toy/det-64.onnx)

Its output is not class scores [N, classes], so the online scheduler runs it with adaptive bits only (docs/online.md).
Seeded random weights; needs Debian's python3-torch and python3-onnx.
"""

import argparse
import os

import torch
import torch.nn as nn


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(32, 48)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1)).reshape(-1, 8, 6)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(".cache", "models", "toy", "det-64.onnx"))
    out = parser.parse_args().out
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    torch.manual_seed(0)
    model = Detector().eval()
    torch.onnx.export(model, torch.randn(1, 3, 64, 64), out, input_names=["frame"], output_names=["boxes"],
                      dynamic_axes={"frame": {0: "N"}, "boxes": {0: "N"}}, opset_version=17)
    print(out)


if __name__ == "__main__":
    main()
