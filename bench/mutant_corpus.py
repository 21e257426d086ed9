"""Seeded mutants of real films: does any damaged file get a silent wrong answer?

Real cxr3 radiographs are written as JPEG (the file itself), 8-bit PNG and 16-bit DICOM (12 bits
stored), then damaged the ways a bad copy or a failing disk damages files: a few random bytes
changed at random offsets, a 64-byte run overwritten, or the file cut short. Every mutant goes
through the real screening loop with the real bundled model and ends in one of four outcomes:

- ``error``: an error row (the loader or the decoder refused it);
- ``warned``: scored, with a warning the intact film did not get;
- ``same``: scored, every probability within ``TOLERANCE`` of the intact film's;
- ``SILENT WRONG``: scored, no new warning, and some probability off by more than ``TOLERANCE``.

Each mutant is also placed by where its damage lies. ``payload``: only inside data no format
protects, the entropy-coded scan of a JPEG or the raw pixel bytes of an uncompressed DICOM; there a
changed byte can leave a stream every decoder accepts. The loader looks for what such damage leaves
(``core.jpeg_damage``: a brightness step or a seam on the JPEG block grid; DICOM pixel values above
Bits Stored) and warns; a JPEG whose compressed data falls out of step, or holds a block mean
outside 0-255 (``core.jpeg_stream``), is an error row. ``structure``: everything else (headers,
markers, PNG chunks, which carry CRCs, and every truncation).

The target is zero silent wrong answers. ``--clean`` also runs the JPEG damage checks over every
film of the data set, to count warnings (or refusals) an intact film would wrongly get (the target
is none).
``tests/faults/test_mutant_corpus.py`` runs a small seeded corpus of the same kind on every test run.

    .venv/bin/python bench/mutant_corpus.py [--mutants 600] [--films 20] [--seed 15 [16 ...]] [--clean]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOLERANCE = 0.02
FORMATS = ("JPEG", "PNG", "DICOM")
OUTCOMES = ("error", "warned", "same", "SILENT WRONG")
SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "DICOM": ".dcm"}


@dataclass(frozen=True)
class Mutant:
    film: str
    kind: str
    damage: str
    data: bytes
    region: str


@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    outcome: str
    detail: str


def film_files(cxr3: Path, films: int, seed: int) -> list[bytes]:
    """``films`` real JPEGs of cxr3, chosen by seed from every class folder."""
    sources = sorted(cxr3.glob("*/*.jpg"))
    return [path.read_bytes() for path in random.Random(seed).sample(sources, films)]


def encodings(jpeg: bytes) -> dict[str, bytes]:
    """The same film as its own JPEG, an 8-bit PNG and a 16-bit (12 bits stored) DICOM."""
    import cv2

    from tests.core.dicom_factory import make_dataset, to_bytes

    grey = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    png = cv2.imencode(".png", grey)[1].tobytes()
    dicom = to_bytes(make_dataset(grey.astype(np.uint16) * 16, bits_stored=12))
    return {"JPEG": jpeg, "PNG": png, "DICOM": dicom}


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One damaged copy: random bytes, an overwritten run, or a truncation."""
    damaged = bytearray(data)
    kind = rng.choice(("bytes", "run", "truncate"))
    if kind == "bytes":
        count = rng.randint(1, 8)
        for _ in range(count):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        return f"{count} random bytes", bytes(damaged)
    if kind == "run":
        offset = rng.randrange(len(damaged) - 64)
        damaged[offset : offset + 64] = bytes(rng.randrange(256) for _ in range(64))
        return f"64 bytes at {offset}", bytes(damaged)
    cut = rng.randrange(len(damaged) // 10, len(damaged) - 1)
    return f"cut at {cut} of {len(damaged)}", bytes(damaged[:cut])


def payload_span(kind: str, data: bytes) -> tuple[int, int]:
    """Byte range no checksum protects: a JPEG's scan data, an uncompressed DICOM's pixel bytes."""
    if kind == "JPEG":
        start = data.index(b"\xff\xda")
        return start + 2 + int.from_bytes(data[start + 2 : start + 4], "big"), len(data) - 2
    if kind == "DICOM":
        tag = data.rindex(b"\xe0\x7f\x10\x00")
        return tag + 12, len(data)
    return 0, 0


def region(kind: str, intact: bytes, damaged: bytes) -> str:
    if len(damaged) != len(intact):
        return "structure"
    start, end = payload_span(kind, intact)
    changed = [i for i, (a, b) in enumerate(zip(intact, damaged)) if a != b]
    return "payload" if changed and all(start <= i < end for i in changed) else "structure"


def make_mutants(films: list[bytes], count: int, seed: int) -> tuple[dict[str, bytes], list[Mutant]]:
    """The intact files (by name) and ``count`` mutants spread evenly over films and formats."""
    rng = random.Random(seed)
    intact: dict[str, bytes] = {}
    for index, film in enumerate(films):
        for kind, data in encodings(film).items():
            intact[f"{index:03d}{SUFFIXES[kind]}"] = data
    names = sorted(intact)
    mutants = []
    for number in range(count):
        name = names[number % len(names)]
        damage, data = mutate(intact[name], rng)
        kind = next(k for k, suffix in SUFFIXES.items() if name.endswith(suffix))
        mutants.append(Mutant(name, kind, damage, data, region(kind, intact[name], data)))
    return intact, mutants


def classify(intact: dict[str, bytes], mutants: list[Mutant], engine, thresholds, folder: Path) -> list[Outcome]:
    """Screen the intact films and the mutants with the real loop; one ``Outcome`` per mutant."""
    from cxr_desktop.core.screening import screen

    for name, data in intact.items():
        (folder / name).write_bytes(data)
    paths = [folder / name for name in intact]
    for index, mutant in enumerate(mutants):
        path = folder / f"m{index:04d}-{mutant.film}"
        path.write_bytes(mutant.data)
        paths.append(path)
    rows = {row.path.name: row for row in screen(paths, engine, thresholds=thresholds, batch_size=16)}
    outcomes = []
    for index, mutant in enumerate(mutants):
        row, reference = rows[f"m{index:04d}-{mutant.film}"], rows[mutant.film]
        assert reference.ok, f"intact film {mutant.film} not scored: {reference.message}"
        if not row.ok:
            outcomes.append(Outcome(mutant, "error", row.message))
            continue
        new_warnings = set(row.warnings) - set(reference.warnings)
        if new_warnings:
            outcomes.append(Outcome(mutant, "warned", "; ".join(sorted(new_warnings))))
            continue
        gap = max(abs(row.probabilities[c] - reference.probabilities[c]) for c in reference.probabilities)
        outcome = "same" if gap <= TOLERANCE else "SILENT WRONG"
        outcomes.append(Outcome(mutant, outcome, f"largest probability change {gap:.3f}"))
    return outcomes


def run(films: int, count: int, seed: int) -> list[Outcome]:
    from cxr_desktop.core.bundle import DEFAULT_MODEL, load_bundle
    from cxr_desktop.engine import load_engine
    from trainer.data import default_data_dir

    bundle = load_bundle(DEFAULT_MODEL)
    engine = load_engine(bundle)
    intact, mutants = make_mutants(film_files(default_data_dir(), films, seed), count, seed)
    with tempfile.TemporaryDirectory(prefix="cxr-mutants-") as folder:
        return classify(intact, mutants, engine, bundle.thresholds, Path(folder))


def silent_wrong(outcomes: list[Outcome], where: str) -> list[Outcome]:
    return [o for o in outcomes if o.outcome == "SILENT WRONG" and o.mutant.region == where]


def report(outcomes: list[Outcome]) -> str:
    counts = Counter((o.mutant.kind, o.outcome) for o in outcomes)
    lines = [f"{'format':8s}" + "".join(f"{name:>14s}" for name in OUTCOMES) + f"{'total':>8s}"]
    for kind in FORMATS:
        cells = [counts[kind, name] for name in OUTCOMES]
        lines.append(f"{kind:8s}" + "".join(f"{n:14d}" for n in cells) + f"{sum(cells):8d}")
    totals = [sum(counts[k, name] for k in FORMATS) for name in OUTCOMES]
    lines.append(f"{'all':8s}" + "".join(f"{n:14d}" for n in totals) + f"{sum(totals):8d}")
    for where in ("structure", "payload"):
        placed = [o for o in outcomes if o.mutant.region == where]
        wrong = silent_wrong(outcomes, where)
        by_kind = ", ".join(f"{k} {sum(o.mutant.kind == k for o in wrong)}" for k in FORMATS)
        lines.append(f"damage in the {where}: {len(placed)} mutants, {len(wrong)} SILENT WRONG ({by_kind})")
    for outcome in outcomes:
        if outcome.outcome == "SILENT WRONG":
            mutant = outcome.mutant
            lines.append(f"SILENT WRONG: {mutant.film} ({mutant.damage}, {mutant.region}): {outcome.detail}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=int, default=600)
    parser.add_argument("--films", type=int, default=20)
    parser.add_argument("--seed", type=int, nargs="+", default=[15])
    parser.add_argument("--clean", action="store_true", help="count damage warnings on every intact cxr3 film")
    args = parser.parse_args()
    silent = 0
    for seed in args.seed:
        started = time.perf_counter()
        outcomes = run(args.films, args.mutants, seed)
        print(report(outcomes))
        print(
            f"{len(outcomes)} mutants of {args.films} real films, seed {seed}, {time.perf_counter() - started:.0f} s\n"
        )
        silent += len(silent_wrong(outcomes, "structure")) + len(silent_wrong(outcomes, "payload"))
    if args.clean:
        print(false_warnings())
    return 1 if silent else 0


def false_warnings() -> str:
    """How many intact films of the data set the JPEG damage checks would warn about (or refuse)."""
    import io

    import simplejpeg
    from PIL import JpegImagePlugin

    from cxr_desktop.core.errors import ImageReadError
    from cxr_desktop.core.jpeg_damage import implausible_quantisation, scan_damage
    from cxr_desktop.core.jpeg_stream import check_block_means, check_entropy_coding
    from trainer.data import default_data_dir

    def warned(data: bytes) -> bool:
        with JpegImagePlugin.JpegImageFile(io.BytesIO(data)) as header:
            tables = dict(header.quantization)
        pixels = simplejpeg.decode_jpeg(data, colorspace="GRAY")[..., 0]
        try:
            check_entropy_coding(Path("intact.jpg"), data)
            check_block_means(Path("intact.jpg"), data)
        except ImageReadError:
            return True
        return scan_damage(pixels) is not None or implausible_quantisation(tables) is not None

    films = sorted(default_data_dir().glob("*/*.jpg"))
    started = time.perf_counter()
    flagged = [film.name for film in films if warned(film.read_bytes())]
    seconds = time.perf_counter() - started
    listed = f": {', '.join(flagged[:10])}" if flagged else ""
    return f"intact films warned as damaged: {len(flagged)} of {len(films)} ({seconds:.0f} s){listed}"


if __name__ == "__main__":
    sys.exit(main())
