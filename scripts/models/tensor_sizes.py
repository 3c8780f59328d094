#!/usr/bin/python3
"""Print the size of every intermediate tensor of an ONNX model, per frame, as a Markdown table.

    /usr/bin/python3 scripts/models/tensor_sizes.py models/resnet-fm112.onnx

Columns: elements, float32 bytes, bytes when quantized to 4 bits and densely packed (ceil(elements/2)),
and that 4-bit size as a fraction of the raw uint8 input frame (3 x 112 x 112 = 37,632 bytes). Shapes
come from graph.value_info (recorded at export); the batch dimension counts as 1.
"""

import sys

import onnx

RAW_FRAME_BYTES = 3 * 112 * 112


def dims_of(value):
    return [d.dim_value if d.HasField("dim_value") else 1 for d in value.type.tensor_type.shape.dim]


def main(path):
    model = onnx.load(path)
    shapes = {v.name: dims_of(v) for v in list(model.graph.value_info) + list(model.graph.output)}
    print(f"Intermediate tensors of `{path}` (per frame; raw uint8 frame = {RAW_FRAME_BYTES:,} bytes):\n")
    print("| # | tensor | produced by | shape | elements | fp32 bytes | 4-bit bytes | 4-bit / raw frame |")
    print("|---:|---|---|---|---:|---:|---:|---:|")
    smallest = None
    for i, node in enumerate(model.graph.node):
        for out in node.output:
            if out not in shapes:
                raise SystemExit(f"{path}: tensor {out} has no recorded shape")
            dims = shapes[out]
            elements = 1
            for d in dims:
                elements *= d
            packed = (elements * 4 + 7) // 8
            ratio = packed / RAW_FRAME_BYTES
            if len(dims) == 4 and (smallest is None or packed < smallest[1]):
                smallest = (out, packed)
            print(f"| {i} | `{out}` | {node.op_type} | {'x'.join(str(d) for d in dims[1:])} | {elements:,} | "
                  f"{4 * elements:,} | {packed:,} | {ratio:.3f}{' **< 1/10**' if ratio < 0.1 else ''} |")
    if smallest is not None:
        print(f"\nSmallest feature map at 4 bits: `{smallest[0]}`, {smallest[1]:,} bytes "
              f"= {smallest[1] / RAW_FRAME_BYTES:.1%} of the raw frame (a tenth is {RAW_FRAME_BYTES / 10:,.1f} bytes).")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models/resnet-fm112.onnx")
