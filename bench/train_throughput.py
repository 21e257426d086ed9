"""Training throughput (img/s) in float32 vs mixed precision, measured side by side (issue 3).

Both variants train the same network (DenseNet121 at 224 px by default) on the same real cxr3
films through the trainer's own pipeline: shared preprocessing, tf.data with augmentation and
class weights, AdamW, ``model.fit``. The mixed variant is the one ``--mixed-precision on`` picks:
bf16 on a CPU, fp16 on a GPU. After warm-up (graph tracing), timed rounds alternate between the
variants so that a busy machine slows both alike; the ratio is what to read, and the absolute
figures only mean something on an otherwise idle machine (never while a training run is going).

    nice -n 15 .venv/bin/python bench/train_throughput.py            # ~10 min on 2 cores
    nice -n 15 .venv/bin/python bench/train_throughput.py --quick    # smoke: 1 step each
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import CLASSES3, machine, real_images, table  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="densenet121")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=96, help="real films decoded once and cycled")
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps per variant (tracing)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds")
    parser.add_argument("--quick", action="store_true", help="smoke run: batch 4, 1 warm-up and 1 timed step")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch_size, args.images, args.warmup_steps, args.steps, args.rounds = 4, 8, 1, 1, 1
    return args


def training_set(args: argparse.Namespace):
    """Real films through the shared preprocessing, as the trainer caches them."""
    import numpy as np

    from cxr_desktop.core.preprocessing import PreprocessingSpec
    from trainer.data import Sample, class_weights, load_arrays

    paths = real_images(args.images, cycle=True)
    samples = [Sample(path=p, label=p.parent.name, patient_id=p.stem) for p in paths]
    kept, arrays, _ = load_arrays(samples, PreprocessingSpec(size=args.size))
    labels = np.array([CLASSES3.index(s.label) for s in kept], dtype=np.int64)
    return arrays, labels, class_weights(labels, len(CLASSES3))


def build_variant(policy: str, args: argparse.Namespace, arrays, labels, weights):
    """A compiled model under ``policy`` and an endless augmented training stream for it."""
    import keras

    from trainer.backbones import build_classifier
    from trainer.train import compile_model, make_dataset

    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model, _, _ = build_classifier(args.backbone, len(CLASSES3), size=args.size)
    compile_model(model, 1e-3, 1e-4)
    stream = make_dataset(
        arrays,
        labels,
        len(CLASSES3),
        batch_size=args.batch_size,
        size=args.size,
        channels=3,
        training=True,
        augment=True,
        seed=0,
        weights=weights,
    ).repeat()
    return model, stream


def timed_fit(policy: str, model, stream, steps: int) -> float:
    """Seconds for ``steps`` training steps; the global policy is the model's own, as in a real run."""
    import keras

    keras.mixed_precision.set_global_policy(policy)
    started = time.perf_counter()
    model.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    from trainer.train import select_precision

    mixed = select_precision("on")
    arrays, labels, weights = training_set(args)
    variants = {}
    for policy in ("float32", mixed):
        model, stream = build_variant(policy, args, arrays, labels, weights)
        timed_fit(policy, model, stream, args.warmup_steps)
        variants[policy] = (model, stream)
    # one untimed alternating round: the first fit after switching variants pays a one-off cost
    for policy, (model, stream) in variants.items():
        timed_fit(policy, model, stream, 1)
    seconds = {policy: 0.0 for policy in variants}
    for _ in range(args.rounds):
        for policy, (model, stream) in variants.items():
            seconds[policy] += timed_fit(policy, model, stream, args.steps)
    images = args.rounds * args.steps * args.batch_size
    rate = {policy: images / seconds[policy] for policy in variants}
    rows = [
        (
            policy,
            f"{rate[policy]:.2f}",
            f"{seconds[policy] / (args.rounds * args.steps):.2f}",
            f"{rate[policy] / rate['float32']:.2f}x",
        )
        for policy in variants
    ]
    print(
        f"{args.backbone} at {args.size} px, batch {args.batch_size}, {args.rounds} rounds x {args.steps} steps"
        f" per variant after {args.warmup_steps} warm-up steps{' (QUICK: smoke only)' if args.quick else ''}"
    )
    print(machine())
    print(table(rows, ("precision", "img/s", "s/step", "vs float32")))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"args": {k: str(v) for k, v in vars(args).items()}, "machine": machine(), "img_per_s": rate}, indent=2
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
