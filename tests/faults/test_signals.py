"""SIGINT and SIGTERM stop ``screen`` promptly, even while it waits on a decode, and leave a valid CSV.

Before the fix the ``KeyboardInterrupt`` raised inside ``future.result()`` was caught as the failure
of the file being waited on: that file became an error row "unexpected error (KeyboardInterrupt)"
and the batch went on to the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from tests.faults.cli_run import rows

ROOT = Path(__file__).resolve().parents[2]
FILMS, LINKS = 12, 25


@pytest.fixture(scope="module")
def slow_folder(cxr3, tmp_path_factory) -> Path:
    """300 entries of 4,000 px real films (hard links), so decoding, not the model, sets the pace."""
    folder = tmp_path_factory.mktemp("slow")
    for index, source in enumerate(sorted(cxr3.glob("normal/*.jpg"))[:FILMS]):
        big = cv2.resize(cv2.imread(str(source), cv2.IMREAD_GRAYSCALE), (4000, 4000))
        first = folder / f"{index:02d}-00.jpg"
        cv2.imwrite(str(first), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
        for copy in range(1, LINKS):
            os.link(first, folder / f"{index:02d}-{copy:02d}.jpg")
    return folder


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_batch_stops_promptly_with_a_valid_csv(slow_folder, tiny_bundle, tmp_path, signum):
    out = tmp_path / "out.csv"
    command = [sys.executable, "-m", "cxr_desktop", "screen", str(slow_folder), "--model", str(tiny_bundle.folder)]
    process = subprocess.Popen(
        [*command, "--csv", str(out), "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl+C reaches a foreground run; a test suite started as a background job ignores
        # SIGINT, and its children would inherit that and never see the signal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signum)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=60)
    stopped = time.monotonic() - sent
    assert process.returncode == 130, stderr[-2000:]
    assert stopped < 6, f"took {stopped:.1f} s to stop"
    assert "Traceback" not in stderr and "interrupted after" in stderr
    records = rows(out)
    assert 2 <= len(records) < FILMS * LINKS
    assert all(record["status"] == "ok" for record in records), [r["message"] for r in records if r["status"] != "ok"]
