"""The batch summary PDF names films as the CSV does: no real path unless the user keeps them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cxr_desktop.core.privacy import installation_key, pseudonym
from cxr_desktop.core.screening import screen
from cxr_desktop.exports.report_pdf import write_batch_summary


@pytest.fixture
def drawn_text(monkeypatch) -> list[str]:
    """Every string drawn on the summary's pages (table cells included), collected as each page is saved."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.text import Text

    texts: list[str] = []
    save = PdfPages.savefig

    def savefig(self, figure=None, **kwargs):
        texts.extend(text.get_text() for text in figure.findobj(Text))
        cells = [cell for axes in figure.axes for table in axes.tables for cell in table.get_celld().values()]
        texts.extend(cell.get_text().get_text() for cell in cells)
        return save(self, figure, **kwargs)

    monkeypatch.setattr(PdfPages, "savefig", savefig)
    return texts


@pytest.fixture
def scored(tmp_path, sample_images, tiny_engine, tiny_bundle):
    folder = tmp_path / "Smith_John"
    folder.mkdir()
    shutil.copy(sample_images[0], folder / "Smith_John_chest.jpg")
    shutil.copy(sample_images[1], folder / os.fsdecode(b"Doe\xe9.jpg"))
    rows = list(screen(sorted(folder.iterdir()), tiny_engine, thresholds=tiny_bundle.thresholds))
    return folder, rows, tiny_bundle.classes


@pytest.mark.parametrize("mode", ["pseudonymise", "omit"])
def test_summary_withholds_names_and_folder(scored, tmp_path, drawn_text, mode):
    folder, rows, classes = scored
    write_batch_summary(
        tmp_path / "summary.pdf", rows, classes, model_title="tiny", folder=folder, complete=True, identifiers=mode
    )
    text = "\n".join(drawn_text)
    assert "Smith" not in text and "Doe" not in text and "Folder: (withheld)" in text
    expected = pseudonym(folder / "Smith_John_chest.jpg", installation_key()) if mode == "pseudonymise" else "(omitted)"
    assert expected in drawn_text


def test_summary_keeps_names_when_asked_even_if_not_utf8(scored, tmp_path, drawn_text):
    folder, rows, classes = scored
    write_batch_summary(tmp_path / "summary.pdf", rows, classes, model_title="tiny", folder=folder, complete=True)
    assert {"Smith_John_chest.jpg", "Doe\\xe9.jpg"} <= set(drawn_text)
