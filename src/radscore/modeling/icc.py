"""Intraclass correlation and the robustness filter (PROTOCOL A6).

Features whose ICC between two segmentations (or between the original and perturbed masks)
is below a threshold (default 0.75) are dropped, computed on training patients only.

The default is ICC(2,1), two-way random effects, absolute agreement, single rater: the
Radscore's cutoff is applied unchanged to new patients, so a *systematic* shift of a
feature between segmentations (e.g. a consistently larger second contour) moves patients
across the cutoff. ICC(3,1) (consistency) ignores such shifts and is offered for studies
that want the seed's looser criterion.

The mean squares are written here, vectorised over thousands of features at once, because
the established implementations (pingouin, R psych) take one long-format table per feature
and would need minutes for 50 000 features; tests check ours against both.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from radscore.errors import DataError
from radscore.stats._base import Result

logger = logging.getLogger(__name__)

KINDS = ("icc1", "icc2", "icc3", "icc1k", "icc2k", "icc3k")


def _mean_squares(R: np.ndarray) -> tuple[np.ndarray, ...]:
    """Two-way ANOVA mean squares of ratings ``R`` shaped (raters k, targets n, features p).

    Returns MSR (targets), MSC (raters), MSE (residual), MSW (within targets).
    """
    k, n = R.shape[0], R.shape[1]
    grand = R.mean(axis=(0, 1))
    row = R.mean(axis=0)  # n x p, per target
    col = R.mean(axis=1)  # k x p, per rater
    sst = ((R - grand) ** 2).sum(axis=(0, 1))
    ssr = k * ((row - grand) ** 2).sum(axis=0)
    ssc = n * ((col - grand) ** 2).sum(axis=0)
    sse = sst - ssr - ssc
    msr = ssr / (n - 1)
    msc = ssc / (k - 1)
    mse = sse / ((n - 1) * (k - 1))
    msw = (sst - ssr) / (n * (k - 1))
    return msr, msc, mse, msw


def _icc_from_ms(kind: str, msr, msc, mse, msw, n: int, k: int):
    """Shrout & Fleiss (1979) Table 2 / McGraw & Wong (1996) estimators."""
    with np.errstate(all="ignore"):
        if kind == "icc1":
            return (msr - msw) / (msr + (k - 1) * msw)
        if kind == "icc2":
            return (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
        if kind == "icc3":
            return (msr - mse) / (msr + (k - 1) * mse)
        if kind == "icc1k":
            return (msr - msw) / msr
        if kind == "icc2k":
            return (msr - mse) / (msr + (msc - mse) / n)
        if kind == "icc3k":
            return (msr - mse) / msr
    raise DataError(f"unknown ICC type {kind!r}.", fix=f"use one of {KINDS}.")


@dataclasses.dataclass(frozen=True)
class IccResult(Result):
    """One ICC with its F test and confidence interval.

    Attributes
    ----------
    kind : str
        ``icc1``, ``icc2`` or ``icc3`` (single rater); ``*k`` for the mean of k raters.
    icc, F, df1, df2, p, lower, upper : float
        Estimate, F statistic with its degrees of freedom and p-value, and the
        ``1 - alpha`` confidence interval (single-rater kinds only; NaN otherwise).
    n_targets, n_raters : int
    """

    kind: str
    icc: float
    F: float
    df1: float
    df2: float
    p: float
    lower: float
    upper: float
    n_targets: int
    n_raters: int


def icc(ratings, kind: str = "icc2", alpha: float = 0.05) -> IccResult:
    """Intraclass correlation of a targets x raters table.

    Parameters
    ----------
    ratings : array-like, shape (n_targets, n_raters)
        Complete table (no missing values).
    kind : {"icc1", "icc2", "icc3", "icc1k", "icc2k", "icc3k"}
    alpha : float
        1 - confidence level of the interval.

    Returns
    -------
    IccResult

    References
    ----------
    Shrout PE, Fleiss JL. Psychol Bull 1979;86:420-428 (estimators, F tests, intervals).
    McGraw KO, Wong SP. Psychol Methods 1996;1:30-46 (ICC(A,1) interval, Satterthwaite df).
    Koo TK, Li MY. J Chiropr Med 2016;15:155-163 (choosing the form).
    """
    X = np.asarray(ratings, dtype=float)
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 2:
        raise DataError(f"ratings must be a targets x raters table with >= 2 of each, got shape {X.shape}.")
    if not np.isfinite(X).all():
        raise DataError("ratings contain missing or infinite values.", fix="drop incomplete targets first.")
    n, k = X.shape
    msr, msc, mse, msw = (float(v[0]) for v in _mean_squares(X.T[:, :, None]))
    value = float(_icc_from_ms(kind, msr, msc, mse, msw, n, k))
    q = 1 - alpha / 2
    lower = upper = np.nan
    if kind.startswith("icc1"):
        F, df1, df2 = msr / msw, n - 1, n * (k - 1)
        fl, fu = F / stats.f.ppf(q, df1, df2), F * stats.f.ppf(q, df2, df1)
        if kind == "icc1":
            lower, upper = (fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1)
    else:
        F, df1, df2 = msr / mse, n - 1, (n - 1) * (k - 1)
        if kind == "icc3":
            fl, fu = F / stats.f.ppf(q, df1, df2), F * stats.f.ppf(q, df2, df1)
            lower, upper = (fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1)
        elif kind == "icc2":
            # McGraw & Wong (1996) Table 7, case 2A: Satterthwaite degrees of freedom v.
            a = k * value / (n * (1 - value))
            b = 1 + k * value * (n - 1) / (n * (1 - value))
            v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
            f_up, f_lo = stats.f.ppf(q, n - 1, v), stats.f.ppf(q, v, n - 1)
            lower = n * (msr - f_up * mse) / (f_up * (k * msc + (k * n - k - n) * mse) + n * msr)
            upper = n * (f_lo * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_lo * msr)
    p = float(stats.f.sf(F, df1, df2))
    return IccResult(kind=kind, icc=value, F=float(F), df1=float(df1), df2=float(df2), p=p,
                     lower=float(lower), upper=float(upper), n_targets=n, n_raters=k)


def _common(tables: Sequence[pd.DataFrame]) -> tuple[pd.Index, pd.Index]:
    """Patients (index) and features (columns) present in every table, first table's order."""
    if len(tables) < 2:
        raise DataError("the ICC needs at least two feature tables (segmentations or mask perturbations).")
    rows, cols = tables[0].index, tables[0].columns
    for t in tables[1:]:
        rows = rows.intersection(t.index, sort=False)
        cols = cols.intersection(t.columns, sort=False)
    if len(rows) < 2:
        raise DataError(f"only {len(rows)} patient(s) appear in every feature table.",
                        fix="compute features of both segmentations for the same patients.")
    return rows, cols


def icc_features(tables: Sequence[pd.DataFrame], kind: str = "icc2") -> pd.Series:
    """ICC of every feature column across repeated tables (one table per rater/segmentation).

    Parameters
    ----------
    tables : sequence of DataFrame
        Same patients (index) and features (columns) in each; at least two tables.
        Rows are aligned on the index; only patients present in every table are used.
    kind : str
        See :func:`icc`.

    Returns
    -------
    Series
        ICC per feature, with ``attrs["n_patients"]``: the patients each was computed on. A
        feature missing for some patients (in any table) is computed on the patients that
        have it in every table; NaN where fewer than two remain or the feature is constant.
    """
    common_rows, common_cols = _common(tables)
    R = np.stack([t.loc[common_rows, common_cols].to_numpy(dtype=float) for t in tables])
    complete = np.isfinite(R).all(axis=0)  # patients x features
    n_per = complete.sum(axis=0)
    value = np.full(R.shape[2], np.nan)
    full = n_per == R.shape[1]
    if full.any():  # the usual case, all features at once
        ms = _mean_squares(R[:, :, full])
        value[full] = _icc_from_ms(kind, *ms, R.shape[1], R.shape[0])
    for j in np.flatnonzero(~full & (n_per >= 2)):  # each on the patients that have it
        sub = R[:, complete[:, j], j:j + 1]
        value[j] = _icc_from_ms(kind, *_mean_squares(sub), sub.shape[1], sub.shape[0])[0]
    value = np.where(np.isfinite(value), value, np.nan)
    out = pd.Series(value, index=common_cols, name=kind)
    out.attrs["n_patients"] = pd.Series(n_per, index=common_cols)
    return out


@dataclasses.dataclass(frozen=True)
class IccFilterResult(Result):
    """Features robust to segmentation: ICC per feature and those at or above the threshold.

    Attributes
    ----------
    icc : Series
        ICC per feature (NaN where undefined: constant, or fewer than two patients have it).
    n_per_feature : Series
        Patients each feature's ICC was computed on (fewer than ``n_patients`` where the
        feature is missing for some).
    threshold : float
        Minimum ICC of a kept feature.
    kind : str
        ICC form (see :func:`icc`).
    n_patients : int
        Patients the ICC was computed on (present in every table and, when given, in
        ``patients``).
    kept : tuple of str
        Features with ``icc >= threshold``, in column order (undefined ICCs are not kept).
    """

    icc: pd.Series = dataclasses.field(repr=False)
    n_per_feature: pd.Series = dataclasses.field(repr=False)
    threshold: float
    kind: str
    n_patients: int
    kept: tuple[str, ...]

    @property
    def summary(self) -> pd.DataFrame:
        """One row per feature: feature, icc, n (patients it was computed on), kept."""
        return pd.DataFrame({"feature": self.icc.index, "icc": self.icc.to_numpy(),
                             "n": self.n_per_feature.reindex(self.icc.index).to_numpy(),
                             "kept": self.icc.to_numpy() >= self.threshold})

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """The kept columns of ``X`` (columns the filter never saw are left out too)."""
        kept = set(self.kept)
        return X.loc[:, [c for c in X.columns if c in kept]]


def icc_filter(tables: Sequence[pd.DataFrame], *, threshold: float = 0.75, kind: str = "icc2",
               patients: Sequence[str] | None = None) -> IccFilterResult:
    """Keep features whose ICC across segmentations is at least ``threshold`` (PROTOCOL A6).

    Computed on the *training* patients' repeated feature tables only (pass their IDs as
    ``patients``); :meth:`IccFilterResult.transform` then keeps the same columns of any
    table. A feature missing for some patients is computed on those that have it (its
    ``n`` in the summary); features with an undefined ICC (constant, or fewer than two
    patients) are dropped and counted in the log.

    Parameters
    ----------
    tables : sequence of DataFrame
        Repeated feature tables, one per segmentation (rater) or mask perturbation; see
        :func:`icc_features`.
    threshold : float
        Minimum ICC (PROTOCOL A6: 0.75; Koo & Li 2016: >= 0.75 is "good").
    kind : {"icc2", "icc3", "icc1", "icc1k", "icc2k", "icc3k"}
        ICC form; see the module docstring for the default ICC(2,1).
    patients : sequence of str, optional
        Patients (table index) the ICC is computed on; all patients common to the tables
        when None.

    Returns
    -------
    IccFilterResult

    References
    ----------
    Shrout PE, Fleiss JL. Psychol Bull 1979;86:420-428.
    McGraw KO, Wong SP. Psychol Methods 1996;1:30-46.
    Koo TK, Li MY. J Chiropr Med 2016;15:155-163 (ICC >= 0.75: good reliability).
    """
    if patients is not None:
        keep = pd.Index(patients)
        tables = [t.loc[t.index.intersection(keep, sort=False)] for t in tables]
    values = icc_features(tables, kind)
    kept = tuple(str(c) for c in values.index[(values >= threshold).to_numpy()])
    n_all = len(_common(tables)[0])
    n_per = values.attrs["n_patients"]
    logger.info("ICC filter (%s >= %g): kept %d of %d features (%d undefined, %d computed on fewer than all %d "
                "patients)", kind, threshold, len(kept), len(values), int(values.isna().sum()),
                int((n_per < n_all).sum()), n_all)
    return IccFilterResult(icc=values, n_per_feature=n_per, threshold=float(threshold), kind=kind,
                           n_patients=n_all, kept=kept)
