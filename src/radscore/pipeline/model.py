"""Modeling stage: seeded split, the Radscore models on training data, scores for every scan."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from radscore.config import StudyConfig
from radscore.errors import DataError
from radscore.pipeline.extract import ID_COLUMNS

log = logging.getLogger(__name__)


def patient_level(features: pd.DataFrame) -> pd.DataFrame:
    """One baseline row per patient: the primary lesion, else the lowest lesion ID."""
    base = features[features["timepoint"] == "baseline"].copy()
    base["_rank"] = np.where(base["site"] == "primary", 0, 1)
    base = base.sort_values(["patient_id", "_rank", "lesion_id"]).drop_duplicates("patient_id")
    return base.drop(columns="_rank").reset_index(drop=True)


def outcome_table(manifest: pd.DataFrame, config: StudyConfig) -> pd.Series:
    """Per-patient 0/1 endpoint from the baseline rows of the manifest."""
    col = config.endpoint.column
    base = manifest[manifest["timepoint"] == "baseline"].drop_duplicates("patient_id")
    return base.set_index("patient_id")[col].astype(int)


def run_model(config: StudyConfig, features: pd.DataFrame, manifest: pd.DataFrame, models_dir: Path, *,
              workers: int | None = None) -> tuple[pd.DataFrame, pd.Series, dict]:
    """Fit each configured Radscore on the training cohort and score every scan.

    Returns
    -------
    scores : DataFrame
        patient_id, timepoint, lesion_id, site, cohort, model, radscore, probability, group.
    cohorts : Series
        index patient_id, "training"/"testing".
    fitted : dict
        model name → fitted :class:`~radscore.modeling.radscore.RadscoreClassifier`.
    """
    from radscore.modeling.artifact import save_model
    from radscore.modeling.radscore import RadscoreClassifier, feature_subset
    from radscore.modeling.split import split_cohort

    if features.empty:
        raise DataError("no scan produced features; see the QC table for why each was excluded.")
    y_all = outcome_table(manifest, config)
    base = patient_level(features)
    base = base[base["patient_id"].isin(y_all.index)]
    patients = pd.DataFrame({"patient_id": base["patient_id"], config.endpoint.column: y_all.loc[base["patient_id"]].values})
    counts = patients[config.endpoint.column].value_counts()
    if len(counts) < 2 or counts.min() < 4:
        raise DataError(
            f"the endpoint '{config.endpoint.column}' has class counts {counts.to_dict()} among patients with "
            "features; at least 4 of each class are needed to train and test.",
            fix="check the outcome coding (1 = positive class) or add patients.")
    cohorts = split_cohort(patients, config.endpoint.column, config.split.test_fraction, config.seed,
                           config.split.stratify)
    train_ids = cohorts.index[cohorts == "training"]
    train = base.set_index("patient_id").loc[train_ids]
    y_train = y_all.loc[train_ids]
    if y_train.nunique() < 2:
        raise DataError(f"the training cohort holds one outcome class only ({y_train.iloc[0]}).",
                        fix="use stratify: true under split, or add patients of the other class.")
    feat_cols = [c for c in features.columns if c not in ID_COLUMNS]
    all_rows = features.copy()
    all_rows["cohort"] = all_rows["patient_id"].map(cohorts).fillna("unassigned")
    score_frames, fitted = [], {}
    for name in config.model.models:
        cols = feature_subset(feat_cols, name)
        if not cols:
            log.warning("model %s: no feature columns, skipped", name)
            continue
        log.info("training %s-Radscore on %d patients x %d features", name, len(train), len(cols))
        clf = RadscoreClassifier(selection=config.selection, grid=config.model.grid, cv_folds=config.model.cv_folds,
                                 cutoff=config.model.cutoff, random_state=config.seed, n_jobs=workers or 1)
        clf.fit(train[cols], y_train.values)
        fitted[name] = clf
        save_model(clf, models_dir / name, settings=config.to_dict(), name=name,
                   positive_class=config.endpoint.positive_name)
        rs = clf.decision_function(all_rows[cols])
        score_frames.append(pd.DataFrame({
            **{c: all_rows[c].values for c in ID_COLUMNS}, "cohort": all_rows["cohort"].values, "model": name,
            "radscore": rs, "probability": 1.0 / (1.0 + np.exp(-rs)),
            "group": np.where(rs > clf.cutoff_, "high", "low"),
        }))
    scores = pd.concat(score_frames, ignore_index=True) if score_frames else pd.DataFrame()
    return scores, cohorts, fitted
