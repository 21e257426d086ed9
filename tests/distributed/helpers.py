"""Running ``screen`` as a user does (a subprocess), on links to real films, and reading what it wrote."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from distributed import WorkerPlugin

ROOT = Path(__file__).resolve().parents[2]
MODEL = "densenet121-3class"
SAMPLES_DIR_ARG = str(ROOT / "resources" / "samples")


def pick_films(cxr3: Path, count: int) -> list[Path]:
    """``count`` real films spread over the four folders, in a fixed order."""
    folders = ["covid", "normal", "pneumonia", "other"]
    per = -(-count // len(folders))
    films = [path for folder in folders for path in sorted((cxr3 / folder).glob("*.jpg"))[:per]]
    return films[:count]


def link_films(films: list[Path], folder: Path) -> Path:
    """A folder of links to the films, two levels deep so the walk's order is exercised."""
    for index, film in enumerate(films):
        target = folder / film.parent.name / f"{index // 20:02d}" / film.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(film)
    return folder


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def screen_command(folder: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cxr_desktop",
        "screen",
        str(folder),
        "--csv",
        str(out),
        "--model",
        MODEL,
        "--identifiers",
        "keep",
        "--quiet",
        *extra,
    ]


def audit_env(audit_dir: Path | None) -> dict[str, str]:
    """The environment, with this run's own audit trail when ``audit_dir`` is given."""
    env = dict(os.environ)
    if audit_dir is not None:
        env["CXR_AUDIT_DIR"] = str(audit_dir)
    return env


def run_screen(
    folder: Path, out: Path, *extra: str, audit_dir: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        screen_command(folder, out, *extra),
        cwd=ROOT,
        env=audit_env(audit_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_screen(folder: Path, out: Path, *extra: str, audit_dir: Path | None = None) -> subprocess.Popen[str]:
    """The run in the background, taking Ctrl+C (SIGINT) as a terminal's foreground job does, also
    when the tests themselves were started as a background job (which ignores SIGINT, inherited)."""
    return subprocess.Popen(
        screen_command(folder, out, *extra),
        cwd=ROOT,
        env=audit_env(audit_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_rows(out: Path, rows: int, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if out.is_file() and len(read_csv(out)) >= rows:
            return
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    raise AssertionError(f"no {rows} rows in {out} within {timeout} s")


def scored_paths(audit_dir: Path) -> list[str]:
    """Every file the audit trail says was scored (or failed), one entry per scoring."""
    entries = [json.loads(line) for line in (audit_dir / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    return [entry["path"] for entry in entries if entry.get("event") in {"scored", "failed"}]


def worker_pids(client) -> dict[str, int]:
    return client.run(os.getpid)


class LoaderHook(WorkerPlugin):
    """Wraps the loader the screening loop calls on every worker (restarted ones too)."""

    def setup(self, worker) -> None:
        from cxr_desktop.core import screening

        self.original = original = screening.load_radiograph

        def load(path, *args, **kwargs):
            self.before(Path(path))
            return original(path, *args, **kwargs)

        screening.load_radiograph = load

    def before(self, path: Path) -> None:
        raise NotImplementedError

    def teardown(self, worker) -> None:
        from cxr_desktop.core import screening

        screening.load_radiograph = self.original


class PoisonFilm(LoaderHook):
    """Reading one film kills the worker process, as a decoder crash on a hostile file would."""

    name = "poison-film"

    def __init__(self, film_name: str) -> None:
        self.film_name = film_name

    def before(self, path: Path) -> None:
        if path.name == self.film_name:
            os._exit(70)


class SlowFilms(LoaderHook):
    """Every film takes ``seconds`` longer to read (a slow share), so a test can stop a run midway."""

    name = "slow-films"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def before(self, path: Path) -> None:
        time.sleep(self.seconds)
