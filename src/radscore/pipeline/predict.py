"""Score new scans with a trained model: the model's own preparation and extraction, then its Radscore.

``radscore predict`` calls :func:`predict_scans`; the page prepares each upload once
(for its figures) and calls :func:`score_extraction` on the runner's output. Both use
the model's stored :class:`~radscore.config.ScanSettings` and the same runner as
``radscore run``, so all three give the same features and the same Radscore. A model that
uses deep features stores its crop encoders (``model.deep``): the runner cuts the same
crops as the study's extraction (:func:`crop_size`) and the stored encoders turn them into
the ``deep_*`` features, as :func:`radscore.features.deep.add_deep_features` did in the study.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from radscore.features.runner import Extraction, extract_scans
from radscore.io.scan import ScanRef
from radscore.modeling.artifact import LoadedModel, load_model

COLUMNS = ["patient_id", "timepoint", "model", "radscore", "probability", "group", "warnings", "error", "features"]


def crop_size(model: LoadedModel) -> int | None:
    """Edge of the PET/CT crops the model's deep features read, or None when it uses none."""
    return model.deep.crop_size if model.deep is not None else None


def score_extraction(model: LoadedModel, extraction: Extraction) -> pd.DataFrame:
    """One row per scan: Radscore, probability, group and warnings, or the error.

    Returns
    -------
    DataFrame
        :data:`COLUMNS`; ``features`` holds the scan's extracted features (dict; with the deep
        features when the model uses them), ``warnings`` the preparation warnings and the
        features outside the training range.
    """
    rows = []
    for s in extraction.scans:
        base = {"patient_id": s.ref.patient_id, "timepoint": s.ref.timepoint, "model": model.name}
        error = s.error
        if error is None and model.deep is not None and s.crops is None:
            error = (f"the model uses deep features and the scan has no {model.deep.crop_size}^3 PET/CT crops "
                     "(extract with crop_size=crop_size(model)).")
        if error is not None:
            rows.append({**base, "radscore": None, "probability": None, "group": None, "warnings": [],
                         "error": error, "features": None})
            continue
        features = dict(s.features)
        if model.deep is not None:
            features.update(model.deep.transform([s.crops]).iloc[0].to_dict())
        scored = model.score(pd.DataFrame([{"patient_id": s.ref.patient_id, **features}])).iloc[0]
        rows.append({**base, "radscore": float(scored["radscore"]), "probability": float(scored["probability"]),
                     "group": scored["group"], "warnings": list(s.provenance.warnings) + list(scored["warnings"]),
                     "error": None, "features": features})
    return pd.DataFrame(rows, columns=COLUMNS)


def predict_scans(model: LoadedModel | str | Path, scans: list[ScanRef], *, workers: int | None = 1,
                  trusted_key: str | Path | None = None) -> pd.DataFrame:
    """Radscore, probability, group and warnings for each scan (see :func:`score_extraction`).

    Parameters
    ----------
    model : LoadedModel or path
        A loaded model, or a model folder written by a study run (``DIR/models/<name>``).
    scans : list of ScanRef
    workers : int, optional
        Local processes for the extraction.
    trusted_key : path, optional
        Ed25519 public key the model folder's signature must verify with (see
        :func:`radscore.modeling.artifact.load_model`); only for a model given as a folder.
    """
    if not isinstance(model, LoadedModel):
        model = load_model(model, trusted_key=trusted_key)
    elif trusted_key is not None:
        raise TypeError("trusted_key applies to a model folder; verify a LoadedModel when loading it")
    return score_extraction(model, extract_scans(scans, model.scan, workers=workers, crop_size=crop_size(model),
                                                 desc="scoring"))
