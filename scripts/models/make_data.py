#!/usr/bin/python3
"""Write the committed data slice and the renderer's reference frames (run from the repository root).

    /usr/bin/python3 scripts/models/make_data.py

models/data/calib-{images-idx3,labels-idx1}-ubyte.gz : Fashion-MNIST t10k[9000:10000] (1,000 samples the models
    never trained on and the test split never streams: the test split is t10k[0:9000])
models/data/test-{images-idx3,labels-idx1}-ubyte.gz  : Fashion-MNIST t10k[0:2000]
tests/Coach.Engine.Tests/Data/ReferenceFrames/*.rgb.gz: frames rendered by frames.py (uint8 [3,112,112],
    gzip) that the C# FrameRenderer must reproduce byte for byte; index.json says what each one is.
"""

import gzip
import json
import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frames  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CALIBRATION_COUNT = 1000
CALIBRATION_START = 10000 - CALIBRATION_COUNT
TEST_SLICE = 2000

# (slice split, index in the slice, dx, dy, noise seed, noise amplitude)
REFERENCES = [
    ("test", 0, 0, 0, 0, 0),
    ("test", 1, 0, 0, 0, 0),
    ("calib", 7, 0, 0, 0, 0),
    ("test", 2, 2, -1, 12345, 4),
    ("calib", 3, -2, 2, 0xDEADBEEF, 6),
]


def main():
    data_dir = os.path.join(ROOT, "models", "data")
    os.makedirs(data_dir, exist_ok=True)
    test_images, test_labels = frames.load_split("t10k")
    slices = {
        "calib": (test_images[CALIBRATION_START:], test_labels[CALIBRATION_START:]),
        "test": (test_images[:TEST_SLICE], test_labels[:TEST_SLICE]),
    }
    for name, (images, labels) in slices.items():
        frames.write_idx(os.path.join(data_dir, f"{name}-images-idx3-ubyte.gz"), images)
        frames.write_idx(os.path.join(data_dir, f"{name}-labels-idx1-ubyte.gz"), labels)

    ref_dir = os.path.join(ROOT, "tests", "Coach.Engine.Tests", "Data", "ReferenceFrames")
    os.makedirs(ref_dir, exist_ok=True)
    index = []
    for split, i, dx, dy, noise_seed, amplitude in REFERENCES:
        source = slices[split][0][i:i + 1]
        rgb = frames.render(source, dx=[dx], dy=[dy], noise_seed=[noise_seed], noise_amplitude=amplitude)[0]
        file = f"{split}-{i}-dx{dx}-dy{dy}-a{amplitude}.rgb.gz"
        with open(os.path.join(ref_dir, file), "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
                f.write(rgb.tobytes())
        index.append({"file": file, "split": split, "index": i, "dx": dx, "dy": dy, "noise_seed": noise_seed,
                      "noise_amplitude": amplitude, "sample_seed": int(frames.sample_seeds(source)[0])})
    with open(os.path.join(ref_dir, "index.json"), "w") as f:
        json.dump({"frames": index}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
