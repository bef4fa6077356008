"""Where a study's files live, and the record of which stages are up to date."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from radscore.config import StudyConfig, load_config
from radscore.errors import ManifestError
from radscore.io.manifest import read_manifest
from radscore.runtime.files import atomic_write_json, sha256_file


@dataclass
class Study:
    """A study folder: its config, manifest and outputs."""

    root: Path
    config: StudyConfig

    @classmethod
    def open(cls, folder: str | Path, config_path: str | Path | None = None) -> "Study":
        root = Path(folder).resolve()
        config = load_config(Path(config_path) if config_path else root / "study.yaml")
        return cls(root=root, config=config)

    # Outputs scripts can rely on (documented in the README and `radscore run --help`).
    @property
    def features_path(self) -> Path:
        return self.root / "features.parquet"

    @property
    def scores_path(self) -> Path:
        return self.root / "scores.csv"

    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.json"

    @property
    def report_path(self) -> Path:
        return self.root / "report.html"

    @property
    def provenance_path(self) -> Path:
        return self.root / "provenance.json"

    @property
    def qc_path(self) -> Path:
        return self.root / "qc.csv"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def dicom_dir(self) -> Path:
        """DICOM SEG and SR per scan (``outputs.dicom``), with ``index.csv``."""
        return self.root / "dicom_outputs"

    @property
    def work_dir(self) -> Path:
        """Internal state: cache and stage records (safe to delete; forces a full rerun)."""
        return self.root / ".radscore"

    def manifest(self) -> pd.DataFrame:
        """The manifest merged with the clinical table (clinical columns checked)."""
        cfg = self.config
        # an mCRC study's endpoint (the TME phenotype) is derived later, by the phenotype stage
        df = read_manifest(self.root / cfg.manifest, outcome=cfg.endpoint.column if cfg.study == "nsclc" else None,
                           pfs_time=cfg.survival.pfs_time or "pfs_months")
        if cfg.tables.clinical:
            clin = read_table(self.root / cfg.tables.clinical, index=False)
            overlap = [c for c in clin.columns if c in df.columns and c != "patient_id"]
            df = df.merge(clin.drop(columns=overlap), on="patient_id", how="left")
        missing = [c for c in cfg.clinical if c not in df.columns]
        if missing:
            raise ManifestError(f"clinical column(s) {missing} named in study.yaml are in neither the manifest "
                                "nor the clinical table.", file=str(self.root / cfg.manifest),
                                fix="add them or remove them from 'clinical' in study.yaml.")
        return df

    def input_hashes(self) -> dict[str, str]:
        """SHA-256 of the study-level inputs: the manifest and the tables named in the config."""
        cfg = self.config
        files = {"manifest": cfg.manifest, **{k: v for k, v in cfg.tables.model_dump().items() if v}}
        return {k: sha256_file(self.root / v) for k, v in files.items() if (self.root / v).is_file()}

    def table(self, name: str) -> pd.DataFrame | None:
        rel = getattr(self.config.tables, name)
        return read_table(self.root / rel) if rel else None

    # Stage records: a stage is up to date when its key (inputs + settings) is unchanged.
    def _stages_file(self) -> Path:
        return self.work_dir / "stages.json"

    def stage_key(self, stage: str) -> str | None:
        f = self._stages_file()
        return json.loads(f.read_text()).get(stage) if f.exists() else None

    def mark_stage(self, stage: str, key: str) -> None:
        f = self._stages_file()
        data = json.loads(f.read_text()) if f.exists() else {}
        data[stage] = key
        atomic_write_json(f, data)


def read_table(path: Path, index: bool = True) -> pd.DataFrame:
    """A per-patient CSV table (``patient_id`` first)."""
    if not path.is_file():
        raise ManifestError("table not found.", file=str(path), fix="correct the path under 'tables' in study.yaml.")
    try:  # as read_manifest: an empty, binary or badly quoted file is the user's to fix, not a traceback
        df = pd.read_csv(path, dtype={"patient_id": str})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ManifestError(f"not a readable CSV ({exc}).", file=str(path)) from None
    if "patient_id" not in df.columns:
        raise ManifestError("table has no 'patient_id' column.", file=str(path))
    if df["patient_id"].duplicated().any():
        dup = df.loc[df["patient_id"].duplicated(), "patient_id"].tolist()[:5]
        raise ManifestError(f"duplicate patient IDs {dup}.", file=str(path))
    return df.set_index("patient_id") if index else df
