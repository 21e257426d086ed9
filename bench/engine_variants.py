"""Inference options for the engine, measured side by side before any is kept (issue 6).

In one process, on the same pre-decoded real images and the same bundle, interleaved round by
round so that a busy machine slows every variant alike:
  keras-fp32        traced float32 function (the engine with precision="float32")
  keras-fp32-xla    the same with XLA (jit_compile=True)
  keras-bf16        Keras mixed_bfloat16 policy (the engine with precision="bfloat16")
  keras-bf16-xla    the same with XLA
  keras-bf16-rewrites  keras-bf16 with grappler's graph rewrites on (the engine turns them off
                    on a CPU to start ~0.9 s sooner; this shows what that costs in steady state)
  tflite-fp32       TFLite/LiteRT with the XNNPACK delegate
  tflite-dynint8    TFLite with dynamic-range int8 weights
Each line gives batched img/s, CPU ms per image and the largest probability difference from
keras-fp32 on the same images (only meaningful with the real trained bundle); ``nan`` means the
variant returned NaN: the TFLite conversion of this Keras 3 model keeps a resource-variable read
that the interpreter cannot resolve (without XNNPACK it fails, with XNNPACK it returns NaN), so
only its speed is measured. Thread-pool sizes
and oneDNN settings are fixed at TensorFlow start-up, so ``--threads`` re-runs the two Keras
variants in child processes under each setting, including oneDNN's bf16 fpmath mode and
grappler's oneDNN auto-mixed-precision rewrite of the float32 graph (``grappler-onednn-bf16``).
The Keras variants run the engine's own graph (probabilities, features and Grad-CAM maps).

    nice -n 15 .venv/bin/python bench/engine_variants.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_common_arguments, machine, real_images, resolve_bundle, table  # noqa: E402

THREAD_SETTINGS = {
    "default": {},
    "intra2-inter1": {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "1"},
    "intra1-inter1": {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"},
    "intra2-inter2": {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2"},
    "onednn-fpmath-bf16": {"ONEDNN_DEFAULT_FPMATH_MODE": "BF16"},
    "grappler-onednn-bf16": {"BENCH_GRAPPLER_BF16": "1", "CXR_GRAPH_REWRITES": "1"},
}


def keras_variant(bundle, precision: str, xla: bool, graph_rewrites: bool | None = None):
    """The engine's graph; ``graph_rewrites`` True/False overrides the engine's process-wide grappler
    setting for this variant's calls (TensorFlow keeps one optimised instance per setting, so
    switching back and forth costs nothing after the first call of each)."""
    import tensorflow as tf

    from cxr_desktop.engine.engine import Engine

    engine = Engine(bundle, precision=precision, warm_up=False)
    rewrites = engine.graph_rewrites if graph_rewrites is None else graph_rewrites
    spec = engine.spec
    signature = [tf.TensorSpec((None, spec.size, spec.size, spec.channels), tf.float32)]
    graph = engine._closed_form_graph if engine.gradcam_method == "closed form" else engine._gradient_graph
    fn = tf.function(graph, input_signature=signature, jit_compile=xla)

    def run(batch):
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": not rewrites})
        probabilities, features, _ = fn(batch)
        return probabilities.numpy(), features.numpy()

    return run


def tflite_variant(bundle, quantize: bool):
    import keras
    import numpy as np
    import tensorflow as tf

    model = keras.saving.load_model(bundle.model_path, safe_mode=True, compile=False)
    spec = bundle.preprocessing
    batch = 16
    fn = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec((batch, spec.size, spec.size, spec.channels), tf.float32)],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], model)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    interpreter = tf.lite.Interpreter(model_content=converter.convert(), num_threads=2)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]

    def run(images):
        padded = np.zeros((batch, *images.shape[1:]), np.float32)
        padded[: len(images)] = images
        interpreter.set_tensor(source, padded)
        interpreter.invoke()
        return interpreter.get_tensor(target)[: len(images)].copy(), None

    return run


def measure(run, batches) -> tuple[float, float, list]:
    """(img/s, CPU ms per image, [(probabilities, features or None) per batch])."""
    wall, cpu = time.perf_counter(), time.process_time()
    outputs = [run(b) for b in batches]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    images = sum(len(b) for b in batches)
    return images / wall, 1000 * cpu / images, outputs


def differences(outputs: list, reference: list) -> tuple[float, float]:
    """Largest probability difference, and largest pooled-feature difference relative to the
    feature scale (non-zero proves the reduced-precision path really ran)."""
    import numpy as np

    probabilities = np.concatenate([o[0] for o in outputs])
    expected = np.concatenate([r[0] for r in reference])
    dp = float(np.abs(probabilities - expected).max())
    if outputs[0][1] is None:
        return dp, float("nan")
    features = np.concatenate([o[1] for o in outputs])
    expected_features = np.concatenate([r[1] for r in reference])
    scale = float(np.abs(expected_features).max()) or 1.0
    return dp, float(np.abs(features - expected_features).max()) / scale


def run_variants(bundle, names: list[str], images: int, rounds: int, batch_size: int) -> list[dict]:
    import numpy as np

    from cxr_desktop.core.preprocessing import preprocess
    from cxr_desktop.core.radiograph import load_radiograph

    spec = bundle.preprocessing
    tensors = np.stack([preprocess(load_radiograph(p).pixels, spec) for p in real_images(images)])
    batches = [tensors[i : i + batch_size] for i in range(0, len(tensors), batch_size)]
    builders = {
        "keras-fp32": lambda: keras_variant(bundle, "float32", False),
        "keras-fp32-xla": lambda: keras_variant(bundle, "float32", True),
        "keras-bf16": lambda: keras_variant(bundle, "bfloat16", False),
        "keras-bf16-xla": lambda: keras_variant(bundle, "bfloat16", True),
        "keras-bf16-rewrites": lambda: keras_variant(bundle, "bfloat16", False, graph_rewrites=True),
        "tflite-fp32": lambda: tflite_variant(bundle, False),
        "tflite-dynint8": lambda: tflite_variant(bundle, True),
    }
    runs = {}
    for name in names:
        started = time.perf_counter()
        runs[name] = builders[name]()
        runs[name](batches[0])
        print(f"  built {name} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    results = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            results[name].append(measure(run, batches))
    reference = results.get("keras-fp32", [None])[0]
    out = []
    for name, trials in results.items():
        rate, cpu_ms, outputs = sorted(trials, key=lambda t: t[0])[len(trials) // 2]
        dp, df = differences(outputs, reference[2]) if reference is not None else (float("nan"),) * 2
        out.append({"variant": name, "rate": rate, "cpu_ms": cpu_ms, "max_diff": dp, "feature_diff": df})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--variants",
        default="keras-fp32,keras-fp32-xla,keras-bf16,keras-bf16-rewrites,keras-bf16-xla,tflite-fp32,tflite-dynint8",
    )
    parser.add_argument("--threads", action="store_true", help="also time keras-fp32/bf16 per thread setting")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.rounds = min(args.images, 48), min(args.rounds, 2)
    bundle = resolve_bundle(args.model)
    if args.child and os.environ.get("BENCH_GRAPPLER_BF16"):
        import tensorflow as tf

        tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": True})
    if args.child:
        print(json.dumps(run_variants(bundle, args.variants.split(","), args.images, args.rounds, args.batch_size)))
        return 0

    print(f"machine: {machine()}")
    print(f"bundle: {bundle.title} ({bundle.folder})")
    print(f"{args.images} real cxr3 images, batch {args.batch_size}, medians of {args.rounds} interleaved rounds\n")
    rows = run_variants(bundle, args.variants.split(","), args.images, args.rounds, args.batch_size)
    base = next((r["rate"] for r in rows if r["variant"] == "keras-fp32"), float("nan"))
    print(
        table(
            [
                (
                    r["variant"],
                    f"{r['rate']:.1f}",
                    f"{r['rate'] / base:.2f}x",
                    f"{r['cpu_ms']:.1f}",
                    f"{r['max_diff']:.4f}",
                    f"{r['feature_diff']:.4f}",
                )
                for r in rows
            ],
            ("variant", "img/s", "vs fp32", "CPU ms/img", "max |dp| vs fp32", "max rel |dfeature|"),
        )
    )
    if args.threads:
        print("\nthread pools and oneDNN settings (child processes, one after another):")
        lines = []
        for setting, env in THREAD_SETTINGS.items():
            child = [
                sys.executable,
                __file__,
                "--child",
                "--model",
                str(bundle.folder),
                "--images",
                str(args.images),
                "--rounds",
                str(args.rounds),
                "--variants",
                "keras-fp32,keras-bf16",
            ]
            done = subprocess.run(child, env={**os.environ, **env}, capture_output=True, text=True, check=True)
            for r in json.loads(done.stdout.strip().splitlines()[-1]):
                lines.append((setting, r["variant"], f"{r['rate']:.1f}", f"{r['cpu_ms']:.1f}", f"{r['max_diff']:.4f}"))
        print(table(lines, ("setting", "variant", "img/s", "CPU ms/img", "max |dp| vs fp32")))
    if "densenet121-speed-standin" in bundle.name:
        print("\nnote: random-weight stand-in: the |dp| column says nothing about the real model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
