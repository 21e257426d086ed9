"""A training run's full configuration, written next to the model so the run can be repeated."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cxr_desktop.core.bundle import write_json_atomic
from cxr_desktop.core.preprocessing import (
    PREPROCESSING_ID,
    SHORTCUT_SUPPRESSING_ID,
    PreprocessingSpec,
    shortcut_suppressing_spec,
)


@dataclass
class TrainConfig:
    data: str
    classes: list[str]
    out: str
    work_dir: str
    name: str = ""
    version: str = "1.0.0"
    description: str = ""
    manifest: str | None = None
    where: dict[str, str] = field(default_factory=dict)
    backbone: str = "densenet121"
    init: str = "none"
    size: int = 224
    warmup_size: int = 0
    warmup_epochs: int = 0
    epochs: int = 30
    feature_extraction_epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    dropout: float = 0.2
    patience: int = 6
    seed: int = 1234
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    min_val_patients: int = 20
    mixed_precision: str = "auto"
    augment: bool = True
    target_sensitivity: float = 0.95
    max_images: int = 0
    preprocessing: str = PREPROCESSING_ID

    def spec(self) -> PreprocessingSpec:
        """The preprocessing the bundle is trained and served with."""
        if self.preprocessing == SHORTCUT_SUPPRESSING_ID:
            return shortcut_suppressing_spec(self.size)
        return PreprocessingSpec(size=self.size)

    def save(self, path: Path) -> None:
        write_json_atomic(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        return cls(**json.loads(path.read_text(encoding="utf-8")))
