"""The engine's backends and precisions, measured side by side on the real bundle (issue 14).

In one process, on the same pre-decoded real films and the same bundle, interleaved round by round
so that a busy machine slows every variant alike:
  tensorflow-fp32    the reference engine (Keras model, traced function, float32)
  tensorflow-bf16    the same in bfloat16 (only on CPUs with native bf16)
  onnxruntime-fp32   the bundle's ONNX graph on ONNX Runtime
  openvino-fp32      the same graph on OpenVINO
  onnxruntime-int8 / openvino-int8   the quantised graph, where the bundle has one
  openvino-bf16      the graph in bfloat16 (only on CPUs with native bf16)
Each line: batched img/s, CPU ms per image, and the largest differences from tensorflow-fp32 on
the same films (probabilities, heat-maps) with the share of identical decisions. The fastest CPU
runtime in float32 is ``cxr_desktop.engine.CPU_PREFERENCE``'s first entry.

    nice -n 15 .venv/bin/python bench/engine_variants.py --quick
    .venv/bin/python bench/engine_variants.py --images 200      # parity on 200 films, idle machine
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_common_arguments, machine, real_images, resolve_bundle, table  # noqa: E402


def variants(bundle) -> list[tuple[str, str, str]]:
    """(name, backend, precision) for every variant this machine and bundle can run."""
    from cxr_desktop.engine import installed
    from cxr_desktop.engine.device import cpu_has_bf16

    found = [("tensorflow-fp32", "tensorflow", "float32")]
    if cpu_has_bf16():
        found.append(("tensorflow-bf16", "tensorflow", "bfloat16"))
    precisions = ["float32"] + (["int8"] if bundle.onnx is not None and bundle.onnx.int8_file else [])
    for runtime in ("onnxruntime", "openvino"):
        if installed(runtime) and bundle.onnx is not None:
            found += [(f"{runtime}-{p.replace('float', 'fp')}", runtime, p) for p in precisions]
    if cpu_has_bf16() and installed("openvino") and bundle.onnx is not None:
        found.append(("openvino-bf16", "openvino", "bfloat16"))
    return found


def run_variant(engine, batches: list[np.ndarray]):
    """Wall and CPU seconds for all batches, and the outputs of the last round."""
    wall, cpu = time.perf_counter(), time.process_time()
    outputs = [engine.explain(batch) for batch in batches]
    return time.perf_counter() - wall, time.process_time() - cpu, outputs


def compare(outputs, reference) -> tuple[float, float, float]:
    """Largest |delta p|, smallest heat-map correlation, share of films with the same argmax."""
    p = np.concatenate([o.probabilities for o in outputs])
    q = np.concatenate([o.probabilities for o in reference])
    cams = np.concatenate([o.cams for o in outputs]).reshape(len(p) * p.shape[1], -1)
    ref_cams = np.concatenate([o.cams for o in reference]).reshape(len(p) * p.shape[1], -1)
    correlations = [
        np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else float(np.allclose(a, b))
        for a, b in zip(cams, ref_cams, strict=True)
    ]
    return float(np.abs(p - q).max()), float(np.min(correlations)), float(np.mean(p.argmax(1) == q.argmax(1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.rounds = min(args.images, 32), 2

    from cxr_desktop.core.preprocessing import preprocess
    from cxr_desktop.core.radiograph import load_radiograph
    from cxr_desktop.engine import load_engine

    bundle = resolve_bundle(args.model)
    paths = real_images(args.images)
    tensors = np.stack([preprocess(load_radiograph(p).pixels, bundle.preprocessing) for p in paths])
    batches = [tensors[i : i + args.batch_size] for i in range(0, len(tensors), args.batch_size)]
    names = variants(bundle)
    engines, load_seconds = {}, {}
    for name, backend, precision in names:
        started = time.perf_counter()
        engines[name] = load_engine(bundle, backend=backend, precision=precision)
        load_seconds[name] = time.perf_counter() - started
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in names}
    outputs = {}
    for _ in range(args.rounds):
        for name, _, _ in names:
            wall, cpu, outputs[name] = run_variant(engines[name], batches)
            timings[name].append((wall, cpu))

    print(f"machine: {machine()}")
    print(f"bundle: {bundle.title}; {len(paths)} real cxr3 films, batch {args.batch_size}, best of {args.rounds}\n")
    reference = outputs["tensorflow-fp32"]
    rows = []
    for name, _, _ in names:
        wall, cpu = min(timings[name])
        dp, corr, same = compare(outputs[name], reference)
        rows.append(
            (
                name,
                engines[name].device_description,
                f"{load_seconds[name]:.2f}",
                f"{len(paths) / wall:.1f}",
                f"{1000 * cpu / len(paths):.0f}",
                f"{dp:.1e}",
                f"{corr:.4f}",
                f"{100 * same:.1f}%",
            )
        )
    header = ("variant", "engine", "load s", "img/s", "CPU ms/img", "max|dp|", "min cam r", "same argmax")
    print(table(rows, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
