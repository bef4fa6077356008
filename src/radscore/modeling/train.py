"""Train the study's Radscores in one call: ICC filter, fit, nested CV, scores, artifacts.

This is the thin orchestration the study runner calls; the science lives in
:mod:`radscore.modeling.icc`, :mod:`.radscore`, :mod:`.evaluate` and :mod:`.artifact`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from radscore.config import StudyConfig
from radscore.errors import DataError
from radscore.modeling.artifact import save_model
from radscore.modeling.evaluate import NestedCvResult, nested_cv_auc
from radscore.modeling.icc import IccFilter
from radscore.modeling.radscore import RadscoreClassifier, feature_subset
from radscore.modeling.split import TESTING, TRAINING

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """The trained Radscores of a study.

    Attributes
    ----------
    summary : DataFrame
        One row per model: ``model``, ``n_features``, ``n_after_icc``, ``n_selected``,
        ``training_auc``, ``cv_auc`` (inner grid search, optimistic), ``nested_cv_auc``,
        ``nested_cv_sd``, ``test_auc``, ``cutoff``, ``fit_seconds``.
    scores : DataFrame
        One row per patient and model: ``patient_id``, ``model``, ``cohort``, ``y``,
        ``radscore``, ``probability``, ``group``.
    models : dict
        Name -> fitted :class:`RadscoreClassifier`.
    nested : dict
        Name -> :class:`NestedCvResult`.
    icc : DataFrame or None
        Per-feature ICC table (``feature``, ``icc``, ``kept``) when repeated tables were given.
    """

    summary: pd.DataFrame
    scores: pd.DataFrame
    models: dict
    nested: dict
    icc: pd.DataFrame | None = None


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    return float(roc_auc_score(y, s)) if len(set(y)) == 2 else float("nan")


def train_radscores(features: pd.DataFrame, outcome: pd.Series, cohort: pd.Series, config: StudyConfig, *,
                    icc_tables: Sequence[pd.DataFrame] | None = None, models_dir: str | Path | None = None,
                    n_jobs: int = 1) -> TrainingResult:
    """Fit every configured Radscore on the training cohort and score all patients.

    Parameters
    ----------
    features : DataFrame
        Patients x features, index ``patient_id``, columns ``pet_*``, ``ct_*``, ``petct_*``.
    outcome : Series
        0/1 per patient (index ``patient_id``), 1 = positive class.
    cohort : Series
        ``"training"`` / ``"testing"`` (or other cohort names) per patient, from
        :func:`~radscore.modeling.split.split_cohort`; only ``training`` is used to fit.
    config : StudyConfig
        Uses ``selection``, ``model`` and ``seed``.
    icc_tables : sequence of DataFrame, optional
        Repeated feature tables (second segmentation, or original + perturbed masks);
        features with ICC below ``selection.icc_threshold`` on the training patients are
        dropped before any model sees them.
    models_dir : path, optional
        Writes one artifact folder per model (``models_dir/<model>``).
    n_jobs : int
        Parallel CV folds.

    Returns
    -------
    TrainingResult
    """
    ids = features.index.astype(str)
    features = features.set_axis(ids, axis=0)
    y = pd.Series(np.asarray(outcome.reindex(outcome.index.astype(str)).reindex(ids)), index=ids)
    coh = cohort.set_axis(cohort.index.astype(str)).reindex(ids)
    if coh.isna().any() or y.isna().any():
        bad = list(ids[(coh.isna() | y.isna()).to_numpy()][:5])
        raise DataError(f"patients without cohort or outcome: {bad}.", fix="pass one per feature-table row.")
    train = (coh == TRAINING).to_numpy()
    if train.sum() < 4:
        raise DataError(f"only {int(train.sum())} training patients.", fix="check the split.")
    icc_table = None
    if icc_tables:
        filt = IccFilter(threshold=config.selection.icc_threshold, kind=config.selection.icc_type)
        filt.fit([t.set_axis(t.index.astype(str), axis=0) for t in icc_tables], patients=list(ids[train]))
        icc_table = filt.summary
        kept = set(filt.kept_features_)
        # Features without a repeated measurement cannot be judged: they are kept only when
        # the repeated tables do not cover them at all (e.g. clinical columns).
        covered = set(filt.icc_.index)
        features = features.loc[:, [c for c in features.columns if c in kept or c not in covered]]
    yv = y.to_numpy().astype(int)
    rows, frames, fitted, nested = [], [], {}, {}
    for name in config.model.models:
        cols = feature_subset(features.columns, name)
        if not cols:
            raise DataError(f"no '{name}' features in the table.", fix="extract them or drop the model in model.models.")
        X = features[cols]
        est = RadscoreClassifier(selection=config.selection, grid=config.model.grid, cv_folds=config.model.cv_folds,
                                 cutoff=config.model.cutoff, random_state=config.seed, n_jobs=n_jobs)
        t0 = time.perf_counter()
        nres: NestedCvResult | None = None
        if config.model.nested_cv_folds:
            try:
                nres = nested_cv_auc(est, X[train], yv[train], outer_folds=config.model.nested_cv_folds,
                                     seed=config.seed)
                nested[name] = nres
            except DataError as exc:  # too few patients per outer fold: report, still fit the model
                logger.warning("%s-Radscore: nested CV not possible (%s)", name, exc.problem)
        model = est.fit(X[train], yv[train])
        secs = time.perf_counter() - t0
        fitted[name] = model
        r = model.decision_function(X)
        frames.append(pd.DataFrame({"patient_id": ids, "model": name, "cohort": coh.to_numpy(), "y": yv, "radscore": r,
                                    "probability": model.predict_proba(X)[:, 1],
                                    "group": np.where(r > model.cutoff_, "high", "low")}))
        test = (coh == TESTING).to_numpy()
        row = {"model": name, "n_features": len(cols), "n_after_icc": len(cols), "n_selected": len(model.selected_features_),
               "training_auc": _auc(yv[train], r[train]), "cv_auc": model.best_score_,
               "nested_cv_auc": nres.auc if nres else np.nan, "nested_cv_sd": nres.auc_sd if nres else np.nan,
               "test_auc": _auc(yv[test], r[test]) if test.any() else np.nan, "cutoff": model.cutoff_,
               "fit_seconds": secs}
        if icc_tables:
            row["n_features"] = len(feature_subset(icc_table.feature, name)) or len(cols)
        rows.append(row)
        logger.info("%s-Radscore: train AUC %.3f, nested CV %.3f, test %.3f (%.0f s)", name, row["training_auc"],
                    row["nested_cv_auc"], row["test_auc"], secs)
        if models_dir is not None:
            save_model(model, Path(models_dir) / name, settings=config.to_dict(),
                       training_summary=pd.DataFrame([{k: v for k, v in row.items() if k != "fit_seconds"}]),
                       name=name, positive_class=config.endpoint.positive_name)
    return TrainingResult(summary=pd.DataFrame(rows), scores=pd.concat(frames, ignore_index=True), models=fitted,
                          nested=nested, icc=icc_table)
