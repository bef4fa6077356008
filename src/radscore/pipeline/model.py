"""Modeling stage: seeded split, the Radscore models on training data, scores for every scan."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from radscore.catalog import MODEL_MODALITIES, MODEL_TITLES, modalities_text
from radscore.config import StudyConfig
from radscore.errors import DataError, ManifestError
from radscore.features.deep import DeepEncoders
from radscore.io.scan import ID_COLUMNS
from radscore.modeling.patients import patient_rows
from radscore.runtime.executor import default_workers


log = logging.getLogger(__name__)


def outcome_table(manifest: pd.DataFrame, config: StudyConfig) -> pd.Series:
    """Per-patient 0/1 endpoint from the baseline rows of the manifest; float with NaN where
    patients have none (an mCRC study's response cohort has no TME phenotype)."""
    col = config.endpoint.column
    base = manifest[manifest["timepoint"] == "baseline"].drop_duplicates("patient_id")
    y = pd.to_numeric(base.set_index("patient_id")[col], errors="coerce")
    return y.astype(int) if y.notna().all() else y


def make_split(config: StudyConfig, manifest: pd.DataFrame) -> pd.Series:
    """The cohort of every baseline patient in the manifest.

    Without a ``cohort`` column: a seeded training/testing split (PROTOCOL A1). With one, the
    manifest's cohorts are used as given: ``training`` and ``testing`` as named (no re-split)
    and every other name (``external_tcia``, ...) an external cohort, evaluated like testing
    with the training cutoff. Made before extraction from the manifest alone, so a patient
    whose scan fails keeps its cohort and does not shift anyone else's.
    """
    from radscore.modeling.split import TRAINING, split_cohort

    y = outcome_table(manifest, config)
    if "cohort" in manifest.columns:
        base = manifest[manifest["timepoint"] == "baseline"].drop_duplicates("patient_id").set_index("patient_id")
        given = base["cohort"].astype("string").str.strip()
        empty = given.index[given.isna() | (given == "")]
        if len(empty):
            raise ManifestError(f"the manifest's 'cohort' column is empty for patients {list(empty[:5])}.",
                                fix="name every patient's cohort (training, testing or an external cohort's "
                                    "name), or drop the column to split at random.")
        counts = y.reindex(given.index[given == TRAINING]).value_counts()
        if len(counts) < 2 or counts.min() < 4:
            raise DataError(f"the manifest's training cohort has class counts {counts.to_dict()}; at least 4 "
                            "patients of each class are needed to train.",
                            fix="name more patients 'training' in the cohort column.")
        cohorts = given.astype(str).rename("cohort")
        cohorts.index = cohorts.index.astype(str)
        log.info("cohorts from the manifest: %s", cohorts.value_counts().to_dict())
        return cohorts.sort_index(kind="mergesort")
    counts = y.value_counts()
    if len(counts) < 2 or counts.min() < 4:
        raise DataError(
            f"the endpoint '{config.endpoint.column}' has class counts {counts.to_dict()}; at least 4 patients of "
            "each class are needed to train and test.",
            fix="check the outcome coding (1 = positive class) or add patients.")
    patients = pd.DataFrame({"patient_id": y.index, config.endpoint.column: y.to_numpy()})
    return split_cohort(patients, config.endpoint.column, config.split.test_fraction, config.seed,
                        config.split.stratify)


def model_plan(config: StudyConfig) -> tuple[list[str], dict[str, str]]:
    """The configured Radscore models the study's images allow, and why each other one is skipped.

    The PET/CT (fused) and COMB Radscores need both PET and CT (``catalog.MODEL_MODALITIES``);
    a PET-only study runs the PET-Radscore, a CT-only study the CT-Radscore.
    """
    have = config.scan.modalities
    run, skipped = [], {}
    for name in config.model.models:
        lacking = [m for m in MODEL_MODALITIES[name] if m not in have]
        if lacking:
            skipped[name] = (f"{MODEL_TITLES[name]} needs {modalities_text(MODEL_MODALITIES[name])}; "
                             f"the study has no {modalities_text(lacking, ' or ')} (modalities: {', '.join(have)})")
        else:
            run.append(name)
    if not run:
        raise DataError(f"none of the configured models {list(config.model.models)} can run on "
                        f"{modalities_text(have)} alone.",
                        fix="add the single-image model (pet or ct) to model.models in study.yaml.")
    return run, skipped


def run_model(config: StudyConfig, features: pd.DataFrame, manifest: pd.DataFrame, models_dir: Path, *,
              cohorts: pd.Series, keep: list[str] | None = None, workers: int | None = None,
              deep: DeepEncoders | None = None):
    """Fit each configured Radscore on the training cohort (with nested CV) and score every scan.

    Parameters
    ----------
    cohorts : Series
        index patient_id, "training"/"testing" (:func:`make_split`).
    keep : list of str, optional
        Features allowed into the models (the ICC-robust ones); all when None.
    deep : DeepEncoders, optional
        The encoders that made the table's ``deep_*`` columns (stored with a model that selects one).

    Returns
    -------
    scores : DataFrame
        patient_id, timepoint, lesion_id, site, cohort, model, radscore, radscore_oof,
        probability, group — for every scan (follow-ups and further lesions scored with the
        baseline model). ``radscore_oof`` is the honest score: for a training patient, from
        the nested-CV fold model that never saw the patient (NaN when nested CV is off or
        impossible); for every other patient, the Radscore itself (the final model never saw
        them either).
    training : TrainingResult
        Fitted models, per-model summary (training, CV, nested-CV and test AUC), nested CV
        and the stage's typed record.
    """
    from radscore.modeling.train import train_radscores

    if features.empty:
        raise DataError("no scan produced features; see the QC table for why each was excluded.")
    y_all = outcome_table(manifest, config)
    base = patient_rows(features).set_index("patient_id")
    feat_cols = [c for c in features.columns if c not in ID_COLUMNS]
    if keep is not None:
        allowed = set(keep)
        feat_cols = [c for c in feat_cols if c in allowed]
    y_train = y_all.reindex(cohorts.index[cohorts == "training"]).dropna()
    if y_train.nunique() < 2:
        raise DataError("the training cohort holds one outcome class only.",
                        fix="use stratify: true under split, or add patients of the other class.")
    models, skipped = model_plan(config)
    for name, why in skipped.items():
        log.info("%s skipped: %s", name, why)
    training = train_radscores(base[feat_cols], y_all.reindex(base.index), cohorts.reindex(base.index),
                               selection=config.selection, model=config.model.model_copy(update={"models": models}),
                               seed=config.seed,
                               models_dir=models_dir, scan=config.scan, positive_class=config.endpoint.positive_name,
                               n_jobs=workers or default_workers(), deep=deep)
    all_rows = features.copy()
    all_rows["cohort"] = all_rows["patient_id"].map(cohorts).fillna("unassigned")
    frames = []
    in_training = (all_rows["cohort"] == "training").to_numpy()
    for name, clf in training.models.items():
        X = all_rows[list(clf.feature_names_in_)]
        rs = clf.decision_function(X)
        oof = rs.copy()
        nested = training.nested.get(name)
        oof[in_training] = (nested.out_of_fold(X[in_training].set_axis(all_rows["patient_id"].to_numpy()[in_training]))
                            if nested is not None else np.nan)
        frames.append(pd.DataFrame({
            **{c: all_rows[c].values for c in ID_COLUMNS}, "cohort": all_rows["cohort"].values, "model": name,
            "radscore": rs, "radscore_oof": oof, "probability": expit(rs),
            "group": np.where(rs > clf.cutoff_, "high", "low"),
        }))
    return pd.concat(frames, ignore_index=True), training
