"""``cxr-train`` / ``python -m trainer``: train, evaluate, compare and export model bundles."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from trainer.data import DataError, default_data_dir


def _where(values: list[str]) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, wanted = value.partition("=")
        if not sep or key not in {"source", "age_group", "view"}:
            raise argparse.ArgumentTypeError(f"--where takes source=, age_group= or view=, not {value!r}")
        pairs[key] = wanted
    return pairs


def build_parser() -> argparse.ArgumentParser:
    from trainer.backbones import BACKBONE_NAMES

    parser = argparse.ArgumentParser(prog="cxr-train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    data_help = "folder with one sub-folder per class (default: $CXR_DATA_DIR or ../shared/data/cxr3)"

    train = sub.add_parser("train", help="train a model and export it as a bundle")
    train.add_argument("--data", type=Path, default=None, help=data_help)
    train.add_argument("--classes", default="covid,pneumonia,normal", help="comma-separated, in output order")
    train.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    train.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="checkpoints, logs, split and cache (default: runs/<bundle name>); rerun to resume",
    )
    train.add_argument("--manifest", type=Path, default=None, help="CSV with file,patient_id[,dataset,age_group]")
    train.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keep only matching manifest rows, e.g. age_group=pediatric",
    )
    train.add_argument("--backbone", choices=BACKBONE_NAMES, default="densenet121")
    train.add_argument(
        "--init",
        default="none",
        help="none | imagenet (needs internet) | path to a .weights.h5 file | path to a bundle",
    )
    train.add_argument("--size", type=int, default=224)
    train.add_argument("--warmup-size", type=int, default=0, help="progressive resizing: first epochs at this size")
    train.add_argument("--warmup-epochs", type=int, default=0)
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument(
        "--feature-extraction-epochs", type=int, default=5, help="pretrained init only: epochs with the backbone frozen"
    )
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--fine-tune-learning-rate", type=float, default=1e-4)
    train.add_argument("--patience", type=int, default=6, help="early stopping on validation loss")
    train.add_argument("--seed", type=int, default=1234)
    train.add_argument("--val-fraction", type=float, default=0.15)
    train.add_argument("--test-fraction", type=float, default=0.15)
    train.add_argument("--min-val-patients", type=int, default=20)
    train.add_argument("--mixed-precision", choices=("auto", "on", "off"), default="auto")
    train.add_argument("--no-augment", action="store_true")
    train.add_argument("--max-images", type=int, default=0, help="subsample (smoke tests)")
    train.add_argument("--name", default="", help="bundle name (default: the --out folder name)")
    train.add_argument("--version", default="1.0.0")
    train.add_argument("--description", default="")

    sheet = sub.add_parser("gradcam-sheet", help="Grad-CAM contact sheet of held-out images (shortcut check)")
    sheet.add_argument("--model", required=True, help="bundle folder or bundled model name")
    sheet.add_argument("--data", type=Path, default=None, help=data_help)
    sheet.add_argument(
        "--out", type=Path, default=None, help="PNG to write (default: <bundle>/report/gradcam_sample.png)"
    )
    sheet.add_argument("--per-class", type=int, default=6)

    export = sub.add_parser("export", help="evaluate a finished run and write its bundle")
    export.add_argument("--work-dir", type=Path, required=True)
    export.add_argument("--out", type=Path, default=None)

    evaluate = sub.add_parser("evaluate", help="evaluate a bundle on a data set")
    evaluate.add_argument("--model", required=True, help="bundle folder or bundled model name")
    evaluate.add_argument("--data", type=Path, default=None, help=data_help)
    evaluate.add_argument("--split", type=Path, default=None, help="split.csv of a run: evaluate on its test rows only")
    evaluate.add_argument("--out", type=Path, default=None, help="folder for the report (default: print only)")

    fit_ood = sub.add_parser("fit-ood", help="fit a bundle's 'not a chest X-ray' gate and measure it")
    fit_ood.add_argument("--model", required=True, help="bundle folder or bundled model name (needs its split.csv)")
    fit_ood.add_argument("--data", type=Path, default=None, help=data_help)
    fit_ood.add_argument("--components", type=int, default=64, help="principal directions of the feature model")
    fit_ood.add_argument(
        "--percentile",
        type=float,
        default=99.5,
        help="each check's threshold = this percentile of out-of-fold radiograph scores",
    )
    fit_ood.add_argument("--no-evaluate", action="store_true", help="skip the labelled non-radiograph evaluation")

    top = sub.add_parser(
        "retrain-top",
        help="retrain the last dense block and head of a bundle on cached"
        " trunk features (the version-2 recipe and its ablations), optionally export one",
    )
    top.add_argument("--init", required=True, help="bundle whose trunk is frozen and whose weights start the top")
    top.add_argument("--data", type=Path, default=None, help=data_help)
    top.add_argument(
        "--work-dir", type=Path, default=Path("runs/v2"), help="caches, recipes, ablation.json (resumable)"
    )
    top.add_argument("--recipes", default="", help="comma-separated names from trainer.recipes to train")
    top.add_argument("--epochs", type=int, default=0, help="override the recipes' epochs")
    top.add_argument("--export", default="", metavar="RECIPE", help="write this trained recipe as a bundle")
    top.add_argument("--out", type=Path, default=None, help="bundle folder for --export")
    top.add_argument("--name", default="")
    top.add_argument("--version", default="2.0.0")
    top.add_argument("--description", default="")
    top.add_argument("--compare", default="", help="recipes whose figures go into the ablation table")

    probe = sub.add_parser("probe", help="shortcut probes on a bundle's test split, stored in its metadata and card")
    probe.add_argument("--model", required=True, help="bundle folder or bundled model name (needs its split.csv)")
    probe.add_argument("--data", type=Path, default=None, help=data_help)
    probe.add_argument(
        "--lung-model", type=Path, default=Path("runs/lungs/unet.keras"), help="lung U-Net (cxr-train lung-unet)"
    )

    lungs = sub.add_parser("lung-unet", help="train the lung-field U-Net used by the shortcut probes")
    lungs.add_argument(
        "--masks",
        type=Path,
        required=True,
        help="folder of V7 Labs lung masks (semantic_masks_v7labs_lungs from the torchxrayvision wheel)",
    )
    lungs.add_argument("--data", type=Path, default=None, help=data_help)
    lungs.add_argument("--out", type=Path, default=Path("runs/lungs/unet.keras"))
    lungs.add_argument("--epochs", type=int, default=40)

    onnx = sub.add_parser("export-onnx", help="write a bundle's network as an ONNX graph (re-export, no retraining)")
    onnx.add_argument("--model", required=True, help="bundle folder or bundled model name")
    onnx.add_argument(
        "--int8",
        action="store_true",
        help="quantise the bundle's graph to int8 (calibrated on training films) and gate it on the test split;"
        " exports the graph first only if the bundle has none",
    )
    onnx.add_argument("--data", type=Path, default=None, help=data_help)

    compare = sub.add_parser("compare", help="compare two bundles on the same images")
    compare.add_argument("bundle_a")
    compare.add_argument("bundle_b")
    compare.add_argument("--data", type=Path, default=None, help=data_help)
    compare.add_argument("--split", type=Path, default=None)
    compare.add_argument("--out", type=Path, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    from cxr_desktop.core.errors import CxrError

    try:
        if args.command == "train":
            return _train(args)
        if args.command == "gradcam-sheet":
            from trainer.gradcam_sample import gradcam_sheet

            print(gradcam_sheet(args.model, args.data or default_data_dir(), args.out, args.per_class))
            return 0
        if args.command == "export":
            from trainer.export import export_run

            export_run(args.work_dir, args.out)
            return 0
        if args.command == "fit-ood":
            return _fit_ood(args)
        if args.command == "retrain-top":
            return _retrain_top(args)
        if args.command == "lung-unet":
            return _lung_unet(args)
        if args.command == "export-onnx":
            return _export_onnx(args)
        if args.command == "probe":
            import json

            from cxr_desktop.core.bundle import resolve_bundle_path
            from trainer.probes import probe_bundle

            probes = probe_bundle(resolve_bundle_path(args.model), args.data or default_data_dir(), args.lung_model)
            print(json.dumps(probes, indent=2))
            return 0
        from trainer import compare

        if args.command == "evaluate":
            return compare.evaluate_command(args.model, args.data or default_data_dir(), args.split, args.out)
        return compare.compare_command(
            args.bundle_a, args.bundle_b, args.data or default_data_dir(), args.split, args.out
        )
    except (DataError, CxrError) as exc:
        print(f"cxr-train: error: {exc}", file=sys.stderr)
        return 2


def _export_onnx(args) -> int:
    from cxr_desktop.core.bundle import load_bundle, resolve_bundle_path
    from trainer.onnx_export import export_onnx

    folder = resolve_bundle_path(args.model)
    if not args.int8 or load_bundle(folder).onnx is None:
        bundle = export_onnx(folder)
        print(f"{bundle.title}: {bundle.onnx.file if bundle.onnx else '?'} written")
    if args.int8:
        from trainer.quantise import quantise_bundle

        print(quantise_bundle(folder, args.data or default_data_dir()).summary())
    return 0


def _fit_ood(args) -> int:
    import json

    from cxr_desktop.core.bundle import resolve_bundle_path
    from trainer.ood_fit import fit_ood_gate

    entry = fit_ood_gate(
        resolve_bundle_path(args.model),
        args.data,
        components=args.components,
        percentile=args.percentile,
        evaluate=not args.no_evaluate,
    )
    print(json.dumps(entry, indent=2))
    return 0


def _retrain_top(args) -> int:
    from dataclasses import replace

    from trainer.recipes import recipes
    from trainer.retrain_top import run_recipes
    from trainer.top_export import export_top

    known = recipes()
    names = [n for n in args.recipes.split(",") if n]
    unknown = [n for n in [*names, *([args.export] if args.export else [])] if n not in known]
    if unknown:
        raise DataError(f"unknown recipe(s) {', '.join(unknown)}; known: {', '.join(known)}")
    data = str(args.data or default_data_dir())
    chosen = {n: replace(known[n], epochs=args.epochs) if args.epochs else known[n] for n in names}
    if chosen:
        run_recipes(args.work_dir, data, args.init, chosen)
    if args.export:
        if args.out is None:
            raise DataError("--export needs --out")
        recipe = known[args.export]
        compared = [n for n in args.compare.split(",") if n] or [args.export]
        bundle = export_top(
            args.work_dir,
            args.export,
            replace(recipe, epochs=args.epochs or recipe.epochs),
            args.out,
            data=data,
            init=args.init,
            name=args.name or args.out.name,
            version=args.version,
            description=args.description,
            compared=compared,
        )
        print(f"bundle written: {bundle.folder} ({bundle.title})")
    return 0


def _lung_unet(args) -> int:
    import json

    from trainer.lungs import mask_pairs, train_unet

    images, masks, patients = mask_pairs(args.masks, args.data or default_data_dir())
    print(json.dumps(train_unet(images, masks, patients, args.out, epochs=args.epochs), indent=2))
    return 0


def _train(args) -> int:
    from trainer.config import TrainConfig
    from trainer.export import export_run
    from trainer.train import run_training

    out: Path = args.out
    config = TrainConfig(
        data=str(args.data or default_data_dir()),
        classes=[c.strip() for c in args.classes.split(",") if c.strip()],
        out=str(out),
        work_dir=str(args.work_dir or Path("runs") / out.name),
        name=args.name or out.name,
        version=args.version,
        description=args.description,
        manifest=str(args.manifest) if args.manifest else None,
        where=_where(args.where),
        backbone=args.backbone,
        init=args.init,
        size=args.size,
        warmup_size=args.warmup_size,
        warmup_epochs=args.warmup_epochs if args.warmup_size else 0,
        epochs=args.epochs,
        feature_extraction_epochs=args.feature_extraction_epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        fine_tune_learning_rate=args.fine_tune_learning_rate,
        patience=args.patience,
        seed=args.seed,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        min_val_patients=args.min_val_patients,
        mixed_precision=args.mixed_precision,
        augment=not args.no_augment,
        max_images=args.max_images,
    )
    run_training(config)
    bundle = export_run(Path(config.work_dir), out)
    print(f"bundle written: {bundle.folder} ({bundle.title})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
