"""Generate the benchmark models (never committed: they are big). See bench/README.md.

    python bench/make_models.py OUT_DIR [--quick]

Writes:
  scale_<N>.onnx        N nodes: many small LSTMs (H=4) each followed by Squeeze, Relu, Add, Mul
  realistic_<N>.onnx    N nodes: MatMul/Add/Relu blocks around only 8 bidirectional LSTMs
  bilstm_4x1024.onnx    4-layer bidirectional LSTM, input 1024, hidden 1024 (~370 MB inline)
  bilstm_4x1024_ext/    the same with its weights as external data
  sparse_2g/            a ~2 GB external-data model whose data file is sparse (no disk used)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]
SCALE_SIZES = (1_000, 3_000, 10_000, 30_000, 100_000)
REALISTIC_SIZES = (10_000, 100_000)


def _sequence_model(
    name: str, nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], last: str, width: int
) -> onnx.ModelProto:
    """A graph from X [seq, batch, width] to ``last`` of the same shape."""
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", "batch", width])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, ["seq", "batch", width])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=OPSET)


def scale_model(nodes: int, hidden: int = 4) -> onnx.ModelProto:
    """A chain of units LSTM -> Squeeze -> Relu -> Add -> Mul (5 nodes each)."""
    units = max(1, nodes // 5)
    rng = np.random.default_rng(0)
    inits, graph_nodes = [], []
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes_dir")
    inits.append(axes)
    current = "X"
    for u in range(units):
        shape = (1, 4 * hidden, hidden)
        w = numpy_helper.from_array(rng.standard_normal(shape, np.float32), f"W{u}")
        r = numpy_helper.from_array(rng.standard_normal(shape, np.float32), f"R{u}")
        b = numpy_helper.from_array(np.zeros((1, 8 * hidden), np.float32), f"B{u}")
        inits += [w, r, b]
        graph_nodes += [
            helper.make_node("LSTM", [current, w.name, r.name, b.name], [f"y{u}"],
                             name=f"lstm_{u}", hidden_size=hidden),
            helper.make_node("Squeeze", [f"y{u}", "axes_dir"], [f"s{u}"], name=f"squeeze_{u}"),
            helper.make_node("Relu", [f"s{u}"], [f"r{u}"], name=f"relu_{u}"),
            helper.make_node("Add", [f"r{u}", current], [f"a{u}"], name=f"add_{u}"),
            helper.make_node("Mul", [f"a{u}", f"r{u}"], [f"m{u}"], name=f"mul_{u}"),
        ]
        current = f"m{u}"
    return _sequence_model(f"scale_{nodes}", graph_nodes, inits, current, hidden)


def realistic_model(nodes: int, lstms: int = 8, hidden: int = 16) -> onnx.ModelProto:
    """A big plain graph with few recurrent layers, as a real encoder looks.

    Each of ``lstms`` stages is a bidirectional LSTM, its classic-exporter output flattening
    (Transpose, Reshape), a MatMul projecting 2H back to H and then a chain of MatMul -> Add ->
    Relu blocks (each with its own weights) until the stage has its share of the ``nodes``.
    """
    rng = np.random.default_rng(0)
    per_stage = max(6, nodes // lstms)
    blocks = max(0, (per_stage - 4) // 3)
    inits = [numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "flat_shape")]
    graph_nodes = []
    current = "X"

    def weight(name: str, *shape: int) -> str:
        inits.append(numpy_helper.from_array(
            (rng.standard_normal(shape) * 0.1).astype(np.float32), name))
        return name

    for k in range(lstms):
        w = weight(f"W{k}", 2, 4 * hidden, hidden)
        r = weight(f"R{k}", 2, 4 * hidden, hidden)
        b = weight(f"B{k}", 2, 8 * hidden)
        proj = weight(f"P{k}", 2 * hidden, hidden)
        graph_nodes += [
            helper.make_node("LSTM", [current, w, r, b], [f"Y{k}"], name=f"encoder.lstm_{k}",
                             hidden_size=hidden, direction="bidirectional"),
            helper.make_node("Transpose", [f"Y{k}"], [f"T{k}"], name=f"encoder.transpose_{k}",
                             perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", [f"T{k}", "flat_shape"], [f"F{k}"],
                             name=f"encoder.reshape_{k}"),
            helper.make_node("MatMul", [f"F{k}", proj], [f"p{k}"], name=f"encoder.proj_{k}"),
        ]
        current = f"p{k}"
        for j in range(blocks):
            m = weight(f"M{k}_{j}", hidden, hidden)
            a = weight(f"A{k}_{j}", hidden)
            scope = f"encoder.stage{k}.block{j}"
            graph_nodes += [
                helper.make_node("MatMul", [current, m], [f"mm{k}_{j}"], name=f"{scope}.matmul"),
                helper.make_node("Add", [f"mm{k}_{j}", a], [f"ad{k}_{j}"], name=f"{scope}.add"),
                helper.make_node("Relu", [f"ad{k}_{j}"], [f"re{k}_{j}"], name=f"{scope}.relu"),
            ]
            current = f"re{k}_{j}"
    return _sequence_model(f"realistic_{nodes}", graph_nodes, inits, current, hidden)


def bilstm_model(layers: int = 4, input_size: int = 1024, hidden: int = 1024) -> onnx.ModelProto:
    """Stacked bidirectional LSTM as the classic PyTorch exporter lays it out."""
    inits, nodes = [], []
    current, size = "X", input_size
    perm_shape = numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "flat_shape")
    inits.append(perm_shape)
    for k in range(layers):
        for name, shape in ((f"W{k}", (2, 4 * hidden, size)), (f"R{k}", (2, 4 * hidden, hidden)),
                            (f"B{k}", (2, 8 * hidden))):
            inits.append(numpy_helper.from_array(np.zeros(shape, np.float32), name))
        nodes += [
            helper.make_node("LSTM", [current, f"W{k}", f"R{k}", f"B{k}"], [f"Y{k}"],
                             name=f"lstm_{k}", hidden_size=hidden, direction="bidirectional"),
            helper.make_node("Transpose", [f"Y{k}"], [f"T{k}"], name=f"transpose_{k}",
                             perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", [f"T{k}", "flat_shape"], [f"F{k}"], name=f"reshape_{k}"),
        ]
        current, size = f"F{k}", 2 * hidden
    graph = helper.make_graph(
        nodes, "bilstm",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", "batch", input_size])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, ["seq", "batch", 2 * hidden])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=OPSET)


def sparse_external_model(folder: Path, gigabytes: float = 2.0, hidden: int = 2048) -> Path:
    """Initializers that point into one sparse data file of ~``gigabytes`` GB."""
    folder.mkdir(parents=True, exist_ok=True)
    per_tensor = 4 * hidden * hidden * 4 * 2  # W or R of a bidirectional layer, bytes
    count = int(gigabytes * 2**30 // per_tensor)
    inits, nodes, offset, current = [], [], 0, "X"
    for k in range(count // 2):
        for name in (f"W{k}", f"R{k}"):
            tensor = TensorProto(name=name, data_type=TensorProto.FLOAT,
                                 dims=(2, 4 * hidden, hidden))
            tensor.data_location = TensorProto.EXTERNAL
            for key, value in (("location", "weights.bin"), ("offset", str(offset)),
                               ("length", str(per_tensor))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
            offset += per_tensor
            inits.append(tensor)
        nodes.append(helper.make_node("LSTM", [current, f"W{k}", f"R{k}"], [f"Y{k}"],
                                      name=f"lstm_{k}", hidden_size=hidden,
                                      direction="bidirectional"))
        nodes.append(helper.make_node("Transpose", [f"Y{k}"], [f"T{k}"], perm=[0, 2, 1, 3]))
        nodes.append(helper.make_node("Reshape", [f"T{k}", "flat"], [f"F{k}"]))
        current = f"F{k}"
    inits.append(numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "flat"))
    graph = helper.make_graph(
        nodes, "sparse_2g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", "batch", hidden])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, ["seq", "batch", 2 * hidden])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=OPSET)
    path = folder / "model.onnx"
    onnx.save_model(model, path)
    with (folder / "weights.bin").open("wb") as data:
        data.truncate(offset)  # sparse: no blocks are written
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    sizes = (1_000, 10_000) if args.quick else SCALE_SIZES
    for n in sizes:
        path = out / f"scale_{n}.onnx"
        if not path.exists():
            onnx.save_model(scale_model(n), path)
    for n in (10_000,) if args.quick else REALISTIC_SIZES:
        path = out / f"realistic_{n}.onnx"
        if not path.exists():
            onnx.save_model(realistic_model(n), path)
    inline = out / "bilstm_4x1024.onnx"
    external = out / "bilstm_4x1024_ext" / "model.onnx"
    if not inline.exists() or not external.exists():
        model = bilstm_model(hidden=128, input_size=128) if args.quick else bilstm_model()
        onnx.save_model(model, inline)
        external.parent.mkdir(exist_ok=True)
        onnx.save_model(model, external, save_as_external_data=True, location="weights.bin")
    sparse = out / "sparse_2g" / "model.onnx"
    if not sparse.exists():
        sparse_external_model(sparse.parent, gigabytes=0.1 if args.quick else 2.0)
    print("\n".join(f"{p.relative_to(out)}\t{p.stat().st_size:,} bytes"
                    for p in sorted(out.rglob("*")) if p.is_file()))


if __name__ == "__main__":
    main()
