"""File > Open from PACS: find studies on a configured node, retrieve them, open them.

Nodes are kept in the application's settings (``pacs/nodes``) and checked with C-ECHO; a search
goes by patient (name or ID), study date and modality; retrieval is C-GET, C-MOVE to a storage SCP
this dialog starts for the purpose, or DICOMweb (WADO-RS) for servers that speak it. Network work
runs on a worker thread, so the window never freezes on a slow or absent server; every failure is
shown as what failed (``PacsError`` messages name the node and the step).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QObject, QSettings, Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cxr_desktop.core.appdirs import user_data_dir
from cxr_desktop.core.errors import CxrError
from cxr_desktop.pacs.nodes import (
    DEFAULT_AE_TITLE,
    NOT_INSTALLED,
    Node,
    check_ae_title,
    check_port,
    nodes_from_json,
    nodes_to_json,
)

#: How a study is brought here.
METHODS = ("C-GET", "C-MOVE", "DICOMweb")
MODALITIES = ("", "CR", "DX")
COLUMNS = ("Patient ID", "Patient name", "Study date", "Modalities", "Description", "Images")


class _Relay(QObject):
    """Carries a worker thread's result back to the GUI thread (queued signal)."""

    finished = pyqtSignal(object, object, object)


class PacsDialog(QDialog):
    """Search and retrieval; ``open_image`` and ``screen`` are the window's own open operations."""

    def __init__(
        self,
        store: QSettings,
        open_image: Callable[[Path], None],
        screen: Callable[[list[Path], Path | None], None],
        parent: QWidget | None = None,
        retrieve_dir: Path | None = None,
        current_film: Callable[[], tuple[Path | None, str]] = lambda: (None, ""),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        self.store, self.open_film, self.screen_films = store, open_image, screen
        self.retrieve_dir = retrieve_dir or user_data_dir() / "pacs-retrieved"
        self.current_film = current_film
        self._engines: dict[str, tuple[Any, Any]] = {}
        self.studies: list[Any] = []
        self.busy = False
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cxr-pacs")
        self._relay = _Relay()
        self._relay.finished.connect(self._on_finished)
        self._build()
        self._load_settings()

    # --- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.node_box = QComboBox()
        self.node_box.currentIndexChanged.connect(self._on_node_chosen)
        self.name_edit, self.aet_edit, self.host_edit = QLineEdit(), QLineEdit(), QLineEdit()
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(104)
        self.web_edit = QLineEdit()
        self.web_edit.setPlaceholderText("http://host:8042/dicom-web (optional)")
        self.local_aet_edit = QLineEdit(DEFAULT_AE_TITLE)
        self.method_box = QComboBox()
        self.method_box.addItems(METHODS)
        self.move_port_spin = QSpinBox()
        self.move_port_spin.setRange(1, 65535)
        self.move_port_spin.setValue(11113)
        self.save_button = QPushButton("Save node")
        self.remove_button = QPushButton("Remove node")
        self.echo_button = QPushButton("Check (C-ECHO)")
        self.save_button.clicked.connect(self.save_node)
        self.remove_button.clicked.connect(self.remove_node)
        self.echo_button.clicked.connect(self.check_node)

        node_form = QFormLayout()
        node_form.addRow("Node", self.node_box)
        node_form.addRow("Name", self.name_edit)
        node_form.addRow("AE title", self.aet_edit)
        node_form.addRow("Host", self.host_edit)
        node_form.addRow("Port", self.port_spin)
        node_form.addRow("DICOMweb URL", self.web_edit)
        node_form.addRow("This app's AE title", self.local_aet_edit)
        node_form.addRow("Retrieve with", self.method_box)
        node_form.addRow("C-MOVE to this port", self.move_port_spin)
        node_buttons = QHBoxLayout()
        for button in (self.save_button, self.remove_button, self.echo_button):
            node_buttons.addWidget(button)
        node_form.addRow(node_buttons)
        node_group = QGroupBox("PACS node")
        node_group.setLayout(node_form)

        self.patient_edit = QLineEdit()
        self.patient_edit.setPlaceholderText("name or ID (part of it)")
        self.from_edit, self.to_edit = QLineEdit(), QLineEdit()
        for edit in (self.from_edit, self.to_edit):
            edit.setPlaceholderText("YYYYMMDD")
            edit.setMaxLength(8)
        self.modality_box = QComboBox()
        self.modality_box.addItems([m or "any" for m in MODALITIES])
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        query = QHBoxLayout()
        for label, widget in (
            ("Patient", self.patient_edit),
            ("From", self.from_edit),
            ("To", self.to_edit),
            ("Modality", self.modality_box),
        ):
            query.addWidget(QLabel(label))
            query.addWidget(widget)
        query.addWidget(self.search_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.doubleClicked.connect(self.open_in_viewer)
        self.viewer_button = QPushButton("Open in viewer")
        self.batch_button = QPushButton("Screen as batch")
        self.close_button = QPushButton("Close")
        self.send_button = QPushButton("Send result of the open film")
        self.send_button.setToolTip("Score the film open in the viewer and send its SR and heat-map to this node")
        self.send_button.clicked.connect(self.send_result)
        self.viewer_button.clicked.connect(self.open_in_viewer)
        self.batch_button.clicked.connect(self.screen_as_batch)
        self.close_button.clicked.connect(self.close)
        self.status = QLabel("Choose or add a node, then search.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        actions = QHBoxLayout()
        actions.addWidget(self.status, 1)
        for button in (self.send_button, self.viewer_button, self.batch_button, self.close_button):
            actions.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addWidget(node_group)
        layout.addLayout(query)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        self.resize(900, 640)

    # --- settings ---------------------------------------------------------------------------------
    def nodes(self) -> list[Node]:
        return nodes_from_json(str(self.store.value("pacs/nodes", "[]")))

    def _load_settings(self) -> None:
        self.local_aet_edit.setText(str(self.store.value("pacs/ae_title", DEFAULT_AE_TITLE)))
        method = str(self.store.value("pacs/method", METHODS[0]))
        self.method_box.setCurrentIndex(METHODS.index(method) if method in METHODS else 0)
        self.move_port_spin.setValue(int(self.store.value("pacs/move_port", 11113)))
        self._refresh_nodes()

    def _save_preferences(self) -> None:
        self.store.setValue("pacs/ae_title", self.local_aet_edit.text().strip() or DEFAULT_AE_TITLE)
        self.store.setValue("pacs/method", self.method_box.currentText())
        self.store.setValue("pacs/move_port", self.move_port_spin.value())

    def _refresh_nodes(self, select: str = "") -> None:
        nodes = self.nodes()
        self.node_box.blockSignals(True)
        self.node_box.clear()
        self.node_box.addItems([node.label for node in nodes])
        self.node_box.blockSignals(False)
        labels = [node.label for node in nodes]
        if nodes:
            self.node_box.setCurrentIndex(labels.index(select) if select in labels else 0)
            self._on_node_chosen(self.node_box.currentIndex())

    def _on_node_chosen(self, index: int) -> None:
        nodes = self.nodes()
        if not 0 <= index < len(nodes):
            return
        node = nodes[index]
        self.name_edit.setText(node.name)
        self.aet_edit.setText(node.ae_title)
        self.host_edit.setText(node.host)
        self.port_spin.setValue(node.port)
        self.web_edit.setText(node.dicomweb_url)

    def node_from_fields(self) -> Node:
        """The node as typed; ``CxrError`` naming the field that is wrong."""
        host = self.host_edit.text().strip()
        if not host:
            raise CxrError("the node needs a host name or address")
        return Node(
            ae_title=check_ae_title(self.aet_edit.text()),
            host=host,
            port=check_port(self.port_spin.value()),
            name=self.name_edit.text().strip(),
            dicomweb_url=self.web_edit.text().strip(),
        )

    def save_node(self) -> None:
        try:
            node = self.node_from_fields()
        except CxrError as exc:
            self._say(f"Node not saved: {exc}", error=True)
            return
        nodes = [kept for kept in self.nodes() if kept.label != node.label]
        self.store.setValue("pacs/nodes", nodes_to_json([*nodes, node]))
        self._save_preferences()
        self._refresh_nodes(select=node.label)
        self._say(f"Saved {node.label}.")

    def remove_node(self) -> None:
        label = self.node_box.currentText()
        self.store.setValue("pacs/nodes", nodes_to_json([node for node in self.nodes() if node.label != label]))
        self._refresh_nodes()
        self._say(f"Removed {label}.")

    # --- network operations (on the worker thread) ------------------------------------------------
    def check_node(self) -> None:
        from cxr_desktop.pacs.nodes import echo

        node = self._node()
        if node is not None:
            self._start(f"Checking {node.label}…", lambda: echo(node, self._local_aet()), self._on_echo, node)

    def search(self) -> None:
        from cxr_desktop.pacs.query import StudyQuery

        node = self._node()
        if node is None:
            return
        query = StudyQuery(
            patient=self.patient_edit.text().strip(),
            date_from=self.from_edit.text().strip(),
            date_to=self.to_edit.text().strip(),
            modality=MODALITIES[self.modality_box.currentIndex()],
        )
        self._start(f"Searching {node.label}…", lambda: self._find(node, query), self._on_found, node)

    def open_in_viewer(self) -> None:
        self._retrieve(batch=False)

    def screen_as_batch(self) -> None:
        self._retrieve(batch=True)

    def send_result(self) -> None:
        """Score the viewer's film (same scoring path as everywhere) and C-STORE its SR and heat-map."""
        node = self._node()
        path, model = self.current_film()
        if node is None:
            return
        if path is None:
            self._say("Open a DICOM film in the viewer first.", error=True)
            return
        aet = self._local_aet()

        def work() -> str:
            from cxr_desktop.pacs.film_results import film_results
            from cxr_desktop.pacs.send import send_instances

            bundle, engine = self._engine(model)
            results = film_results(path, bundle, engine, self.retrieve_dir.parent / "pacs-results")
            send_instances(node, [results.sr, results.heatmap], aet)
            return f"Sent the SR and heat-map of {path.name} ({bundle.title}) to {node.label}."

        self._start(f"Scoring {path.name} and sending its result…", work, self._say, node)

    def _engine(self, model: str) -> tuple[Any, Any]:
        """The bundle and engine for ``model``, loaded once per dialog on the worker thread."""
        if model not in self._engines:
            from cxr_desktop.core.bundle import load_bundle
            from cxr_desktop.engine import load_engine

            bundle = load_bundle(model)
            self._engines[model] = (bundle, load_engine(bundle))
        return self._engines[model]

    def _find(self, node: Node, query: Any) -> list[Any]:
        from cxr_desktop.pacs import dicomweb
        from cxr_desktop.pacs.query import find_studies

        if self.method_box.currentText() == "DICOMweb":
            return dicomweb.search_studies(self._web_url(node), query)
        return find_studies(node, query, self._local_aet())

    def _retrieve(self, batch: bool) -> None:
        node = self._node()
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        if node is None:
            return
        if not rows:
            self._say("Select a study first.", error=True)
            return
        chosen = [self.studies[row].study_uid for row in rows] if batch else [self.studies[rows[0]].study_uid]
        method, aet, port = self.method_box.currentText(), self._local_aet(), self.move_port_spin.value()
        self._save_preferences()

        def work() -> list[Path]:
            return [path for uid in chosen for path in self._fetch(node, uid, method, aet, port)]

        self._start(
            f"Retrieving {len(chosen)} stud{'y' if len(chosen) == 1 else 'ies'} with {method}…",
            work,
            self._on_retrieved_batch if batch else self._on_retrieved_one,
            node,
        )

    def _fetch(self, node: Node, study_uid: str, method: str, aet: str, port: int) -> list[Path]:
        from cxr_desktop.pacs import dicomweb
        from cxr_desktop.pacs.query import get_study, move_study_here

        if method == "DICOMweb":
            return dicomweb.retrieve_study(self._web_url(node), study_uid, self.retrieve_dir)
        if method == "C-MOVE":
            return move_study_here(node, study_uid, self.retrieve_dir, ae_title=aet, port=port)
        return get_study(node, study_uid, self.retrieve_dir, aet)

    def _web_url(self, node: Node) -> str:
        if not node.dicomweb_url:
            raise CxrError(f"{node.label} has no DICOMweb URL: add one, or retrieve with C-GET or C-MOVE")
        return node.dicomweb_url

    def _start(self, text: str, work: Callable[[], Any], done: Callable[[Any], None], node: Node) -> None:
        if self.busy:
            return
        self.busy = True
        self._enable(False)
        self._say(text)

        def run() -> None:
            try:
                result, error = work(), None
            except CxrError as exc:
                result, error = None, str(exc)
            except ImportError:
                result, error = None, NOT_INSTALLED
            except Exception as exc:  # noqa: BLE001 - shown as what failed, never a traceback
                result, error = None, f"{node.label}: {type(exc).__name__}: {exc}"
            self._relay.finished.emit(done, result, error)

        self._pool.submit(run)

    def _on_finished(self, done: Callable[[Any], None], result: Any, error: str | None) -> None:
        self.busy = False
        self._enable(True)
        if error is not None:
            self._say(error, error=True)
            return
        done(result)

    # --- results ----------------------------------------------------------------------------------
    def _on_echo(self, _: None) -> None:
        self._say(f"{self.node_box.currentText() or self.aet_edit.text()} answers C-ECHO.")

    def _on_found(self, studies: list[Any]) -> None:
        self.studies = studies
        self.table.setRowCount(len(studies))
        for row, study in enumerate(studies):
            values = (
                study.patient_id,
                study.patient_name.replace("^", " "),
                study.date,
                study.modalities,
                study.description,
                str(study.instances or ""),
            )
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
        if studies:
            self.table.selectRow(0)
        self._say(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found.")

    def _on_retrieved_one(self, paths: list[Path]) -> None:
        if not paths:
            self._say("The node sent no images for that study.", error=True)
            return
        self._say(f"Retrieved {len(paths)} image(s); opening {paths[0].name}.")
        self.open_film(sorted(paths)[0])

    def _on_retrieved_batch(self, paths: list[Path]) -> None:
        if not paths:
            self._say("The node sent no images for those studies.", error=True)
            return
        self._say(f"Retrieved {len(paths)} image(s); screening them as a batch.")
        self.screen_films(sorted(paths), self.retrieve_dir)

    # --- helpers ----------------------------------------------------------------------------------
    def _node(self) -> Node | None:
        try:
            return self.node_from_fields()
        except CxrError as exc:
            self._say(str(exc), error=True)
            return None

    def _local_aet(self) -> str:
        return check_ae_title(self.local_aet_edit.text() or DEFAULT_AE_TITLE)

    def _enable(self, enabled: bool) -> None:
        for button in (self.echo_button, self.search_button, self.viewer_button, self.batch_button, self.send_button):
            button.setEnabled(enabled)

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c0392b;" if error else "")

    def done(self, result: int) -> None:
        self._save_preferences()
        super().done(result)


def show_pacs_dialog(window: Any) -> PacsDialog:
    """The window's PACS dialog (one per window), shown and raised."""
    dialog = window.findChild(PacsDialog)
    if dialog is None:
        dialog = PacsDialog(
            window.settings.store,
            window.open_image,
            window.screen,
            parent=window,
            current_film=lambda: (window.radiograph.path if window.radiograph is not None else None, window.model_name),
        )
    dialog.show()
    dialog.raise_()
    return dialog
