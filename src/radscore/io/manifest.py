"""The manifest: one row per patient, time point (and lesion), paths relative to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radscore.catalog import MODALITIES
from radscore.errors import ManifestError

REQUIRED = ("patient_id", "timepoint", "mask")
TIMEPOINTS = ("baseline", "followup")
PATH_COLUMNS = ("ct", "pet", "mask", "mask_2")


def derive_benefit(df: pd.DataFrame, column: str, pfs_time: str = "pfs_months") -> pd.Series:
    """The durable-clinical-benefit endpoint from RECIST and PFS (PROTOCOL A1).

    DCB = best response CR or PR, or SD with PFS >= 6 months; otherwise NDB (PD, or SD with
    shorter PFS). ``column`` named ``dcb`` is coded 1 = DCB, any other name (default ``ndb``)
    1 = NDB. Rows without a RECIST category (follow-up rows) get NaN.
    """
    recist = df["recist"].astype("string").str.strip().str.upper()
    known = recist.isin(["CR", "PR", "SD", "PD"])
    unknown = sorted(set(recist[recist.notna() & ~known]))
    if unknown:
        raise ManifestError(f"unknown RECIST categories {unknown} in column 'recist'.", fix="use CR, PR, SD or PD.")
    pfs = pd.to_numeric(df[pfs_time], errors="coerce") if pfs_time in df.columns else pd.Series(np.nan, df.index)
    sd_without_pfs = known & (recist == "SD") & pfs.isna()
    if sd_without_pfs.any():
        raise ManifestError(f"patients {df.loc[sd_without_pfs, 'patient_id'].tolist()[:5]} have RECIST SD but no "
                            f"'{pfs_time}': durable benefit (SD >= 6 months) cannot be decided.",
                            fix=f"add '{pfs_time}' or the endpoint column '{column}' itself.")
    dcb = recist.isin(["CR", "PR"]) | ((recist == "SD") & (pfs >= 6.0))
    coded = dcb if column.lower() == "dcb" else ~dcb
    return coded.astype(float).where(known)


def manifest_modalities(df: pd.DataFrame) -> tuple[str, ...]:
    """The acquired images of a study: ``pet`` and/or ``ct``, those whose column has a path in some row.

    A PET-only (or CT-only) study is one whose manifest has no ``ct`` (``pet``) column or
    leaves it empty throughout; a row missing an image the rest of the study has is that
    scan's problem (reported in QC), not the study's.
    """
    return tuple(m for m in MODALITIES if m in df.columns and df[m].notna().any())


def read_manifest(path: str | Path, outcome: str | None = None, required_extra: tuple[str, ...] = (),
                  pfs_time: str = "pfs_months") -> pd.DataFrame:
    """Read and validate a manifest CSV.

    Parameters
    ----------
    path : path
        The manifest CSV.
    outcome : str, optional
        The binary endpoint column; values must be 0/1 (empty allowed at follow-up). When the
        manifest lacks it but has ``recist``, it is derived (:func:`derive_benefit`).
    pfs_time : str
        The PFS column used to derive the endpoint from RECIST.
    required_extra : tuple of str
        Further columns the config names (clinical, survival).

    Returns
    -------
    DataFrame
        With ``patient_id`` as str, image paths made absolute, and a ``lesion_id``
        column (``"1"`` when the manifest has none).
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError("manifest not found.", file=str(path), fix="write manifest.csv or set 'manifest' in study.yaml.")
    try:
        df = pd.read_csv(path, dtype={"patient_id": str, "lesion_id": str})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ManifestError(f"not a readable CSV ({exc}).", file=str(path)) from None
    missing = [c for c in (*REQUIRED, *required_extra) if c not in df.columns]
    if missing:
        raise ManifestError(
            f"missing column(s) {missing}; found {list(df.columns)}.", file=str(path),
            fix="add the columns or correct the names in study.yaml.",
        )
    if not any(m in df.columns for m in MODALITIES):
        raise ManifestError(f"no image column: the manifest needs 'pet', 'ct' or both; found {list(df.columns)}.",
                            file=str(path), fix="add the image paths in a 'pet' and/or a 'ct' column.")
    if "lesion_id" not in df.columns:
        df["lesion_id"] = "1"
    df["patient_id"] = df["patient_id"].astype(str).str.strip()
    df["timepoint"] = df["timepoint"].astype(str).str.strip().str.lower()
    bad_tp = sorted(set(df["timepoint"]) - set(TIMEPOINTS))
    if bad_tp:
        rows = df.loc[df["timepoint"].isin(bad_tp), "patient_id"].tolist()
        raise ManifestError(
            f"unknown time point(s) {bad_tp} (patients {rows[:5]}).", file=str(path),
            fix=f"use one of {list(TIMEPOINTS)}.",
        )
    dup = df.duplicated(["patient_id", "timepoint", "lesion_id"], keep=False)
    if dup.any():
        ids = sorted(df.loc[dup, "patient_id"].unique())
        raise ManifestError(
            f"duplicate rows for patient ID(s) {ids[:10]} at the same time point and lesion.", file=str(path),
            fix="give each patient one row per time point (or distinct lesion_id values).",
        )
    if outcome is not None and outcome not in df.columns:
        if "recist" not in df.columns:
            raise ManifestError(f"the endpoint column '{outcome}' is missing.", file=str(path),
                                fix=f"add '{outcome}' (0/1, 1 = positive class), or a 'recist' column (CR/PR/SD/PD) "
                                    "with PFS to derive durable clinical benefit, or set endpoint.column in "
                                    "study.yaml.")
        df[outcome] = derive_benefit(df, outcome, pfs_time)
    if outcome is not None:
        vals = pd.to_numeric(df[outcome], errors="coerce")
        baseline = df["timepoint"] == "baseline"
        bad = baseline & ~vals.isin([0, 1])
        if bad.any():
            ids = df.loc[bad, "patient_id"].tolist()
            raise ManifestError(
                f"outcome column '{outcome}' must be 0 or 1 at baseline; patients {ids[:10]} have "
                f"{df.loc[bad, outcome].tolist()[:10]}.", file=str(path),
                fix="code the endpoint as 1 = positive class, 0 = negative.",
            )
        df[outcome] = vals
    if "mask_label" in df.columns:
        # checked here, because a label that is not a number would be dropped and the mask's
        # several labels then refused with a fix pointing back to this very column
        labels = pd.to_numeric(df["mask_label"], errors="coerce")
        bad = df["mask_label"].notna() & ~(np.isfinite(labels) & (labels == labels.round()) & (labels != 0))
        if bad.any():
            raise ManifestError(
                f"column 'mask_label' must hold the mask's label as a whole number other than 0, or be empty; "
                f"patients {df.loc[bad, 'patient_id'].tolist()[:10]} have {df.loc[bad, 'mask_label'].tolist()[:10]}.",
                file=str(path), fix="write the label of the tumour in the mask file (e.g. 2).",
            )
    for col in PATH_COLUMNS:
        if col in df.columns:
            df[col] = [resolve_path(path.parent, v) for v in df[col]]
    return df


def file_problems(df: pd.DataFrame, modalities: tuple[str, ...] | list[str]) -> list[str]:
    """One line per file a manifest row names that cannot be used, for ``radscore validate``.

    Checks the images the study uses (``modalities``), the mask and, where given,
    ``mask_2``: the path is given, exists and opens as an image (headers only, see
    :func:`radscore.io.images.file_problem`). Each line reads ``patient P (timepoint,
    lesion L): column path: problem``, with the manifest's patient ID.

    Parameters
    ----------
    df : DataFrame
        A manifest from :func:`read_manifest` (paths resolved).
    modalities : sequence of str
        ``pet`` and/or ``ct``: the images every scan must have.
    """
    from radscore.catalog import modalities_text
    from radscore.io.images import file_problem

    out = []
    for row in df.to_dict("records"):
        who = f"patient {row['patient_id']} ({row['timepoint']}, lesion {row['lesion_id']})"
        for col in (*modalities, "mask", "mask_2"):
            path = row.get(col)
            if path is None or (isinstance(path, float) and np.isnan(path)):
                if col in modalities:
                    out.append(f"{who}: {col}: no file given; the study uses {modalities_text(modalities)}.")
                elif col == "mask":
                    out.append(f"{who}: mask: no file given.")
                continue
            roi = row.get(f"{col}_roi") if col == "mask" else None
            problem = file_problem(path, dicom_object=isinstance(roi, str) and bool(roi.strip()))
            if problem is not None:
                out.append(f"{who}: {col} {path}: {problem}.")
    return out


def resolve_path(base: Path, value) -> str | None:
    """A manifest cell as a path: relative paths are taken from ``base`` (the manifest's folder); empty -> None."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return None
    p = Path(str(value).strip())
    return str(p if p.is_absolute() else (base / p))
