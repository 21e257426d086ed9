"""A worker whose bundle differs from the client's is refused, and the run goes on without it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from cxr_desktop.distributed.worker_state import PLUGIN_NAME
from tests.distributed.helpers import MODEL, ROOT, audit_env, read_csv, run_screen
from tests.distributed.test_same_csv import assert_same_csv


def odd_models_dir(tmp_path):
    """The bundled model with one metadata field changed and re-stamped: valid, but another bundle."""
    from cxr_desktop.core.bundle import METADATA_FILE, write_metadata

    source, folder = ROOT / "models" / MODEL, tmp_path / "models" / MODEL
    folder.mkdir(parents=True)
    for item in source.iterdir():
        (folder / item.name).symlink_to(item)
    (folder / METADATA_FILE).unlink()
    metadata = json.loads((source / METADATA_FILE).read_text(encoding="utf-8"))
    metadata["description"] += " (edited on one worker)"
    write_metadata(folder, metadata)
    return folder.parent


def test_a_worker_with_another_bundle_is_refused(dask_cluster, films_40, serial_40, tmp_path):
    address, client = dask_cluster
    try:
        client.unregister_worker_plugin(PLUGIN_NAME)  # left by earlier runs: the client must do the check
    except ValueError:
        pass
    env = audit_env(None) | {"CXR_MODELS_DIR": str(odd_models_dir(tmp_path))}
    odd = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client.wait_for_workers(3, timeout=120)
        result = run_screen(films_40, tmp_path / "dask.csv", "--backend", "dask", "--scheduler", address)
        assert result.returncode == 0, result.stderr
        refused = [line for line in result.stderr.splitlines() if "refused" in line]
        assert len(refused) == 1 and "bundle hash" in refused[0], result.stderr
        assert "2 Dask workers" in result.stderr
        assert_same_csv(read_csv(tmp_path / "dask.csv"), serial_40)
        deadline = time.monotonic() + 60
        while odd.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert odd.poll() is not None, "the refused worker is still running"
    finally:
        if odd.poll() is None:
            odd.kill()
