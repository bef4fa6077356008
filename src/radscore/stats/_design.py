"""Design matrices for regression tables: numeric columns as is, categorical as dummies.

A categorical covariate (object, category or bool dtype) becomes one indicator per
non-reference level (reference = first level in sorted/categorical order), so tables
can show events/patients per level as in the mCRC seed's Table 2.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from radscore.errors import DataError


def is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or s.dtype == bool


def levels(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return [v for v in s.cat.categories if (s == v).any()]
    return sorted(pd.unique(s.dropna()), key=str)


def check_columns(df: pd.DataFrame, columns: Sequence[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise DataError("expected a pandas DataFrame.", fix="Pass the cohort table as a DataFrame.")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"columns {missing} are not in the table; it has {list(df.columns)}.",
                        fix="Check the covariate names.")


def complete_cases(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Rows with no missing value in ``columns`` (R's na.omit)."""
    out = df.loc[df[list(columns)].notna().all(axis=1), list(columns)]
    if out.empty:
        raise DataError(f"no patient has all of {list(columns)}.", fix="Check missing values.")
    return out


def design(df: pd.DataFrame, covariates: Sequence[str]) -> tuple[pd.DataFrame, list[dict]]:
    """Encode ``covariates``; return (X, term info per column of X).

    Term info: covariate, level (None for numeric), reference level, column name, mask
    of patients in the level (None for numeric).
    """
    cols, info = {}, []
    for cov in covariates:
        s = df[cov]
        if is_categorical(s):
            lv = levels(s)
            if len(lv) < 2:
                raise DataError(f"covariate {cov!r} has a single level {lv}.", fix="Drop it from the model.")
            for level in lv[1:]:
                name = f"{cov}[{level}]"
                cols[name] = (s == level).astype(float).to_numpy()
                info.append({"covariate": cov, "level": str(level), "reference": str(lv[0]), "column": name})
        else:
            try:
                cols[cov] = s.astype(float).to_numpy()
            except (TypeError, ValueError):
                raise DataError(f"covariate {cov!r} is neither numeric nor categorical.",
                                fix="Convert it to numbers or to a category.") from None
            info.append({"covariate": cov, "level": None, "reference": None, "column": cov})
    X = pd.DataFrame(cols, index=df.index)
    const = [c for c in X.columns if np.ptp(X[c].to_numpy()) == 0]
    if const:
        raise DataError(f"covariates {const} are constant in the analysed patients.", fix="Drop them.")
    return X, info


def level_counts(df: pd.DataFrame, cov: str, outcome: np.ndarray) -> list[dict]:
    """Patients and events per level of ``cov`` (one row 'all' for numeric)."""
    s = df[cov]
    if not is_categorical(s):
        return [{"covariate": cov, "level": None, "patients": int(s.notna().sum()),
                 "events": int(outcome[s.notna().to_numpy()].sum())}]
    return [{"covariate": cov, "level": str(v), "patients": int((s == v).sum()),
             "events": int(outcome[(s == v).to_numpy()].sum())} for v in levels(s)]
