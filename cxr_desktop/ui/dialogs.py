"""Help (keyboard shortcuts) and About (model card, licences) dialogs.

The shortcut list is read from the window's own actions, so the Help dialog cannot drift from
what the keys actually do.
"""

from __future__ import annotations

import html
import math

from PyQt5.QtWidgets import QAction, QDialog, QDialogButtonBox, QTabWidget, QTextBrowser, QVBoxLayout, QWidget

from cxr_desktop import __version__
from cxr_desktop.core.bundle import ModelBundle
from cxr_desktop.core.resources import resource_path
from cxr_desktop.core.decision import display_name
from cxr_desktop.ui.result_panel import DISCLAIMER

CREDITS_FILE = resource_path("CREDITS.md")

MOUSE_GESTURES = (
    ("Mouse wheel", "Zoom in / out around the pointer"),
    ("Left-drag", "Pan the image (with the ruler on: measure)"),
    ("Middle-drag, or Space + left-drag", "Pan the image, whatever tool is on"),
    ("Right-drag", "Window/level: horizontal = width (contrast), vertical = level (brightness)"),
    ("Drop files or a folder anywhere", "Open them"),
    ("Double-click / Enter on a row", "Open that image in the viewer with its heat map"),
    ("Up / Down in the table", "Step through the results"),
)

LICENCES = """
<h3>Licences</h3>
<ul>
<li><b>CXR Desktop</b> and its bundled model weights: Apache-2.0.</li>
<li><b>Qt 5</b> (LGPL v3) through <b>PyQt5</b> (GPL v3 / commercial, Riverbank Computing).</li>
<li><b>TensorFlow</b>, <b>Keras</b>, <b>OpenCV</b>: Apache-2.0. <b>NumPy</b>, <b>scikit-learn</b>: BSD-3-Clause.
 <b>pydicom</b>, <b>pylibjpeg</b>: MIT. <b>matplotlib</b>: PSF-based matplotlib licence.</li>
<li><b>Icons</b>: drawn for this project (resources/icons), Apache-2.0.</li>
<li><b>Sample radiographs and training data</b>: see the credits below; each image keeps its own licence.</li>
</ul>
"""


def _browser(content: str, markdown: bool = False) -> QTextBrowser:
    browser = QTextBrowser()
    browser.setOpenExternalLinks(False)
    if markdown:
        browser.setMarkdown(content)
    else:
        browser.setHtml(content)
    return browser


def _dialog(parent: QWidget | None, title: str, body: QWidget, size: tuple[int, int]) -> QDialog:
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    layout = QVBoxLayout(dialog)
    layout.addWidget(body)
    buttons = QDialogButtonBox(QDialogButtonBox.Close)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    dialog.resize(*size)
    return dialog


def shortcuts_html(actions: list[QAction]) -> str:
    rows = [
        (action.shortcut().toString(), action.text().replace("&", "").rstrip("…"))
        for action in actions
        if not action.shortcut().isEmpty()
    ]
    rows += list(MOUSE_GESTURES)
    cells = "".join(
        f"<tr><td style='padding:3px 16px 3px 0'><b>{html.escape(key)}</b></td><td>{html.escape(what)}</td></tr>"
        for key, what in rows
    )
    return f"<h3>Keyboard and mouse</h3><table>{cells}</table>"


def help_dialog(parent: QWidget | None, actions: list[QAction]) -> QDialog:
    return _dialog(parent, "Keyboard shortcuts", _browser(shortcuts_html(actions)), (560, 560))


def _metric(value) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def model_card_html(bundle: ModelBundle | None) -> str:
    """The bundle's own metadata, as a reader-facing model card."""
    if bundle is None:
        return "<p>No model is loaded yet.</p>"
    meta = bundle.metadata
    parts = [
        f"<h2>{html.escape(bundle.title)}</h2>",
        f"<p>{html.escape(str(meta.get('description', '')))}</p>",
        f"<h3>Intended use</h3><p>{html.escape(str(meta.get('intended_use', '')))}</p>",
    ]
    limitations = meta.get("limitations") or []
    if limitations:
        parts.append(
            "<h3>Limitations</h3><ul>" + "".join(f"<li>{html.escape(str(x))}</li>" for x in limitations) + "</ul>"
        )
    test = (meta.get("metrics") or {}).get("test") or {}
    if test:
        parts.append(
            f"<h3>Test-set performance</h3><p>n = {test.get('n', '—')}, macro AUC "
            f"{_metric(test.get('macro_auc'))}, accuracy {_metric(test.get('accuracy'))}</p>"
        )
        rows = "".join(
            f"<tr><td>{html.escape(display_name(name))}</td><td>{_metric(entry.get('auc'))}</td>"
            f"<td>{_metric(entry.get('sensitivity'))}</td><td>{_metric(entry.get('specificity'))}</td>"
            f"<td>{_metric(entry.get('threshold'))}</td></tr>"
            for name, entry in (test.get("per_class") or {}).items()
        )
        parts.append(
            "<table cellpadding='4'><tr><th align='left'>class</th><th>AUC</th><th>sensitivity</th>"
            f"<th>specificity</th><th>threshold</th></tr>{rows}</table>"
        )
    if meta.get("operating_point"):
        parts.append(f"<p>Operating point: {html.escape(str(meta['operating_point']))}</p>")
    parts.append(f"<h3>Data</h3><p>{html.escape(str(meta.get('data_source', '—')))}</p>")
    references = meta.get("references") or []
    if references:
        parts.append(
            "<h3>References</h3><ul>" + "".join(f"<li>{html.escape(str(r))}</li>" for r in references) + "</ul>"
        )
    parts.append(
        f"<p style='color:#8c97a4'>Weights sha256 {html.escape(bundle.sha256)}<br>"
        f"Folder {html.escape(str(bundle.folder))}</p>"
    )
    return "".join(parts)


def about_dialog(parent: QWidget | None, bundle: ModelBundle | None) -> QDialog:
    tabs = QTabWidget()
    tabs.addTab(
        _browser(
            f"<h2>CXR Desktop {html.escape(__version__)}</h2>"
            "<p>Offline decision support for frontal chest radiographs: COVID-19 / pneumonia / normal, with"
            " Grad-CAM heat maps showing where the model looked.</p>"
            f"<p><b>{html.escape(DISCLAIMER)}</b></p>"
        ),
        "About",
    )
    tabs.addTab(_browser(model_card_html(bundle)), "Model card")
    credits = CREDITS_FILE.read_text(encoding="utf-8") if CREDITS_FILE.is_file() else ""
    tabs.addTab(_browser(LICENCES), "Licences")
    tabs.addTab(_browser(credits, markdown=True), "Credits")
    return _dialog(parent, "About CXR Desktop", tabs, (720, 600))
