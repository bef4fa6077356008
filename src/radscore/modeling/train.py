"""Train the study's Radscores in one call: fit, nested CV, scores, artifacts, the stage's record.

This is the thin orchestration the study runner calls; the science lives in
:mod:`radscore.modeling.icc`, :mod:`.radscore`, :mod:`.evaluate` and :mod:`.artifact`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from radscore.config import ModelSettings, ScanSettings, SelectionSettings
from radscore.errors import DataError
from radscore.features.deep import DeepEncoders
from radscore.modeling.artifact import save_model
from radscore.modeling.evaluate import NestedCvResult, nested_cv_auc
from radscore.modeling.radscore import RadscoreClassifier, feature_subset
from radscore.modeling.split import TESTING, TRAINING

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """The trained Radscores of a study.

    Attributes
    ----------
    summary : DataFrame
        One row per model: ``model``, ``n_features``, ``n_selected``,
        ``training_auc``, ``cv_auc`` (inner grid search, optimistic), ``nested_cv_auc``,
        ``nested_cv_sd``, ``test_auc``, ``cutoff``, ``fit_seconds``.
    scores : DataFrame
        One row per patient and model: ``patient_id``, ``model``, ``cohort``, ``y``,
        ``radscore``, ``probability``, ``group``.
    models : dict
        Name -> fitted :class:`RadscoreClassifier`.
    nested : dict
        Name -> :class:`NestedCvResult`.
    record : ModelStageRecord
        What was fitted, for the report and the stage's reuse.
    """

    summary: pd.DataFrame
    scores: pd.DataFrame
    models: dict
    nested: dict
    record: "ModelStageRecord"


@dataclasses.dataclass(frozen=True)
class ModelRecord:
    """What the model stage fitted, for one Radscore: the typed record the report reads.

    Attributes
    ----------
    name : str
        ``pet``, ``ct``, ``petct`` or ``comb``.
    cutoff : float
        On the Radscore, chosen on training data by ``cutoff_method``.
    cutoff_method : str
    cv_auc : float
        Mean AUC of the inner grid search's best point (optimistic).
    nested_cv_auc, nested_cv_sd : float
        Nested-CV AUC on the training cohort (NaN when not run).
    nested_cv_folds : int or None
    n_features, n_selected : int
        Features offered to the model and kept by selection.
    selected : tuple of str
    best_params : dict
        Tuned hyper-parameters (JSON-able values).
    selection_steps : tuple of str
        The selection Pipeline's steps, in order.
    """

    name: str
    cutoff: float
    cutoff_method: str
    cv_auc: float
    nested_cv_auc: float
    nested_cv_sd: float
    nested_cv_folds: int | None
    n_features: int
    n_selected: int
    selected: tuple[str, ...]
    best_params: dict
    selection_steps: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "selected": list(self.selected),
                "selection_steps": list(self.selection_steps)}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelRecord":
        return cls(**{**d, "selected": tuple(d["selected"]), "selection_steps": tuple(d.get("selection_steps", ()))})


@dataclasses.dataclass(frozen=True)
class ModelStageRecord:
    """The model stage of a study: every Radscore's :class:`ModelRecord` and each patient's cohort."""

    models: tuple[ModelRecord, ...]
    cohorts: dict[str, str]

    def model(self, name: str) -> ModelRecord:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def cutoffs(self) -> dict[str, float]:
        return {m.name: m.cutoff for m in self.models}

    def to_dict(self) -> dict:
        return {"models": [m.to_dict() for m in self.models], "cohorts": dict(self.cohorts)}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelStageRecord":
        return cls(models=tuple(ModelRecord.from_dict(m) for m in d["models"]), cohorts=dict(d["cohorts"]))


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    known = np.isfinite(y)
    y, s = y[known], s[known]
    return float(roc_auc_score(y, s)) if len(set(y)) == 2 else float("nan")


def train_radscores(features: pd.DataFrame, outcome: pd.Series, cohort: pd.Series, *,
                    selection: SelectionSettings, model: ModelSettings, seed: int,
                    models_dir: str | Path | None = None, scan: ScanSettings | None = None,
                    positive_class: str | None = None, n_jobs: int = 1,
                    deep: DeepEncoders | None = None) -> TrainingResult:
    """Fit every configured Radscore on the training cohort and score all patients.

    Parameters
    ----------
    features : DataFrame
        Patients x features, index ``patient_id``, columns ``pet_*``, ``ct_*``, ``petct_*``
        and ``deep_*`` (only the features allowed in: the robustness stage has already dropped
        the others); each model takes its :func:`feature_subset`.
    outcome : Series
        0/1 per patient (index ``patient_id``), 1 = positive class.
    cohort : Series
        ``"training"`` / ``"testing"`` (or other cohort names) per patient, from
        :func:`~radscore.modeling.split.split_cohort`; only ``training`` is used to fit.
    selection, model : settings of the selection Pipeline and of the models
    seed : int
    models_dir : path, optional
        Writes one artifact folder per model (``models_dir/<model>``).
    scan : ScanSettings, optional
        How the features were made; stored in each artifact so ``predict`` makes them the same way.
    positive_class : str, optional
        Name of class 1, stored in each artifact.
    n_jobs : int
        Parallel CV folds.
    deep : DeepEncoders, optional
        The encoders that made the ``deep_*`` columns; stored in each artifact whose model
        selected a deep feature, so ``predict`` computes them the same way.

    Returns
    -------
    TrainingResult
    """
    ids = features.index.astype(str)
    features = features.set_axis(ids, axis=0)
    y = pd.Series(np.asarray(outcome.reindex(outcome.index.astype(str)).reindex(ids)), index=ids)
    coh = cohort.set_axis(cohort.index.astype(str)).reindex(ids)
    train = (coh == TRAINING).to_numpy()
    if coh.isna().any() or y[train].isna().any():
        bad = list(ids[(coh.isna() | (y.isna() & train)).to_numpy()][:5])
        raise DataError(f"patients without cohort, or training patients without outcome: {bad}.",
                        fix="pass one per feature-table row.")
    if train.sum() < 4:
        raise DataError(f"only {int(train.sum())} training patients.", fix="check the split.")
    # outside training a patient may lack the outcome (scored, not evaluated): NaN, never a class
    yv = y.to_numpy(dtype=float)
    yt = yv[train].astype(int)
    rows, frames, fitted, nested, records = [], [], {}, {}, []
    for name in model.models:
        cols = feature_subset(features.columns, name)
        if not cols:
            raise DataError(f"no '{name}' features in the table.", fix="extract them or drop the model in model.models.")
        X = features[cols]
        est = RadscoreClassifier(selection=selection, grid=model.grid, cv_folds=model.cv_folds, cutoff=model.cutoff,
                                 random_state=seed, n_jobs=n_jobs, model=model.type)
        t0 = time.perf_counter()
        nres: NestedCvResult | None = None
        if model.nested_cv_folds:
            try:
                nres = nested_cv_auc(est, X[train], yt, outer_folds=model.nested_cv_folds, seed=seed)
                nested[name] = nres
            except DataError as exc:  # too few patients per outer fold: report, still fit the model
                logger.warning("%s-Radscore: nested CV not possible (%s)", name, exc.problem)
        clf = est.fit(X[train], yt)
        secs = time.perf_counter() - t0
        fitted[name] = clf
        r = clf.decision_function(X)
        frames.append(pd.DataFrame({"patient_id": ids, "model": name, "cohort": coh.to_numpy(), "y": yv, "radscore": r,
                                    "probability": clf.predict_proba(X)[:, 1],
                                    "group": np.where(r > clf.cutoff_, "high", "low")}))
        test = (coh == TESTING).to_numpy()
        row = {"model": name, "n_features": len(cols), "n_selected": len(clf.selected_features_),
               "training_auc": _auc(yv[train], r[train]), "cv_auc": clf.best_score_,
               "nested_cv_auc": nres.auc if nres else np.nan, "nested_cv_sd": nres.auc_sd if nres else np.nan,
               "test_auc": _auc(yv[test], r[test]) if test.any() else np.nan, "cutoff": clf.cutoff_,
               "fit_seconds": secs}
        rows.append(row)
        records.append(ModelRecord(
            name=name, cutoff=float(clf.cutoff_), cutoff_method=model.cutoff, cv_auc=float(clf.best_score_),
            nested_cv_auc=float(row["nested_cv_auc"]), nested_cv_sd=float(row["nested_cv_sd"]),
            nested_cv_folds=model.nested_cv_folds if nres else None, n_features=len(cols),
            n_selected=len(clf.selected_features_), selected=tuple(clf.selected_features_),
            best_params={k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                         for k, v in clf.best_params_.items()},
            selection_steps=tuple(n for n, _ in clf.pipeline_.steps[1:-1])))
        logger.info("%s-Radscore: train AUC %.3f, nested CV %.3f, test %.3f (%.0f s)", name, row["training_auc"],
                    row["nested_cv_auc"], row["test_auc"], secs)
        if models_dir is not None:
            save_model(clf, Path(models_dir) / name, scan=scan if scan is not None else ScanSettings(),
                       training={"selection": selection.model_dump(mode="json"),
                                 "model": model.model_dump(mode="json"), "seed": seed},
                       training_summary=pd.DataFrame([{k: v for k, v in row.items() if k != "fit_seconds"}]),
                       name=name, positive_class=positive_class, deep=deep)
    return TrainingResult(summary=pd.DataFrame(rows), scores=pd.concat(frames, ignore_index=True), models=fitted,
                          nested=nested, record=ModelStageRecord(tuple(records), {str(k): str(v) for k, v in
                                                                                  coh.items()}))
