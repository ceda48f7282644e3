"""The fp16 GPU variant: graph IO policy, fp32 islands, numeric agreement with fp32, generation.

On the CPU, ONNX Runtime computes fp16 kernels through fp32 casts, so these tests check structure
and rounding at node boundaries; fp16 kernels themselves run in the gpu-marked tests.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper, shape_inference

pytest.importorskip("torch")

from export.bundle import write_manifest
from export.fp16 import (
    HOST_IO,
    Fp16Error,
    compare_fp16,
    convert_fp16,
    drop_cast_round_trips,
    overflow_nodes,
    plan_fp16,
    validate_fp16,
)
from export.spec import Tolerance
from runtime.bundle import MANIFEST, ModelBundle
from runtime.generator import ReportGenerator
from tests.runtime.test_gpu import assert_parity, needs_cuda, needs_trt

ROLES = ("encoder", "decoder")
FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16


@pytest.fixture(scope="module")
def fp16_bundle(tiny_bundle: Path, tiny_model, tmp_path_factory) -> Path:
    """The tiny bundle with an added fp16 variant, written through export.bundle.write_manifest."""
    out = tmp_path_factory.mktemp("fp16") / "bundle"
    shutil.copytree(tiny_bundle, out)
    (out / MANIFEST).unlink()
    variants = dict(ModelBundle.open(tiny_bundle).manifest.variants)
    variants["fp16"] = {}
    for role in ROLES:
        convert_fp16(out / f"{role}.onnx", out / f"{role}.fp16.onnx")
        variants["fp16"][role] = f"{role}.fp16.onnx"
    write_manifest(tiny_model, out, name="tiny-test", variants=variants, max_new_tokens=24)
    return out


def _types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = shape_inference.infer_shapes(model)
    g = inferred.graph
    out = {v.name: v.type.tensor_type.elem_type for v in (*g.input, *g.output, *g.value_info)}
    out.update({t.name: t.data_type for t in g.initializer})
    return out


def _io(model: onnx.ModelProto) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    def pick(values) -> list[tuple[str, int]]:
        return [(v.name, v.type.tensor_type.elem_type) for v in values]

    return pick(model.graph.input), pick(model.graph.output)


def _encoder_feeds(bundle_dir: Path, batch: int, seed: int) -> dict[str, np.ndarray]:
    bundle = ModelBundle.open(bundle_dir)
    size = bundle.manifest.preprocessing.image_size
    rng = np.random.default_rng(seed)
    ids, mask = ReportGenerator(bundle, providers=["CPUExecutionProvider"]).encode_prompts(
        ["cough", None, "fever and cough", None][:batch]
    )
    return {
        "pixel_values": rng.standard_normal((batch, 3, size, size)).astype(np.float32),
        "prompt_ids": ids,
        "prompt_mask": mask,
    }


def _decoder_feeds(bundle_dir: Path, batch: int, past: int, seed: int) -> dict[str, np.ndarray]:
    """Decoder inputs with real cross keys/values (from the fp32 encoder) and a random past."""
    m = ModelBundle.open(bundle_dir).manifest
    enc = ort.InferenceSession(str(bundle_dir / "encoder.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in enc.get_outputs()]
    out = dict(zip(names, enc.run(names, _encoder_feeds(bundle_dir, batch, seed))))
    rng = np.random.default_rng(seed)
    feeds = {
        "input_ids": rng.integers(3, m.decoder.vocab_size, (batch, 1)),
        "encoder_attention_mask": out["encoder_attention_mask"],
    }
    for i in range(m.decoder.num_layers):
        for kind in ("key", "value"):
            shape = (batch, m.decoder.num_heads, past, m.decoder.d_kv)
            feeds[f"past_{kind}_{i}"] = rng.standard_normal(shape).astype(np.float32)
            feeds[f"cross_{kind}_{i}"] = out[f"cross_{kind}_{i}"]
    return feeds


# ---- structure ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_names_are_kept_and_only_the_caches_become_float16(fp16_bundle: Path, role: str) -> None:
    fp32 = onnx.load(str(fp16_bundle / f"{role}.onnx"))
    fp16 = onnx.load(str(fp16_bundle / f"{role}.fp16.onnx"))
    (ins32, outs32), (ins16, outs16) = _io(fp32), _io(fp16)
    assert [n for n, _ in ins16] == [n for n, _ in ins32] and [n for n, _ in outs16] == [n for n, _ in outs32]
    for (name, before), (_, after) in zip(ins32 + outs32, ins16 + outs16):
        if before != FLOAT or name in HOST_IO:
            assert after == before, name
        else:
            assert name.startswith(("past_", "cross_", "present_")) and after == HALF, name


@pytest.mark.parametrize("role", ROLES)
def test_matmul_weights_are_stored_in_float16(fp16_bundle: Path, role: str) -> None:
    model = onnx.load(str(fp16_bundle / f"{role}.fp16.onnx"))
    weights = {t.name: t for t in model.graph.initializer}
    used = [i for n in model.graph.node if n.op_type in ("MatMul", "Conv") for i in n.input if i in weights]
    assert used and all(weights[name].data_type == HALF for name in used)
    size32 = (fp16_bundle / f"{role}.onnx").stat().st_size
    assert (fp16_bundle / f"{role}.fp16.onnx").stat().st_size < 0.6 * size32


@pytest.mark.parametrize("role", ROLES)
def test_position_buckets_and_norm_statistics_stay_float32(fp16_bundle: Path, role: str) -> None:
    source = onnx.load(str(fp16_bundle / f"{role}.onnx"))
    plan = plan_fp16(source)
    logs = [n.name for n in source.graph.node if n.op_type == "Log"]
    powers = [n.name for n in source.graph.node if n.op_type == "Pow"]
    assert logs and all(plan.fp32_nodes[n] == "index arithmetic" for n in logs)
    assert powers and all(plan.fp32_nodes[n] == "rms-norm statistics" for n in powers)
    converted = onnx.load(str(fp16_bundle / f"{role}.fp16.onnx"))
    types = _types(converted)
    for node in converted.graph.node:
        if node.name in logs or node.name in powers:
            assert types[node.output[0]] == FLOAT, node.name
        if node.op_type == "MatMul":
            assert types[node.output[0]] == HALF, node.name


@pytest.mark.parametrize("role", ROLES)
def test_no_fp16_round_trip_is_left_between_fp32_nodes(fp16_bundle: Path, role: str) -> None:
    model = onnx.load(str(fp16_bundle / f"{role}.fp16.onnx"))
    types = _types(model)
    producer = {o: n for n in model.graph.node for o in n.output}

    def to(node: onnx.NodeProto) -> int:
        return next(a.i for a in node.attribute if a.name == "to")

    for node in model.graph.node:
        parent = producer.get(node.input[0]) if node.op_type == "Cast" else None
        if parent is not None and parent.op_type == "Cast" and to(parent) == HALF and to(node) == FLOAT:
            # fine when the first cast only re-labels an fp16 value, not when it rounds an fp32 one
            assert types[parent.input[0]] != FLOAT, (parent.name, node.name)
    assert drop_cast_round_trips(model) == 0
    onnx.checker.check_model(model)  # valid and topologically sorted


def test_a_file_that_is_not_onnx_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.onnx").write_bytes(b"not a model")
    with pytest.raises(Fp16Error, match="cannot read"):
        convert_fp16(tmp_path / "x.onnx", tmp_path / "y.onnx")
    assert not (tmp_path / "y.onnx").exists()


# ---- numbers --------------------------------------------------------------------------------


def test_fp16_graphs_agree_with_fp32_within_tolerance(fp16_bundle: Path) -> None:
    checks = validate_fp16(
        fp16_bundle / "encoder.onnx",
        fp16_bundle / "encoder.fp16.onnx",
        [_encoder_feeds(fp16_bundle, 4, seed) for seed in (1, 2)],
    )
    checks += validate_fp16(
        fp16_bundle / "decoder.onnx",
        fp16_bundle / "decoder.fp16.onnx",
        [_decoder_feeds(fp16_bundle, 3, past, seed=past) for past in (0, 5)],
    )
    names = {(c.graph, c.output) for c in checks}
    assert ("decoder.fp16", "logits") in names and ("encoder.fp16", "cross_value_2") in names
    assert max(c.max_rel_error for c in checks) > 0  # really fp16: not a copy of the fp32 graph


def test_plain_conversion_moves_the_position_buckets_and_fails_the_same_check(
    fp16_bundle: Path, tmp_path: Path
) -> None:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    plain = convert_float_to_float16(onnx.load(str(fp16_bundle / "encoder.onnx")), keep_io_types=list(HOST_IO[:2]))
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    feeds = [_encoder_feeds(fp16_bundle, 4, seed=1)]
    reference = fp16_bundle / "encoder.onnx"
    ours = max(c.max_rel_error for c in compare_fp16(reference, fp16_bundle / "encoder.fp16.onnx", feeds))
    theirs = max(c.max_rel_error for c in compare_fp16(reference, tmp_path / "plain.onnx", feeds))
    assert theirs > 5 * ours, (theirs, ours)
    tight = Tolerance(atol=0.0, rtol=2 * ours)
    validate_fp16(fp16_bundle / "encoder.onnx", fp16_bundle / "encoder.fp16.onnx", feeds, tolerance=tight)
    with pytest.raises(Fp16Error, match="beyond tolerance"):
        validate_fp16(fp16_bundle / "encoder.onnx", tmp_path / "plain.onnx", feeds, tolerance=tight)


def test_generation_with_the_fp16_variant_follows_fp32(fp16_bundle: Path) -> None:
    bundle = ModelBundle.open(fp16_bundle)
    assert {"fp32", "fp16"} <= set(bundle.precisions)
    fp32 = ReportGenerator(bundle, precision="fp32", providers=["CPUExecutionProvider"])
    fp16 = ReportGenerator(bundle, precision="fp16", providers=["CPUExecutionProvider"])
    assert fp16._cache_dtype is np.float16
    assert_parity(fp32, fp16, rtol=2e-2, min_agreement=0.75)


# ---- calibration: activations beyond fp16's range -------------------------------------------


def _overflowing_chain() -> onnx.ModelProto:
    """y = ((1000 x)^2 * 1e-3) * 1e-3: the square reaches 1e6 for |x| = 1, far beyond fp16."""
    x = helper.make_tensor_value_info("x", FLOAT, ["n", 4])
    y = helper.make_tensor_value_info("y", FLOAT, ["n", 4])
    init = [numpy_helper.from_array(np.full(4, v, np.float32), name) for name, v in (("big", 1e3), ("small", 1e-3))]
    nodes = [
        helper.make_node("Mul", ["x", "big"], ["h"], name="up"),
        helper.make_node("Mul", ["h", "h"], ["h2"], name="square"),
        helper.make_node("Mul", ["h2", "small"], ["y0"], name="down"),
        helper.make_node("Mul", ["y0", "small"], ["y"], name="down2"),
    ]
    graph = helper.make_graph(nodes, "chain", [x], [y], init)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(
    "limit, expected",
    [
        (1e7, set()),
        (8192.0, {"square", "down"}),  # h2 = 1e6: its producer and its consumer
        (500.0, {"up", "square", "down", "down2"}),  # h and y0 = 1e3 as well
    ],
)
def test_overflow_nodes_are_the_producers_and_consumers_of_large_tensors(limit: float, expected: set[str]) -> None:
    samples = [{"x": np.ones((2, 4), np.float32)}, {"x": -np.ones((1, 4), np.float32)}]
    assert overflow_nodes(_overflowing_chain(), samples, limit=limit) == expected


def test_calibrated_overflow_keeps_those_nodes_in_float32(tmp_path: Path) -> None:
    onnx.save(_overflowing_chain(), str(tmp_path / "chain.onnx"))
    convert_fp16(tmp_path / "chain.onnx", tmp_path / "plain.onnx")
    calibration = [{"x": np.ones((1, 4), np.float32)}]
    convert_fp16(tmp_path / "chain.onnx", tmp_path / "calibrated.onnx", calibration=calibration)

    def node_output_types(path: Path) -> dict[str, int]:
        model = onnx.load(str(path))
        types = _types(model)
        return {n.name: types[n.output[0]] for n in model.graph.node if n.name in ("up", "square", "down", "down2")}

    assert node_output_types(tmp_path / "plain.onnx") == dict.fromkeys(("up", "square", "down", "down2"), HALF)
    calibrated = node_output_types(tmp_path / "calibrated.onnx")
    assert calibrated == {"up": HALF, "square": FLOAT, "down": FLOAT, "down2": HALF}
    checks = validate_fp16(tmp_path / "chain.onnx", tmp_path / "calibrated.onnx", [{"x": np.ones((3, 4), np.float32)}])
    assert checks and all(c.within_tolerance for c in checks)


# ---- any small graph ------------------------------------------------------------------------

_OPS = st.sampled_from(["MatMul", "Add", "Relu", "Softmax", "Mul"])


@hsettings(max_examples=12, deadline=None)
@given(ops=st.lists(_OPS, min_size=1, max_size=6), width=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_any_small_graph_converts_to_a_valid_graph_that_agrees_with_fp32(ops: list[str], width: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    nodes, inits, current = [], [], "x"
    for k, op in enumerate(ops):
        out = f"t{k}"
        if op in ("MatMul", "Add", "Mul"):
            shape = (width, width) if op == "MatMul" else (width,)
            weight = (rng.standard_normal(shape) / np.sqrt(width)).astype(np.float32)
            inits.append(numpy_helper.from_array(weight, f"w{k}"))
            nodes.append(helper.make_node(op, [current, f"w{k}"], [out], name=f"n{k}"))
        else:
            extra = {"axis": -1} if op == "Softmax" else {}
            nodes.append(helper.make_node(op, [current], [out], name=f"n{k}", **extra))
        current = out
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", FLOAT, ["n", width])],
        [helper.make_tensor_value_info(current, FLOAT, ["n", width])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "a.onnx", Path(tmp) / "b.onnx"
        onnx.save(model, str(src))
        convert_fp16(src, dst, keep_io=())
        converted = onnx.load(str(dst))
        onnx.checker.check_model(converted)
        assert [t for _, t in _io(converted)[0]] == [HALF]
        validate_fp16(src, dst, [{"x": rng.standard_normal((3, width)).astype(np.float32)}])


# ---- on a GPU -------------------------------------------------------------------------------


@pytest.mark.gpu
@needs_cuda
def test_fp16_variant_on_cuda_follows_cpu_fp32(fp16_bundle: Path) -> None:
    bundle = ModelBundle.open(fp16_bundle)
    cpu = ReportGenerator(bundle, precision="fp32", providers=["CPUExecutionProvider"])
    cuda = ReportGenerator(bundle, precision="fp16", providers=["CUDAExecutionProvider"])
    assert cuda.device == "cuda"
    assert_parity(cpu, cuda, rtol=5e-2, min_agreement=0.75)


@pytest.mark.gpu
@needs_trt
def test_fp16_variant_on_tensorrt_follows_cpu_fp32(fp16_bundle: Path, tmp_path: Path) -> None:
    from runtime.engines import build_engines
    from runtime.session import SessionSettings, available_providers

    bundle = ModelBundle.open(fp16_bundle)
    gpu_providers = tuple(available_providers(("TensorrtExecutionProvider", "CUDAExecutionProvider")))
    settings = SessionSettings(
        providers=gpu_providers, engine_cache_dir=tmp_path, trt_fp16=True, max_batch=4, max_prompt_tokens=16
    )
    report = build_engines(bundle, settings, "fp16")
    assert report.engines_built
    cpu = ReportGenerator(bundle, precision="fp32", providers=["CPUExecutionProvider"])
    trt = ReportGenerator(bundle, precision="fp16", settings=settings)
    assert_parity(cpu, trt, rtol=5e-2, min_agreement=0.75)


def test_a_bundle_with_the_fp16_variant_generates_like_fp32_on_cpu(tiny_model, tiny_tokenizer_file, tmp_path) -> None:
    from export.bundle import write_bundle
    from runtime.bundle import ModelBundle
    from runtime.generator import ReportGenerator

    manifest = write_bundle(tiny_model, tiny_tokenizer_file, tmp_path / "b", name="fp16-test", int8=False, fp16=True)
    assert manifest["variants"]["fp16"] == {"encoder": "encoder.fp16.onnx", "decoder": "decoder.fp16.onnx"}
    bundle = ModelBundle.open(tmp_path / "b")
    fp32, fp16 = ReportGenerator(bundle, precision="fp32"), ReportGenerator(bundle, precision="fp16")
    pixels = np.random.default_rng(4).standard_normal((6, 3, 64, 64)).astype(np.float32)
    ids, mask = fp32.encode_prompts([None] * 6)
    a = fp32.generate_ids(pixels, ids, mask, 16)
    b = fp16.generate_ids(pixels, ids, mask, 16)
    assert sum(x == y for x, y in zip(a, b)) >= 5
