"""``screen FOLDER --csv OUT --backend dask``: chunks of films out to Dask workers, rows back into the one CSV.

The client walks the folder exactly as the serial run does (``find_images``), sends consecutive
chunks of film paths as tasks (the workers read the films themselves: same paths, or a shared file
system), and writes each row with the serial run's writer (``ResultsCsv``) and audit record, in the
serial run's order. Each worker scores with ``core.screening.screen`` on its own engine, loaded
once (``worker_state.BundleOnWorker``), after its bundle hash was checked against the client's.

Faults: a worker that dies mid-chunk has the chunk rescheduled on another by Dask; a chunk that
kills more workers than the scheduler's ``allowed-failures`` is split in two and each half tried
again, down to the single film, which then becomes an error row. An interrupted run (Ctrl+C,
SIGTERM, the scheduler lost) leaves a valid CSV in order; ``--resume`` scores only what it lacks.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import signal
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from cxr_desktop.core import audit
from cxr_desktop.core.bundle import ModelBundle, load_bundle
from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.privacy import installation_key, path_labeller
from cxr_desktop.core.scoring import ScreeningRow, error_row
from cxr_desktop.core.screening import find_images
from cxr_desktop.distributed.bundle_identity import bundle_hash
from cxr_desktop.distributed.dependency import import_distributed
from cxr_desktop.engine import provenance, resolve
from cxr_desktop.distributed.earlier_rows import backup_path, earlier_rows, keep_backup
from cxr_desktop.distributed.in_order import InOrder
from cxr_desktop.distributed.progress import Progress
from cxr_desktop.engine.device import usable_cores
from cxr_desktop.exports.results_csv import ResultsCsv
from cxr_desktop.setup_errors import refuse_to_start

#: The local cluster's scheduler settings (a remote scheduler is started with the same, see
#: docs/distributed.md). ``allowed-failures``: worker deaths a task may cause before the scheduler
#: gives up on it (``KilledWorker``): one retry on another worker covers a worker lost to something
#: else, and beyond that, halving the chunk finds the film at fault. ``worker-saturation`` 1.0:
#: a worker holds only the task it runs, because a dying worker counts a death against every task
#: it holds, and a chunk queued behind a film that crashes workers must not be blamed for it.
SCHEDULER_CONFIG = {
    "distributed.scheduler.allowed-failures": 1,
    "distributed.scheduler.worker-saturation": 1.0,
}

#: How long to wait for a remote scheduler to answer, and for its first worker.
CONNECT_TIMEOUT = "30s"
FIRST_WORKER_TIMEOUT = 120.0


class SchedulerLostError(Exception):
    """The client lost its scheduler: what was written stays, ``--resume`` continues."""


def run_dask_screen(args: argparse.Namespace) -> int:
    """Exit code as the serial ``screen``: 0 done, 2 usage or set-up error, 130 interrupted."""
    try:
        if args.heatmaps is not None:
            raise CxrError("--heatmaps is not available with --backend dask; run without --backend for heat-maps")
        if args.chunk_size < 1 or (args.workers is not None and args.workers < 1):
            raise CxrError("--chunk-size and --workers must be at least 1")
        distributed = import_distributed()
        bundle = load_bundle(args.model)
        films = find_images(args.folder)
        label = path_labeller(args.identifiers, installation_key() if args.identifiers == "pseudonymise" else None)
        earlier = earlier_rows(args.csv, films, bundle.classes, label, args.identifiers) if args.resume else {}
        if earlier:
            keep_backup(args.csv, earlier, bundle.classes, args.identifiers)
        backend, precision, _ = resolve(bundle, getattr(args, "engine", "auto"), getattr(args, "precision", "auto"))
        results = ResultsCsv(
            args.csv, bundle.classes, identifiers=args.identifiers, provenance=provenance(bundle, backend, precision)
        )
    except (CxrError, OSError) as exc:
        return refuse_to_start(exc, args.csv)
    in_order = InOrder(len(films), earlier)
    writer = _Writer(results, bundle, args.identifiers, set(earlier))
    writer.write(in_order.ready())
    remaining = [index for index in range(len(films)) if index not in earlier]
    progress = Progress(len(remaining), enabled=not args.quiet)
    signal.signal(signal.SIGTERM, _interrupt)
    outcome = "done:"
    try:
        with _client(distributed, args) as client:
            from cxr_desktop.distributed.worker_state import BundleOnWorker

            plugin = BundleOnWorker(
                _model_reference(args.model),
                bundle_hash(bundle),
                engine=getattr(args, "engine", "auto"),
                precision=getattr(args, "precision", "auto"),
                share_cores=0 if args.scheduler else _local_workers(args),
            )
            workers = _admit_workers(client, plugin)
            print(
                f"{bundle.title} on {workers}: {len(films)} files in {args.folder}"
                + (f", {len(earlier)} already in {args.csv}" if earlier else ""),
                file=sys.stderr,
            )
            print(f"Dask dashboard: {_dashboard_link(client)}", file=sys.stderr)
            for index, row in _scored(distributed, client, films, remaining, args):
                in_order.put(index, row)
                progress.add(1)
                writer.write(in_order.ready())
    except CxrError as exc:
        print(f"\ncxr-desktop: error: {exc}", file=sys.stderr)
        outcome = "stopped after"
    except KeyboardInterrupt:
        outcome = "interrupted after"
    except (SchedulerLostError, OSError, TimeoutError) as exc:
        lost = isinstance(exc, (SchedulerLostError, TimeoutError, distributed.comm.CommClosedError))
        problem = "lost the Dask scheduler" if lost else f"cannot write {args.csv}"
        print(f"\ncxr-desktop: {problem} ({type(exc).__name__}: {exc})", file=sys.stderr)
        outcome = "interrupted after"
    finally:
        writer.write(in_order.rest())
        results.flush()
        backup_path(args.csv).unlink(missing_ok=True)
        progress.close()
        audit.record_export(
            "csv", args.csv, rows=results.count, identifiers=args.identifiers, bundle=bundle, source="cli"
        )
    print(
        f"{outcome} {results.count} files, {results.count - results.errors} scored, {results.errors} could not be"
        f" scored; CSV: {args.csv}",
        file=sys.stderr,
    )
    if outcome == "interrupted after":
        print(
            f"continue with the same command and --resume (it scores only the {len(films) - results.count}"
            " files not in the CSV)",
            file=sys.stderr,
        )
    return 0 if outcome == "done:" else 130 if outcome == "interrupted after" else 2


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


class _Writer:
    """The serial run's CSV writer and audit record; rows a resumed run found are not audited twice."""

    def __init__(self, results: ResultsCsv, bundle: ModelBundle, identifiers: str, earlier: set[int]) -> None:
        self.results, self.bundle, self.identifiers, self.earlier = results, bundle, identifiers, earlier

    def write(self, rows: Iterable[tuple[int, ScreeningRow]]) -> None:
        for index, row in rows:
            written = self.results.add(row)
            if index not in self.earlier:
                pseudonym = written if self.identifiers == "pseudonymise" else ""
                audit.record_scored(row, self.bundle, pseudonym=pseudonym, source="cli")


def _model_reference(model: str) -> str:
    """What the workers load: a bundled name as given, a folder as an absolute path."""
    return str(Path(model).resolve()) if Path(model).is_dir() else model


@contextmanager
def _client(distributed: ModuleType, args: argparse.Namespace) -> Iterator[Any]:
    """A client on the given scheduler, or on a local cluster of single-threaded worker processes."""
    import dask

    if args.scheduler:
        try:
            client = distributed.Client(args.scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise CxrError(f"cannot reach the Dask scheduler at {args.scheduler} ({exc})") from None
        with client:
            yield client
        return
    workers = _local_workers(args)
    with dask.config.set(SCHEDULER_CONFIG):
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, silence_logs=logging.ERROR
        )
    with cluster, distributed.Client(cluster) as client:
        yield client


def _local_workers(args: argparse.Namespace) -> int:
    """One worker per core by default: each gets its core (``worker_state.pin_to_share``)."""
    return int(args.workers or usable_cores())


def _admit_workers(client: Any, plugin: Any) -> str:
    """Check every worker's bundle against the client's, retire those that differ, load the engines.

    Returns the workers in words for the start line; no worker left is a ``CxrError``.
    """
    from cxr_desktop.distributed.bundle_identity import local_bundle_hash
    from cxr_desktop.distributed.worker_state import worker_report

    try:
        client.wait_for_workers(1, timeout=FIRST_WORKER_TIMEOUT)
    except TimeoutError:
        raise CxrError(f"no Dask worker joined the scheduler within {FIRST_WORKER_TIMEOUT:.0f} s") from None
    found = client.run(local_bundle_hash, plugin.model, on_error="return")
    refused = {address: _refusal(value, plugin.expected_hash) for address, value in found.items()}
    refused = {address: reason for address, reason in refused.items() if reason}
    for address, reason in sorted(refused.items()):
        print(f"cxr-desktop: worker {address} refused: {reason}", file=sys.stderr)
    if refused:
        client.retire_workers(list(refused))
    if len(refused) == len(found):
        raise CxrError("no Dask worker has this bundle (the bundle hash must be the same on every worker)")
    client.register_plugin(plugin)
    reports = client.run(worker_report, on_error="return")
    ready = {
        address: report for address, report in reports.items() if isinstance(report, dict) and report.get("engine")
    }
    for address in sorted(set(reports) - set(ready)):
        failed = reports[address]
        reason = str(failed.get("refusal")) if isinstance(failed, dict) else f"{type(failed).__name__}: {failed}"
        print(f"cxr-desktop: worker {address} refused: {reason}", file=sys.stderr)
    if not ready:
        raise CxrError("no Dask worker could load this bundle's engine")
    engines = sorted({report["engine"] for report in ready.values()})
    return f"{len(ready)} Dask workers ({'; '.join(engines)})"


def _refusal(value: object, expected: str) -> str:
    if isinstance(value, BaseException):
        return f"bundle cannot be loaded there ({value})"
    if value != expected:
        return f"its bundle hash {str(value)[:12]} differs from this run's {expected[:12]}"
    return ""


def _dashboard_link(client: Any) -> str:
    """The scheduler's dashboard; its pages need bokeh where the scheduler runs (the distributed extra
    brings it; a scheduler started elsewhere may lack it)."""
    port = client.scheduler_info().get("services", {}).get("dashboard")
    if port is None:
        return "not running on this scheduler"
    host = client.scheduler.address.split("://")[-1].rsplit(":", 1)[0]
    link = f"http://{host}:{port}/status"
    return link if importlib.util.find_spec("bokeh") else f"{link} (its pages need bokeh: pip install .[distributed])"


def _scored(
    distributed: ModuleType, client: Any, films: list[Path], indices: list[int], args: argparse.Namespace
) -> Iterator[tuple[int, ScreeningRow]]:
    """(film index, row) for each of ``indices``, as chunks finish; a chunk that keeps killing
    workers is halved until the film at fault is alone, and that film becomes an error row."""
    from cxr_desktop.distributed.worker_state import score_chunk

    chunks: dict[Any, list[int]] = {}

    def submit(chunk: list[int]) -> Any:
        paths = [str(films[index]) for index in chunk]
        future = client.submit(score_chunk, paths, args.batch_size, pure=False)
        chunks[future] = chunk
        return future

    size = args.chunk_size
    finished = distributed.as_completed([submit(indices[at : at + size]) for at in range(0, len(indices), size)])
    for future in finished:
        chunk = chunks.pop(future)
        if future.status == "finished":
            for index, row in zip(chunk, future.result(), strict=True):
                yield index, replace(row, path=films[index])
        elif future.status == "error" and len(chunk) > 1:
            half = len(chunk) // 2
            finished.update([submit(chunk[:half]), submit(chunk[half:])])
        elif future.status == "error":
            yield chunk[0], error_row(films[chunk[0]], CxrError(_failure(future.exception())))
        elif future.status == "cancelled":
            raise SchedulerLostError("the connection to the scheduler was lost; its tasks were cancelled")
        else:
            # Finished, then lost with the worker that held the rows: Dask computes it again.
            chunks[future] = chunk
            finished.add(future)
            continue
        future.release()


def _failure(exc: BaseException | None) -> str:
    """Why a single film was given up on, for its row's message."""
    deaths = getattr(exc, "allowed_failures", None)
    if deaths is not None:
        return (
            f"the Dask worker scoring this file stopped {deaths + 1} times (the file crashes the decoder or the"
            " model, or the workers were killed); not retried"
        )
    return f"scoring failed on the Dask worker ({type(exc).__name__}: {exc})"
