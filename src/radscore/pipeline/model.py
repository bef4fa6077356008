"""Modeling stage: seeded split, the Radscore models on training data, scores for every scan."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from radscore.config import StudyConfig
from radscore.errors import DataError
from radscore.io.scan import ID_COLUMNS
from radscore.modeling.patients import patient_rows

log = logging.getLogger(__name__)


def outcome_table(manifest: pd.DataFrame, config: StudyConfig) -> pd.Series:
    """Per-patient 0/1 endpoint from the baseline rows of the manifest."""
    col = config.endpoint.column
    base = manifest[manifest["timepoint"] == "baseline"].drop_duplicates("patient_id")
    return base.set_index("patient_id")[col].astype(int)


def make_split(config: StudyConfig, manifest: pd.DataFrame) -> pd.Series:
    """Seeded training/testing split of every baseline patient in the manifest.

    Made before extraction from the manifest alone, so a patient whose scan fails keeps
    its cohort and does not shift anyone else's.
    """
    from radscore.modeling.split import split_cohort

    y = outcome_table(manifest, config)
    counts = y.value_counts()
    if len(counts) < 2 or counts.min() < 4:
        raise DataError(
            f"the endpoint '{config.endpoint.column}' has class counts {counts.to_dict()}; at least 4 patients of "
            "each class are needed to train and test.",
            fix="check the outcome coding (1 = positive class) or add patients.")
    patients = pd.DataFrame({"patient_id": y.index, config.endpoint.column: y.to_numpy()})
    return split_cohort(patients, config.endpoint.column, config.split.test_fraction, config.seed,
                        config.split.stratify)


def run_model(config: StudyConfig, features: pd.DataFrame, manifest: pd.DataFrame, models_dir: Path, *,
              cohorts: pd.Series, keep: list[str] | None = None, workers: int | None = None):
    """Fit each configured Radscore on the training cohort (with nested CV) and score every scan.

    Parameters
    ----------
    cohorts : Series
        index patient_id, "training"/"testing" (:func:`make_split`).
    keep : list of str, optional
        Features allowed into the models (the ICC-robust ones); all when None.

    Returns
    -------
    scores : DataFrame
        patient_id, timepoint, lesion_id, site, cohort, model, radscore, probability, group —
        for every scan (follow-ups and further lesions scored with the baseline model).
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
    training = train_radscores(base[feat_cols], y_all.reindex(base.index), cohorts.reindex(base.index),
                               selection=config.selection, model=config.model, seed=config.seed,
                               models_dir=models_dir, scan=config.scan, positive_class=config.endpoint.positive_name,
                               n_jobs=workers or 1)
    all_rows = features.copy()
    all_rows["cohort"] = all_rows["patient_id"].map(cohorts).fillna("unassigned")
    frames = []
    for name, clf in training.models.items():
        rs = clf.decision_function(all_rows[list(clf.feature_names_in_)])
        frames.append(pd.DataFrame({
            **{c: all_rows[c].values for c in ID_COLUMNS}, "cohort": all_rows["cohort"].values, "model": name,
            "radscore": rs, "probability": 1.0 / (1.0 + np.exp(-rs)),
            "group": np.where(rs > clf.cutoff_, "high", "low"),
        }))
    return pd.concat(frames, ignore_index=True), training
