"""Random training/testing split at patient level (PROTOCOL A1: 7:3 with a fixed seed).

The split is made once per patient, never per row, so a patient's several time points or
lesions always fall on the same side: otherwise the test cohort would leak into training.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from radscore.errors import DataError, ManifestError

logger = logging.getLogger(__name__)

TRAINING = "training"
TESTING = "testing"


def cohort_order(cohorts) -> list[str]:
    """Cohort names in report order: training, testing, internal (validation), then the
    external cohorts by name."""
    present = set(map(str, cohorts))
    first = [c for c in (TRAINING, TESTING, "internal") if c in present]
    return first + sorted(present - set(first) - {"unassigned"})


def split_cohort(
    patients: pd.DataFrame, outcome: str, test_fraction: float, seed: int, stratify: bool
) -> pd.Series:
    """Assign every patient to the training or the testing cohort.

    Parameters
    ----------
    patients : DataFrame
        One row per patient: a ``patient_id`` column (or index named ``patient_id``) and
        the ``outcome`` column (0/1).
    outcome : str
        Column of the binary outcome used for stratification.
    test_fraction : float
        Share of patients in the testing cohort, in (0, 1).
    seed : int
        Seed of the shuffle; the same seed and rows give the same split.
    stratify : bool
        Keep the outcome prevalence equal in both cohorts (PROTOCOL A1).

    Returns
    -------
    Series
        Index ``patient_id`` (sorted), values ``"training"`` / ``"testing"``, name ``cohort``.

    Raises
    ------
    ManifestError
        Missing columns or duplicated patient IDs.
    DataError
        Too few patients (or outcome classes) to make both cohorts.
    """
    df = patients.reset_index() if "patient_id" not in patients.columns else patients
    for col in ("patient_id", outcome):
        if col not in df.columns:
            raise ManifestError(f"column '{col}' is missing from the patient table.",
                                fix=f"add a '{col}' column (one row per patient).")
    dup = df["patient_id"][df["patient_id"].duplicated()].unique()
    if len(dup):
        raise ManifestError(f"patient IDs appear more than once: {list(dup[:5])}.",
                            fix="pass one row per patient (drop extra time points or lesions first).")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must lie in (0, 1), got {test_fraction}.", fix="use e.g. 0.3.")
    # Sort by ID first: the split must not depend on the manifest's row order.
    df = df.sort_values("patient_id", kind="mergesort").reset_index(drop=True)
    ids = df["patient_id"].astype(str).to_numpy()
    labels = df[outcome]
    strat = None
    if stratify:
        if labels.isna().any():
            missing = list(df.loc[labels.isna(), "patient_id"][:5])
            raise DataError(f"outcome '{outcome}' is missing for patients {missing}; cannot stratify.",
                            fix="fill the outcome or set split.stratify: false.")
        counts = labels.value_counts()
        if len(counts) < 2 or counts.min() < 2:
            raise DataError(f"outcome '{outcome}' needs >= 2 patients in each class to stratify, "
                            f"got {counts.to_dict()}.", fix="set split.stratify: false or add patients.")
        strat = labels.to_numpy()
    n_test = int(np.ceil(test_fraction * len(ids)))
    if n_test < 1 or n_test >= len(ids):
        raise DataError(f"{len(ids)} patients cannot be split with test_fraction {test_fraction}.",
                        fix="add patients or change split.test_fraction.")
    try:
        _, test_ids = train_test_split(ids, test_size=test_fraction, random_state=seed, stratify=strat)
    except ValueError as exc:  # e.g. fewer test slots than classes
        raise DataError(f"cannot split the cohort: {exc}", fix="add patients or set split.stratify: false.") from None
    test = set(test_ids)
    cohort = pd.Series([TESTING if i in test else TRAINING for i in ids],
                       index=pd.Index(df["patient_id"].to_numpy(), name="patient_id"), name="cohort")
    logger.info("split %d patients: %d training, %d testing (seed %d)",
                len(ids), (cohort == TRAINING).sum(), len(test), seed)
    return cohort
