"""The fp16 GPU variant of an exported graph, with the numerically fragile parts kept in fp32.

Contract: `convert_fp16(src, dst)` writes a float16 copy of one graph (weights and activations in
fp16) that keeps the same input and output names, so runtime.generator runs it unchanged:
- Host-facing tensors stay float32: `pixel_values` in, `encoder_hidden_states`, `finding_logits` and
  `logits` out.
  The key/value caches (cross_*, past_*, present_*) become float16: they stay on the GPU between
  decoding steps, are half the size, and need no per-step cast; the generator binds the decoder's
  caches in the dtype the graph declares.
- fp32 islands (see `plan_fp16`), each for a measured or documented failure of plain conversion:
  1. index arithmetic: float nodes computed from ids, masks and shapes rather than activations.
     T5's relative-position buckets take the log of a distance and truncate it to an int; in fp16
     the bucket boundaries move: converted naively, 2 % of the tiny test model's position-bias
     entries changed by up to the bias's own magnitude (tests/export/test_fp16.py).
  2. RMS-norm statistics (Pow -> ReduceMean -> Add -> Sqrt -> Div -> Mul): squaring a hidden value
     above 256 overflows fp16 (T5's norms compute their variance in fp32 for this reason).
  3. Softmax, whose inputs carry the -inf/-65504 attention-mask bias.
  4. Optional calibration: nodes that produce or consume activations larger than `overflow_limit`
     on calibration inputs stay fp32. Some T5 checkpoints' feed-forward outputs exceed fp16's
     65504 (transformers keeps T5's `wo` in fp32 for this); calibrate with real studies to find them.
- The fp32 -> fp16 -> fp32 cast pairs that the converter puts between two fp32 nodes are removed.

`compare_fp16` / `validate_fp16` run both graphs on the CPU execution provider and compare outputs.
ONNX Runtime's CPU provider computes most fp16 kernels in fp32 internally (it inserts casts), so this
checks the weights' and the node boundaries' rounding, not fp16 accumulation or overflow inside a
kernel: GPU token parity is the job of the gpu-marked tests (tests/runtime/test_gpu.py).
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError
from onnx import TensorProto, shape_inference
from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

from export.onnx_export import ExportError, GraphCheck
from export.spec import Tolerance
from runtime.session import cpu_session

log = logging.getLogger("securemed.export")

HOST_IO = ("pixel_values", "encoder_hidden_states", "finding_logits", "logits")
FP32_OP_TYPES = ("Softmax",)
OVERFLOW_LIMIT = 8192.0  # an eighth of fp16's largest finite value: headroom for unseen inputs
# Outputs compared within max|fp16 - fp32| <= atol + rtol * max|fp32|, per output tensor.
FP16_TOLERANCE = Tolerance(atol=1e-2, rtol=2e-2)
_FLOATS = (TensorProto.FLOAT,)
_NORM_STEPS = ("Add", "Sqrt", "Reciprocal", "Div")


class Fp16Error(ExportError):
    """The fp16 variant cannot be made, or disagrees with the fp32 graph beyond tolerance."""


@dataclass(frozen=True)
class Fp16Plan:
    """What `convert_fp16` keeps in float32: graph IO names and node names with the reason."""

    keep_io: tuple[str, ...]
    fp32_nodes: Mapping[str, str] = field(default_factory=dict)
    op_types: tuple[str, ...] = FP32_OP_TYPES


def convert_fp16(
    src: Path,
    dst: Path,
    *,
    calibration: Iterable[Mapping[str, np.ndarray]] = (),
    overflow_limit: float = OVERFLOW_LIMIT,
    keep_io: Sequence[str] = HOST_IO,
) -> None:
    """Write the fp16 variant of the graph at `src` to `dst` (see the module contract)."""
    try:
        model = onnx.load(str(src))
    except (OSError, DecodeError) as exc:
        raise Fp16Error(f"cannot read {src}: {exc}") from exc
    _name_nodes(model)
    plan = plan_fp16(model, calibration, overflow_limit=overflow_limit, keep_io=keep_io)
    converted = convert_float_to_float16(
        model,
        keep_io_types=list(plan.keep_io),
        op_block_list=sorted(set(DEFAULT_OP_BLOCK_LIST) | set(plan.op_types)),
        node_block_list=sorted(plan.fp32_nodes),
    )
    dropped = drop_cast_round_trips(converted)
    _sort_topologically(converted)  # the converter appends its casts at the end of the node list
    try:
        onnx.checker.check_model(converted)
    except onnx.checker.ValidationError as exc:
        raise Fp16Error(f"the fp16 variant of {src.name} is not a valid ONNX model: {exc}") from exc
    onnx.save(converted, str(dst))
    reasons: dict[str, int] = {}
    for reason in plan.fp32_nodes.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    log.info("fp16 %s -> %s: fp32 nodes %s, %d cast round trips removed", src.name, dst.name, reasons, dropped)


def plan_fp16(
    model: onnx.ModelProto,
    calibration: Iterable[Mapping[str, np.ndarray]] = (),
    *,
    overflow_limit: float = OVERFLOW_LIMIT,
    keep_io: Sequence[str] = HOST_IO,
) -> Fp16Plan:
    """Which graph IO and nodes stay float32 (nodes must be named; `convert_fp16` names them)."""
    floats = {v.name for v in (*model.graph.input, *model.graph.output) if v.type.tensor_type.elem_type in _FLOATS}
    nodes: dict[str, str] = {}
    for name in index_arithmetic_nodes(model):
        nodes[name] = "index arithmetic"
    for name in rms_norm_nodes(model):
        nodes.setdefault(name, "rms-norm statistics")
    samples = list(calibration)
    if samples:
        for name in overflow_nodes(model, samples, limit=overflow_limit):
            nodes.setdefault(name, "calibrated overflow")
    for name in _constants_feeding_only(model, set(nodes)):
        nodes.setdefault(name, "constant of an fp32 node")
    return Fp16Plan(keep_io=tuple(n for n in keep_io if n in floats), fp32_nodes=nodes)


def index_arithmetic_nodes(model: onnx.ModelProto) -> set[str]:
    """Nodes computing from integer inputs and shapes, never from float activations.

    A value is an activation if it derives from a float graph input or from a lookup into a weight
    table (Gather on an initializer: exact in fp16, and blocking it would cast the whole table every
    run). Shape and Size cut the derivation: their outputs are indices, whatever their input.
    """
    graph = model.graph
    weights = {t.name for t in graph.initializer}
    data = {i.name for i in graph.input if i.type.tensor_type.elem_type in _FLOATS}
    index = {i.name for i in graph.input if i.name not in data and i.name not in weights}
    found: set[str] = set()
    for node in graph.node:
        inputs = [i for i in node.input if i]
        if node.op_type in ("Shape", "Size"):
            index.update(node.output)
        elif any(i in data for i in inputs) or (node.op_type == "Gather" and inputs and inputs[0] in weights):
            data.update(node.output)
        elif any(i in index for i in inputs):
            index.update(node.output)
            found.add(node.name)
    return found


def rms_norm_nodes(model: onnx.ModelProto) -> set[str]:
    """The statistics of every RMS norm: [Cast] Pow -> ReduceMean -> Add -> Sqrt -> Div -> Mul.

    The chain ends at the first node that multiplies (or divides) the hidden state by the inverse
    root: its output is normalised, so fp16 is safe again after it.
    """
    producers = {o: n for n in model.graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    found: set[str] = set()
    for mean in model.graph.node:
        power = producers.get(mean.input[0]) if mean.op_type == "ReduceMean" else None
        if power is None or power.op_type != "Pow":
            continue
        base = power.input[0]
        chain = {power.name, mean.name}
        upcast = producers.get(base)
        if upcast is not None and upcast.op_type == "Cast":
            chain.add(upcast.name)
        current = mean
        while True:
            following = consumers.get(current.output[0], [])
            if len(following) != 1:
                break
            step = following[0]
            if step.op_type == "Mul" or (step.op_type == "Div" and base in step.input):
                chain.add(step.name)
                break
            if step.op_type not in _NORM_STEPS:
                break
            chain.add(step.name)
            current = step
        found |= chain
    return found


def overflow_nodes(
    model: onnx.ModelProto, calibration: Iterable[Mapping[str, np.ndarray]], *, limit: float = OVERFLOW_LIMIT
) -> set[str]:
    """Nodes that produce or consume a float tensor whose magnitude exceeds `limit` on any sample.

    Runs the float32 graph on the CPU with every intermediate float tensor exposed as an output.
    Consumers count too: a large fp32 value cast into an fp16 node overflows just the same.
    """
    probe = shape_inference.infer_shapes(model)
    exposed = {o.name for o in probe.graph.output}
    known = {v.name: v for v in probe.graph.value_info}
    for node in probe.graph.node:
        for out in node.output:
            info = known.get(out)
            if info is not None and out not in exposed and info.type.tensor_type.elem_type in _FLOATS:
                probe.graph.output.append(info)
                exposed.add(out)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every name
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    peak: dict[str, float] = {}
    for feeds in calibration:
        for name, value in zip(names, session.run(names, dict(feeds))):
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size:
                magnitude = float(np.nanmax(np.abs(value))) if np.isfinite(value).all() else float("inf")
                peak[name] = max(peak.get(name, 0.0), magnitude)
    large = {name for name, value in peak.items() if value > limit}
    found: set[str] = set()
    for node in model.graph.node:
        if large & set(node.output) or large & set(node.input):
            found.add(node.name)
    return found


def drop_cast_round_trips(model: onnx.ModelProto) -> int:
    """Rewire Cast(fp32 -> fp16) -> Cast(-> fp32) pairs to the original fp32 tensor; returns how many.

    The converter casts every output of an fp32 node to fp16 and back for the next fp32 node, which
    would round a chain of fp32 nodes (the position buckets) to fp16 between every step.
    """
    graph = model.graph
    types = _tensor_types(model)
    producers = {o: n for n in graph.node for o in n.output}
    outputs = {o.name for o in graph.output}
    rewire: dict[str, str] = {}
    for node in graph.node:
        first = producers.get(node.input[0]) if node.op_type == "Cast" else None
        if (
            first is not None
            and first.op_type == "Cast"
            and _cast_to(node) == TensorProto.FLOAT
            and _cast_to(first) == TensorProto.FLOAT16
            and types.get(first.input[0]) == TensorProto.FLOAT
            and node.output[0] not in outputs
        ):
            rewire[node.output[0]] = first.input[0]
    if not rewire:
        return 0
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name in rewire:
                node.input[k] = rewire[name]
    _prune(model)
    return len(rewire)


def compare_fp16(
    reference: Path,
    candidate: Path,
    feeds: Iterable[Mapping[str, np.ndarray]],
    *,
    tolerance: Tolerance = FP16_TOLERANCE,
) -> list[GraphCheck]:
    """Run the fp32 `reference` and the fp16 `candidate` on the CPU and compare every output.

    Float feeds are cast to each graph's declared input type. An output passes when it is finite
    and max|candidate - reference| <= atol + rtol * max|reference|.
    """
    ref, cand = cpu_session(str(reference)), cpu_session(str(candidate))
    names = [o.name for o in ref.get_outputs()]
    checks: list[GraphCheck] = []
    for sample in feeds:
        want = ref.run(names, _feeds_for(ref, sample))
        got = cand.run(names, _feeds_for(cand, sample))
        for name, w, g in zip(names, want, got):
            if w.shape != g.shape:
                raise Fp16Error(f"{candidate.name}.{name}: shape {g.shape} != fp32 {w.shape}")
            w64, g64 = w.astype(np.float64), g.astype(np.float64)
            diff = np.abs(g64 - w64)
            scale = float(np.abs(w64).max(initial=0.0))
            worst = float(diff.max(initial=0.0))
            rel = worst / scale if scale else (0.0 if worst == 0.0 else float("inf"))
            ok = bool(np.isfinite(g64).all()) and worst <= tolerance.atol + tolerance.rtol * scale
            checks.append(GraphCheck(candidate.stem, name, worst, rel, ok))
    return checks


def validate_fp16(
    reference: Path,
    candidate: Path,
    feeds: Iterable[Mapping[str, np.ndarray]],
    *,
    tolerance: Tolerance = FP16_TOLERANCE,
) -> list[GraphCheck]:
    """`compare_fp16`, raising Fp16Error when an output is not finite or beyond tolerance."""
    checks = compare_fp16(reference, candidate, feeds, tolerance=tolerance)
    bad = [c for c in checks if not c.within_tolerance]
    if bad:
        worst = max(bad, key=lambda c: c.max_rel_error)
        raise Fp16Error(f"{len(bad)} fp16 outputs beyond tolerance; worst {worst}")
    return checks


# ---- helpers ----------------------------------------------------------------------------------


def _name_nodes(model: onnx.ModelProto) -> None:
    """Give every node a unique name: the converter's block list addresses nodes by name."""
    seen: set[str] = set()
    for k, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.name or node.op_type}__fp16_{k}"
        seen.add(node.name)


def _constants_feeding_only(model: onnx.ModelProto, fp32: set[str]) -> set[str]:
    """Constant nodes all of whose consumers stay fp32 (they would only be cast back)."""
    consumers: dict[str, list[str]] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n.name)
    return {
        n.name
        for n in model.graph.node
        if n.op_type == "Constant" and consumers.get(n.output[0]) and all(c in fp32 for c in consumers[n.output[0]])
    }


def _tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    g = model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in (*g.input, *g.output, *g.value_info)}
    types.update({t.name: t.data_type for t in g.initializer})
    for node in g.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    types[node.output[0]] = attr.t.data_type
        elif node.op_type == "Cast":
            types[node.output[0]] = _cast_to(node)
    return types


def _cast_to(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "to"), TensorProto.UNDEFINED)


def _prune(model: onnx.ModelProto) -> None:
    """Drop nodes whose outputs nothing uses (repeatedly), then value_info of vanished tensors."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    while True:
        used = {i for n in graph.node for i in n.input} | outputs
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    live = {o for n in graph.node for o in n.output} | {i.name for i in graph.input}
    for info in [v for v in graph.value_info if v.name not in live]:
        graph.value_info.remove(info)


def _sort_topologically(model: onnx.ModelProto) -> None:
    """Kahn's algorithm, stable: among ready nodes the original order is kept."""
    graph = model.graph
    nodes = list(graph.node)
    producer = {o: k for k, n in enumerate(nodes) for o in n.output if o}
    waiting = [0] * len(nodes)
    dependents: dict[int, list[int]] = {}
    for k, node in enumerate(nodes):
        for parent in {producer[i] for i in node.input if i in producer}:
            waiting[k] += 1
            dependents.setdefault(parent, []).append(k)
    ready = [k for k, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        k = heapq.heappop(ready)
        order.append(k)
        for child in dependents.get(k, []):
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    if len(order) != len(nodes):
        raise Fp16Error("the converted graph has a cycle")
    copies = [onnx.NodeProto() for _ in order]
    for copy, k in zip(copies, order):
        copy.CopyFrom(nodes[k])
    del graph.node[:]
    graph.node.extend(copies)


def _feeds_for(session: ort.InferenceSession, sample: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for spec in session.get_inputs():
        value = np.asarray(sample[spec.name])
        if value.dtype.kind == "f":
            value = value.astype(np.float16 if spec.type == "tensor(float16)" else np.float32)
        out[spec.name] = value
    return out


__all__ = [
    "FP16_TOLERANCE",
    "FP32_OP_TYPES",
    "HOST_IO",
    "OVERFLOW_LIMIT",
    "Fp16Error",
    "Fp16Plan",
    "compare_fp16",
    "convert_fp16",
    "drop_cast_round_trips",
    "index_arithmetic_nodes",
    "overflow_nodes",
    "plan_fp16",
    "rms_norm_nodes",
    "validate_fp16",
]
