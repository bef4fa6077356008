"""What was done, to which input, with which settings: the run's provenance record.

Each step that changes data appends a :class:`Step` to the record of the thing it
changed (a scan: :class:`ScanProvenance`; the study: :class:`Provenance`). Records are
frozen: appending returns a new record, so a record handed on can never change behind
its reader's back. The study run writes the whole record as ``provenance.json`` beside
its outputs and into the metadata of ``features.parquet``; the report's methods section
and reporting checklist are built from it.

Step names and what their ``result`` holds (the report reads these keys):

=================  ==========================================================================
``load_ct``        ``source`` (``image file`` / ``DICOM series``), ``units`` (HU), ``grid``
``load_pet``       ``source``, ``units`` (SUV), ``grid``, ``suv`` (DICOM: ``method``, ``factor``,
                   ``factor_min``, ``factor_max``, ``units``, ``decay_correction``, ``tags_used``;
                   an image file: ``None``, taken as SUV)
``load_mask``      ``source`` (``image file`` / ``RTSTRUCT`` / ``SEG``), ``roi``, ``voxels``, ``grid``
``perturb_mask``   ``perturbation`` (ICC repeat: ``dilate_1``, ``erode_1``, ``contour_1``...)
``check_mask``     ``resampled_onto_ct`` (bool), ``overlap`` (fraction of the mask's box in the CT)
``register``       ``method`` and, for ``rigid``, the transform parameters and metric
``resample``       ``grid`` (common grid), ``grid_alignment``, ``image_interpolator``,
                   ``mask_interpolation``, outside values, ``crop`` (or None)
``fuse``           the fusion method's parameters
``vois``           ``voxels``, ``volume_ml`` per VOI, ``kept``
``features``       ``n_features``, ``fingerprint`` (settings + engine version), ``engine_version``
=================  ==========================================================================

Study-level stages (:attr:`Provenance.stages`):

=================  ==========================================================================
``split``          cohort name -> number of patients
``robustness``     ``source`` (``mask_2``/``perturbation``/``off``), ``n_patients``, ``n_features``,
                   ``n_kept``, ``skipped`` (why it did not run, or None)
``model``          ``models``: each Radscore's :class:`~radscore.modeling.train.ModelRecord`
``dicom_outputs``  (``outputs.dicom``) ``folder``, and how many scans were ``written``, ``skipped``
                   (not DICOM-sourced) or ``failed``
``report``         ``sections``: section key -> ``done`` or why it was skipped
=================  ==========================================================================

A ``grid`` is ``{"size": [x, y, z], "spacing_mm": [...], "origin_mm": [...]}``.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any, Mapping

#: Packages whose versions every record carries (import names differ; these are distributions).
VERSIONED_PACKAGES = ("radscore", "numpy", "scipy", "pandas", "SimpleITK", "pydicom", "highdicom",
                      "pymcubes", "pywavelets", "numba", "scikit-learn", "xgboost-cpu", "lifelines",
                      "scikit-survival", "statsmodels", "matplotlib", "dask", "torch")


def software_versions() -> dict[str, str]:
    """Python and the installed versions of :data:`VERSIONED_PACKAGES` (absent ones left out)."""
    out = {"python": platform.python_version()}
    for pkg in VERSIONED_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def settings_hash(settings: Mapping[str, Any]) -> str:
    """Short SHA-256 of JSON-able settings (sorted keys): equal settings, equal hash."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def grid_of(image) -> dict[str, list]:
    """The ``grid`` entry of a step for a SimpleITK image."""
    return {"size": [int(v) for v in image.GetSize()],
            "spacing_mm": [round(float(s), 6) for s in image.GetSpacing()],
            "origin_mm": [round(float(o), 4) for o in image.GetOrigin()]}


@dataclass(frozen=True)
class Step:
    """One step applied to data.

    Attributes
    ----------
    name : str
        What was done (see the module docstring for the names in use).
    settings : dict
        The settings that shaped the result (JSON-able).
    inputs : dict
        Input role -> SHA-256 of its content (files: their bytes; a DICOM folder: the hash
        of its files' hashes).
    result : dict
        Facts about the output (JSON-able).
    warnings : tuple of str
    """

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "settings": self.settings, "inputs": self.inputs, "result": self.result,
                "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Step":
        return cls(name=d["name"], settings=dict(d.get("settings") or {}), inputs=dict(d.get("inputs") or {}),
                   result=dict(d.get("result") or {}), warnings=tuple(d.get("warnings") or ()))


@dataclass(frozen=True)
class ScanProvenance:
    """The steps applied to one scan (``patient_id/timepoint/lesion_id``), in order."""

    scan: str
    steps: tuple[Step, ...] = ()

    def then(self, step: Step) -> "ScanProvenance":
        """This record with ``step`` appended."""
        return replace(self, steps=self.steps + (step,))

    def step(self, name: str) -> Step | None:
        """The last step called ``name``, or None."""
        for s in reversed(self.steps):
            if s.name == name:
                return s
        return None

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w for s in self.steps for w in s.warnings)

    def to_dict(self) -> dict[str, Any]:
        return {"scan": self.scan, "steps": [s.to_dict() for s in self.steps]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ScanProvenance":
        return cls(scan=d["scan"], steps=tuple(Step.from_dict(s) for s in d.get("steps", ())))


@dataclass(frozen=True)
class Provenance:
    """A study run's record: software, settings, inputs, every scan's steps, every stage.

    Attributes
    ----------
    software : dict
        Package -> version (:func:`software_versions`).
    settings : dict
        The study's settings, every key spelled out (``StudyConfig`` as JSON).
    settings_hash : str
    inputs : dict
        Study-level input (manifest, tables) -> SHA-256.
    scans : tuple of ScanProvenance
        Every scan whose features entered the tables, sorted by scan.
    stages : tuple of Step
        Study-level steps in order (split, robustness, model, evaluation, analyses).
    """

    software: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    settings_hash: str = ""
    inputs: dict[str, str] = field(default_factory=dict)
    scans: tuple[ScanProvenance, ...] = ()
    stages: tuple[Step, ...] = ()

    def then(self, step: Step) -> "Provenance":
        """This record with a study-level ``step`` appended."""
        return replace(self, stages=self.stages + (step,))

    def with_scans(self, scans) -> "Provenance":
        return replace(self, scans=tuple(sorted(scans, key=lambda s: s.scan)))

    def stage(self, name: str) -> Step | None:
        for s in reversed(self.stages):
            if s.name == name:
                return s
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"software": self.software, "settings": self.settings, "settings_hash": self.settings_hash,
                "inputs": self.inputs, "scans": [s.to_dict() for s in self.scans],
                "stages": [s.to_dict() for s in self.stages]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Provenance":
        return cls(software=dict(d.get("software") or {}), settings=dict(d.get("settings") or {}),
                   settings_hash=str(d.get("settings_hash", "")), inputs=dict(d.get("inputs") or {}),
                   scans=tuple(ScanProvenance.from_dict(s) for s in d.get("scans", ())),
                   stages=tuple(Step.from_dict(s) for s in d.get("stages", ())))
