"""Privacy: no network at run time, and exports that can pseudonymise or omit the image path."""

from __future__ import annotations

import csv
import io
import shutil
import socket
import stat
from pathlib import Path

import numpy as np
import pytest

from cxr_desktop.core import privacy
from cxr_desktop.exports.results_csv import csv_columns, render_csv
from cxr_desktop.core.scoring import ScreeningRow
from tests.faults.cli_run import screen

CLASSES = ["covid", "pneumonia", "normal"]


class NetworkUsedError(AssertionError):
    pass


@pytest.fixture()
def no_network(monkeypatch):
    """Every way to open a connection or resolve a name raises; records what was attempted."""
    attempts: list[str] = []

    def refuse(name):
        def blocked(*args, **kwargs):
            attempts.append(f"{name}{args[1:2] if name == 'socket.connect' else args[:1]}")
            raise NetworkUsedError(f"network use attempted: {name}")

        return blocked

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("socket.getaddrinfo"))
    monkeypatch.setattr(socket, "gethostbyname", refuse("socket.gethostbyname"))
    return attempts


@pytest.fixture()
def user_dirs(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("CXR_HOME", str(home))
    monkeypatch.setenv("CXR_AUDIT_DIR", str(home / "audit"))
    return home


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_full_open_score_export_cycle_makes_no_network_connection(
    no_network, user_dirs, tiny_bundle, sample_images, tmp_path
):
    from cxr_desktop.core.audit import read_audit
    from cxr_desktop.core.bundle import load_bundle
    from cxr_desktop.core.preprocessing import preprocess
    from cxr_desktop.core.radiograph import load_radiograph
    from cxr_desktop.engine.tensorflow_engine import Engine

    bundle = load_bundle(tiny_bundle.folder)
    engine = Engine(bundle)
    batch = np.stack([preprocess(load_radiograph(p).pixels, engine.spec) for p in sample_images])
    explained = engine.explain(batch)
    assert explained.probabilities.shape == (len(sample_images), 3)

    folder = tmp_path / "studies"
    folder.mkdir()
    for image in sample_images:
        shutil.copy(image, folder / image.name)
    out = tmp_path / "out.csv"
    assert screen(folder, bundle.folder, out, "--heatmaps", str(tmp_path / "maps")) == 0
    rows = read_rows(out)
    assert len(rows) == len(sample_images) and all(r["status"] == "ok" for r in rows)
    assert len(list((tmp_path / "maps").glob("*.png"))) == len(sample_images)
    assert any(e["event"] == "export" for e in read_audit(folder=user_dirs / "audit"))
    assert no_network == [], f"network use attempted: {no_network}"


def test_the_network_guard_itself_works(no_network):
    with pytest.raises(NetworkUsedError):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(NetworkUsedError):
        socket.getaddrinfo("example.org", 443)
    assert len(no_network) == 2


def test_batch_csv_is_pseudonymised_by_default(no_network, user_dirs, tiny_bundle, sample_images, tmp_path):
    """The CLI's CSV carries no file or folder names unless asked to; the audit trail maps back."""
    from cxr_desktop.core.audit import read_audit

    folder = tmp_path / "Smith_John_1960-01-01"
    folder.mkdir()
    names = []
    for index, image in enumerate(sample_images[:3]):
        target = folder / f"DOE^JANE_{index}_{image.name}"
        shutil.copy(image, target)
        names.append(target)
    out, again, kept = tmp_path / "shared.csv", tmp_path / "again.csv", tmp_path / "kept.csv"
    assert screen(folder, tiny_bundle.folder, out) == 0
    assert screen(folder, tiny_bundle.folder, again) == 0
    assert screen(folder, tiny_bundle.folder, kept, "--identifiers", "keep") == 0
    text = out.read_text(encoding="utf-8")
    assert "Smith" not in text and "DOE" not in text and str(tmp_path) not in text
    rows = read_rows(out)
    assert list(rows[0])[:3] == ["path", "status", "prediction"]
    assert all(r["path"].startswith("anon-") and len(r["path"]) == 21 for r in rows)
    assert [r["path"] for r in rows] == [r["path"] for r in read_rows(again)], "pseudonyms must be stable"
    assert [r["path"] for r in read_rows(kept)] == [str(p) for p in names]
    scored = [e for e in read_audit(folder=user_dirs / "audit") if e["event"] == "scored" and "pseudonym" in e]
    mapping = {e["pseudonym"]: e["path"] for e in scored}
    assert {mapping[r["path"]] for r in rows} == {str(p.resolve()) for p in names}
    key_file = privacy.key_path()
    assert key_file.is_file() and stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_pseudonym_is_keyed_stable_and_reveals_nothing(tmp_path):
    key_a = privacy.installation_key(tmp_path / "a.key")
    assert privacy.installation_key(tmp_path / "a.key") == key_a, "the key is created once, then reused"
    key_b = privacy.installation_key(tmp_path / "b.key")
    path = tmp_path / "Jones_Mary" / "chest.png"
    first = privacy.pseudonym(path, key_a)
    assert first == privacy.pseudonym(str(path), key_a)
    assert first != privacy.pseudonym(path, key_b), "without the key a guess cannot be checked"
    assert first != privacy.pseudonym(path.with_name("chest2.png"), key_a)
    assert "Jones" not in first and first.startswith("anon-")


def test_damaged_key_is_an_error_not_silently_replaced(tmp_path):
    key = tmp_path / "bad.key"
    key.write_text("not hex")
    with pytest.raises(privacy.PrivacyError, match="cannot be read"):
        privacy.installation_key(key)
    assert key.read_text() == "not hex"


def _rows(tmp_path: Path) -> list[ScreeningRow]:
    return [
        ScreeningRow(
            path=tmp_path / "Doe_Jane.png",
            status="ok",
            prediction="normal",
            probabilities={"covid": 0.1, "pneumonia": 0.2, "normal": 0.7},
            risk=0.3,
            message="note",
        ),
        ScreeningRow(path=tmp_path / "Roe, Richard.dcm", status="error", message="file is empty (0 bytes)"),
    ]


@pytest.mark.parametrize("mode", privacy.IDENTIFIER_MODES)
def test_every_mode_keeps_the_csv_contract(mode, tmp_path):
    rows = _rows(tmp_path)
    parsed = list(csv.DictReader(io.StringIO(render_csv(rows, CLASSES, identifiers=mode, key=b"k" * 32).decode())))
    assert list(parsed[0]) == csv_columns(CLASSES)
    assert [r["status"] for r in parsed] == ["ok", "error"]
    assert parsed[0]["p_normal"] == "0.7000" and parsed[1]["message"] == "file is empty (0 bytes)"
    paths = [r["path"] for r in parsed]
    if mode == "keep":
        assert paths == [str(r.path) for r in rows]
    elif mode == "omit":
        assert paths == ["", ""]
    else:
        assert all(p.startswith("anon-") for p in paths) and len(set(paths)) == 2


def test_render_csv_default_is_unchanged_for_existing_callers(tmp_path):
    rows = _rows(tmp_path)
    assert render_csv(rows, CLASSES) == render_csv(rows, CLASSES, identifiers="keep")
    assert str(rows[0].path) in render_csv(rows, CLASSES).decode()


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="identifiers must be one of"):
        privacy.path_labeller("hash")
