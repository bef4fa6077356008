"""Small typed records of a two-scan run, as the pipeline hands them to the report.

Scan P1 is a DICOM study (CT and PET series, SUVbw from the tags, an RTSTRUCT ROI, rigid
registration); scan P2 is NIfTI files (PET already in SUV, a mask image, no registration)
whose ring was too small and left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radscore.config import StudyConfig
from radscore.modeling.train import ModelRecord, ModelStageRecord
from radscore.report.figures import plot_roc
from radscore.report.sections import Section
from radscore.runtime.provenance import Provenance, ScanProvenance, Step

PREPROCESS = StudyConfig().preprocess.model_dump(mode="json")


def _grid(size, spacing, origin=(0.0, 0.0, 0.0)) -> dict:
    return {"size": list(size), "spacing_mm": list(spacing), "origin_mm": list(origin)}


def _common_steps(size, volumes: dict, kept: list[str], n_features: int) -> tuple[Step, ...]:
    """Resampling, fusion, VOIs and features: the same settings for every scan."""
    return (
        Step("resample", settings=PREPROCESS,
             result={"grid": _grid(size, (1.0, 1.0, 1.0)), "grid_alignment": "centre-aligned (IBSI)",
                     "image_interpolator": PREPROCESS["image_interpolator"],
                     "mask_interpolation": PREPROCESS["mask_interpolation"], "crop": None}),
        Step("fuse", settings={"method": "wavelet"},
             result={"method": "wavelet", "wavelet": "db2", "level": 1, "rule": "mean approximation, max-abs details"}),
        Step("vois", settings={"core_mm": 3.0, "ring_mm": 5.0},
             result={"voxels": {k: int(v * 1000) for k, v in volumes.items()}, "volume_ml": volumes, "kept": kept}),
        Step("features", settings={"bin_width_ct": 25.0}, inputs={"images": "ab12"},
             result={"n_features": n_features, "fingerprint": "f00d", "engine_version": "radscore-engine 2"}),
    )


def dicom_scan() -> ScanProvenance:
    """P1: DICOM CT and PET, SUVbw from the tags."""
    suv_record = {"method": "bw", "factor": 1.9e-4, "factor_min": 1.9e-4, "factor_max": 2.1e-4, "units": "BQML",
                  "decay_correction": "START",
                  "tags_used": {"weight_kg": "70 from PatientWeight (0010,1030)",
                                "dose_bq": "3.7e+08 from RadionuclideTotalDose (0018,1074)"}}
    steps = (
        Step("load_ct", inputs={"ct": "c7"}, result={"source": "DICOM series", "units": "HU",
                                                     "grid": _grid((512, 512, 80), (0.98, 0.98, 3.0))}),
        Step("load_pet", settings={"suv_method": "bw"}, inputs={"pet": "e1"},
             result={"source": "DICOM series", "units": "SUV", "grid": _grid((200, 200, 80), (4.0, 4.0, 3.0)),
                     "suv": suv_record}),
        Step("load_mask", inputs={"mask": "9a"},
             result={"source": "RTSTRUCT", "roi": "GTV", "voxels": 5200,
                     "grid": _grid((512, 512, 80), (0.98, 0.98, 3.0))}),
        Step("check_mask", result={"resampled_onto_ct": False, "overlap": 1.0}),
        Step("register", settings={"registration": "rigid"},
             result={"method": "rigid", "metric": "mattes_mutual_information", "final_metric": -0.61,
                     "parameters": [0.0, 0.0, 0.01, 1.2, -0.4, 0.0]}),
    ) + _common_steps((60, 60, 40), {"tumor": 14.2, "core": 6.1, "ring": 9.8, "tumor_ring": 24.0},
                      ["core", "ring", "tumor", "tumor_ring"], 428)
    return ScanProvenance("P1/baseline/1", steps)


def nifti_scan() -> ScanProvenance:
    """P2: image files, PET given in SUV, its ring left out (one warning)."""
    steps = (
        Step("load_ct", inputs={"ct": "d2"}, result={"source": "image file", "units": "HU",
                                                     "grid": _grid((256, 256, 60), (1.5, 1.5, 2.0))}),
        Step("load_pet", inputs={"pet": "f3"}, result={"source": "image file", "units": "SUV",
                                                       "grid": _grid((128, 128, 60), (3.0, 3.0, 2.0)), "suv": None}),
        Step("load_mask", inputs={"mask": "0b"}, result={"source": "image file", "roi": None, "voxels": 900,
                                                         "grid": _grid((256, 256, 60), (1.5, 1.5, 2.0))}),
        Step("check_mask", result={"resampled_onto_ct": True, "overlap": 1.0},
             warnings=("the mask was resampled onto the CT grid.",)),
        Step("register", result={"method": "none"}),
    ) + _common_steps((30, 30, 20), {"tumor": 4.05, "core": 1.2, "ring": 0.004, "tumor_ring": 5.0},
                      ["core", "tumor", "tumor_ring"], 321)
    return ScanProvenance("P2/baseline/1", steps)


def make_provenance(*scans: ScanProvenance) -> Provenance:
    config = StudyConfig()
    prov = Provenance(software={"python": "3.12.3", "radscore": "9.9", "SimpleITK": "2.4.0",
                                "pyradiomics-bhklab": "3.1.4"},
                      settings=config.model_dump(mode="json"), settings_hash="0123456789abcdef",
                      inputs={"manifest": "aa11"})
    prov = prov.then(Step("split", settings={"test_fraction": 0.3, "stratify": True, "seed": 42},
                          result={"testing": 1, "training": 2}))
    prov = prov.then(Step("robustness", settings=config.robustness.model_dump(mode="json"),
                          result={"source": "perturbation", "n_patients": 2, "skipped": None, "n_features": 749,
                                  "n_kept": 612}))
    return prov.with_scans(scans or (nifti_scan(), dicom_scan()))


def make_models() -> ModelStageRecord:
    comb = ModelRecord(name="comb", cutoff=0.25, cutoff_method="youden", cv_auc=0.71, nested_cv_auc=0.68,
                       nested_cv_sd=0.05, nested_cv_folds=5, n_features=749, n_selected=2,
                       selected=("pet_tumor_a", "ct_ring_b"),
                       best_params={"max_depth": 2, "n_estimators": 50, "learning_rate": 0.1},
                       selection_steps=("constant", "univariate", "deduplicate", "lasso"))
    pet = ModelRecord(name="pet", cutoff=-0.1, cutoff_method="youden", cv_auc=0.66, nested_cv_auc=float("nan"),
                      nested_cv_sd=float("nan"), nested_cv_folds=None, n_features=214, n_selected=1,
                      selected=("pet_tumor_a",),
                      best_params={"max_depth": 3, "n_estimators": 150, "learning_rate": 0.05},
                      selection_steps=("constant", "univariate", "deduplicate", "lasso"))
    return ModelStageRecord(models=(pet, comb), cohorts={"P1": "training", "P2": "testing", "P3": "training"})


def make_sections() -> list[Section]:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(20), np.ones(20)]
    fig = plot_roc(y, y + rng.normal(0, 0.8, 40)).figure
    auc = pd.DataFrame({"model": ["COMB"], "AUC": [0.8], "CI low": [0.7], "CI high": [0.9]})
    return [Section("discrimination", "Discrimination", "First paragraph.\n\nSecond <b>paragraph</b>.",
                    tables={"auc": auc}, figures={"roc": fig}),
            Section("tps", "TPS", skipped="no tps column")]


@pytest.fixture
def config() -> StudyConfig:
    return StudyConfig()


@pytest.fixture
def provenance() -> Provenance:
    return make_provenance()


@pytest.fixture
def models() -> ModelStageRecord:
    return make_models()


@pytest.fixture
def new_sections():
    """The factory itself, for a test that writes two reports."""
    return make_sections


@pytest.fixture
def sections() -> list[Section]:
    """Fresh figures for every test (a figure is drawn into the report it is given to)."""
    return make_sections()
