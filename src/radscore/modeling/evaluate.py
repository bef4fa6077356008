"""Performance of a model: nested cross-validation around the whole Pipeline (A7) and every
A10 metric of one model on one cohort (:func:`cohort_metrics`).

The outer folds hold patients out of *everything* the estimator does in ``fit`` (ICC is
computed before, on the training cohort, and does not use the outcome); the inner CV of
:class:`~radscore.modeling.radscore.RadscoreClassifier` tunes the model and refits the
selection inside each outer training fold.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from radscore.errors import DataError
from radscore.stats import calibration, hosmer_lemeshow, pr_curve, roc_auc_ci, threshold_metrics
from radscore.stats._base import Result

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class NestedCvResult(Result):
    """Nested-CV AUC of an estimator on one cohort.

    Attributes
    ----------
    auc : float
        Mean of the outer-fold AUCs (the estimate to report).
    auc_sd : float
        Standard deviation of the outer-fold AUCs.
    pooled_auc : float
        AUC of all out-of-fold scores pooled (scores of different fold models; shown for
        completeness, slightly pessimistic when fold models are scaled differently).
    outer_folds, seed, n : int
    fold_auc : tuple of float
    scores : DataFrame
        Out-of-fold score per patient: ``patient_id``, ``fold``, ``y``, ``score``.
    models : tuple of estimators
        The fitted model of each outer fold (``models[fold]`` never saw that fold's
        patients): scores a held-out patient's other scans (follow-ups, further lesions).
    """

    auc: float
    auc_sd: float
    pooled_auc: float
    outer_folds: int
    seed: int
    n: int
    fold_auc: tuple
    scores: pd.DataFrame = dataclasses.field(repr=False)
    models: tuple = dataclasses.field(default=(), repr=False, compare=False)

    def out_of_fold(self, X: pd.DataFrame) -> np.ndarray:
        """Score the rows of ``X`` (indexed by patient ID) with the fold model that held each out.

        Rows of patients outside the nested CV get NaN.
        """
        fold = self.scores.drop_duplicates("patient_id").set_index("patient_id")["fold"]
        f = pd.Series(X.index.astype(str), index=X.index).map(
            fold.set_axis(fold.index.astype(str))).to_numpy()
        out = np.full(len(X), np.nan)
        for k, model in enumerate(self.models):
            rows = f == k
            if rows.any():
                out[rows] = _score(model, X.iloc[np.flatnonzero(rows)])
        return out


def _score(model, X):
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(X), dtype=float)
    return np.asarray(model.predict_proba(X)[:, 1], dtype=float)


def nested_cv_auc(estimator, X: pd.DataFrame, y, outer_folds: int = 5, seed: int = 0) -> NestedCvResult:
    """AUC of ``estimator`` by stratified outer CV, the estimator refitted in every fold.

    Parameters
    ----------
    estimator : classifier
        Unfitted estimator whose ``fit`` contains all data-driven steps (selection, tuning).
    X : DataFrame
        Patients x features (index = patient IDs).
    y : array-like of 0/1
    outer_folds : int
        Outer stratified folds (reduced to the minority class size when smaller).
    seed : int
        Seed of the outer split.

    Returns
    -------
    NestedCvResult

    References
    ----------
    Varma S, Simon R. BMC Bioinformatics 2006;7:91 (bias of CV after tuning).
    Ambroise C, McLachlan GJ. PNAS 2002;99:6562-6566 (selection bias).
    """
    yy = np.asarray(y).astype(int)
    if len(yy) != len(X):
        raise DataError(f"y has {len(yy)} values for {len(X)} patients.")
    minority = int(np.bincount(yy, minlength=2).min())
    if minority < 2:
        raise DataError("nested CV needs >= 2 patients in each outcome class.", fix="add patients.")
    k = min(outer_folds, minority)
    cv = StratifiedKFold(k, shuffle=True, random_state=seed)
    ids = np.asarray(X.index if isinstance(X, pd.DataFrame) else np.arange(len(yy)))
    frames, fold_auc, models = [], [], []
    for fold, (tr, te) in enumerate(cv.split(np.zeros(len(yy)), yy)):
        model = clone(estimator).fit(X.iloc[tr] if isinstance(X, pd.DataFrame) else X[tr], yy[tr])
        models.append(model)
        s = _score(model, X.iloc[te] if isinstance(X, pd.DataFrame) else X[te])
        fold_auc.append(float(roc_auc_score(yy[te], s)) if len(set(yy[te])) == 2 else np.nan)
        frames.append(pd.DataFrame({"patient_id": ids[te], "fold": fold, "y": yy[te], "score": s}))
        logger.debug("nested CV fold %d/%d: AUC %.3f", fold + 1, k, fold_auc[-1])
    scores = pd.concat(frames, ignore_index=True)
    fa = np.asarray(fold_auc)
    return NestedCvResult(auc=float(np.nanmean(fa)), auc_sd=float(np.nanstd(fa)),
                          pooled_auc=float(roc_auc_score(scores.y, scores.score)), outer_folds=k, seed=seed,
                          n=len(yy), fold_auc=tuple(fold_auc), scores=scores,
                          models=tuple(models))


def _sigmoid(s) -> np.ndarray:
    return expit(np.asarray(s, float))


def _num(v) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _try(notes: list[str], what: str, fn):
    """The statistic, or None with the reason in ``notes`` (e.g. too few patients for a CI)."""
    try:
        return fn()
    except DataError as exc:
        notes.append(f"{what}: {exc.problem}")
        return None


def cohort_metrics(y: np.ndarray, score: np.ndarray, cutoff: float, seed: int, *,
                   probability: np.ndarray | None = None) -> dict:
    """Every A10 metric of one model on one cohort, at the training ``cutoff``.

    Parameters
    ----------
    y : ndarray of 0/1
    score : ndarray
        The model's score, higher = class 1: a Radscore (log-odds), or a probability.
        Patients with a non-finite score are left out.
    cutoff : float
        Fixed on training; a patient is predicted positive when ``score > cutoff`` (the
        models' "high" group).
    seed : int
        Seed of the bootstrap CIs and permutation p-values.
    probability : ndarray, optional
        P(class 1) for calibration and Hosmer–Lemeshow; default the logistic of ``score``
        (right for a Radscore). A classifier that scores with its probability passes it as
        both ``score`` and ``probability``.

    Returns
    -------
    dict
        ``n``, ``n_positive``, ``auc`` (None with one outcome class) with DeLong CI and p,
        PR AUC with bootstrap CI and permutation p, ``hosmer_lemeshow``, Brier and logistic
        calibration intercept/slope, ``at_cutoff.<metric>`` {estimate, ci_low, ci_high},
        ``confusion`` and ``notes`` (each statistic that could not be computed, with why).
    """
    score = np.asarray(score, dtype=float)
    prob = _sigmoid(score) if probability is None else np.asarray(probability, dtype=float)
    ok = np.isfinite(score) & np.isfinite(prob)
    y, score, prob = np.asarray(y)[ok], score[ok], prob[ok]
    out: dict = {"n": int(y.size), "n_positive": int(y.sum())}
    if len(np.unique(y)) < 2:
        return {**out, "auc": None, "notes": ["one outcome class: no discrimination metric"]}
    notes: list[str] = []
    roc = _try(notes, "DeLong CI", lambda: roc_auc_ci(y, score))
    if roc is not None:
        out.update(auc=roc.auc, auc_ci_low=roc.ci_low, auc_ci_high=roc.ci_high, auc_p_value=roc.p_value)
    else:
        out["auc"] = float(roc_auc_score(y, score))
    pr = pr_curve(y, score, random_state=seed)
    out.update(pr_auc=pr.average_precision, pr_auc_ci_low=pr.ci_low, pr_auc_ci_high=pr.ci_high,
               pr_auc_p_value=pr.p_value, prevalence=pr.prevalence)
    hl = _try(notes, "Hosmer-Lemeshow", lambda: hosmer_lemeshow(y, prob))
    if hl is not None:
        out["hosmer_lemeshow"] = {"statistic": hl.statistic, "df": hl.df, "p_value": hl.p_value, "groups": hl.groups}
    cal = _try(notes, "calibration", lambda: calibration(y, prob))
    if cal is not None:
        out.update(brier=cal.brier, calibration_intercept=cal.intercept, calibration_slope=_num(cal.slope))
        if cal.note:
            notes.append(f"calibration slope: {cal.note}")
    # threshold_metrics predicts positive at score >= cutoff; the models' high group is score > cutoff
    thr = threshold_metrics(y, score, float(np.nextafter(cutoff, np.inf)), random_state=seed)
    out["at_cutoff"] = {r.metric: {"estimate": _num(r.estimate), "ci_low": _num(r.ci_low), "ci_high": _num(r.ci_high)}
                        for r in thr.table.itertuples()}
    out["confusion"] = {"tp": thr.tp, "fp": thr.fp, "tn": thr.tn, "fn": thr.fn}
    if notes:
        out["notes"] = notes
    return out
