"""Portable, self-describing model artifact: a folder that loads without executing code.

Layout (every file but the manifest is listed in it with its SHA-256)::

    manifest.json                 format version, versions, scan and training settings, model type and file,
                                  features, cutoff, hashes
    model.ubj                     an XGBoost model: the booster in XGBoost's own UBJSON format
    forest.json                   a random forest (instead of model.ubj): the trees as plain arrays
                                  (format in :mod:`radscore.modeling.forest`), scored with numpy
    preprocessing.json            input features in model order and their imputation medians
    feature_distribution.json     training quantiles of each input feature
    training_summary.csv          the caller's training summary (e.g. AUCs)
    encoder.json                  only when the model selected a deep feature (``deep_*``): the crop
                                  encoder's settings (crop size and spacing, latent size, normalisation)
    encoder_<modality>.npz        ... and its weights: the state dict's arrays (numpy, no pickle)

Pickle/joblib would run arbitrary code on load and break across library versions, so it
is never used. Loading verifies the manifest's own hash and every file's hash, so a
damaged, truncated or partly copied file is refused with
:class:`~radscore.errors.ModelFileError` naming it; an artifact of a newer format version
is refused rather than misread. A forest is read with ``json`` and scored with ``numpy``
only; its Radscores equal the fitted model's bit for bit. A deep-feature encoder is read with
``json`` and ``numpy.load(allow_pickle=False)`` (PyTorch then runs it, from those arrays). The
hashes are a corruption check only: whoever edits a file can recompute them. Proof of origin is the optional signature
(:mod:`radscore.modeling.signing`), checked when a trusted public key is given.
"""

from __future__ import annotations

import json
import logging
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.ensemble import RandomForestClassifier

import radscore
from radscore.catalog import DEEP_PREFIX, MODALITIES
from radscore.config import ScanSettings
from radscore.errors import DataError, ModelFileError
from radscore.features.deep import ENCODER_SETTINGS, DeepEncoders, encoder_file
from radscore.modeling.forest import ForestArrays, forest_to_json
from radscore.runtime.files import atomic_write_bytes, atomic_write_csv, sha256_bytes, sha256_file

logger = logging.getLogger(__name__)

FORMAT = "radscore-model"
# 2: typed scan settings ("scan") and training settings ("training")
# 3: "model_file": model.ubj (XGBoost) or forest.json (scikit-learn random forest); format 2
#    random_forest models are XGBoost random forests in model.ubj and still load
# 4: "deep_encoder": encoder.json (or null) with encoder_<modality>.npz, when deep features are selected
FORMAT_VERSION = 4
MANIFEST = "manifest.json"
XGBOOST_FILE, FOREST_FILE = "model.ubj", "forest.json"
_OTHER_FILES = ("preprocessing.json", "feature_distribution.json", "training_summary.csv")
_RADSCORE = {XGBOOST_FILE: "log-odds of class 1 (XGBoost output margin)",
             FOREST_FILE: "log-odds of class 1: logit of the forest's probability clipped to "
                          "[0.5/n_trees, 1 - 0.5/n_trees]"}


def _dumps(obj: Any) -> bytes:
    # repr-precision floats round-trip exactly; sorted keys make equal models equal bytes.
    return (json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n").encode()


def _versions() -> dict[str, str]:
    import sklearn
    import xgboost

    return {"radscore": radscore.__version__, "xgboost": xgboost.__version__, "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "pandas": pd.__version__, "python": platform.python_version()}


def _torch_version() -> str:
    import torch

    return torch.__version__


def save_model(model, folder: str | Path, *, scan: ScanSettings, training: dict | None = None,
               training_summary: pd.DataFrame | None = None, name: str = "radscore",
               positive_class: str | None = None, deep: DeepEncoders | None = None) -> Path:
    """Write a fitted :class:`~radscore.modeling.radscore.RadscoreClassifier` as an artifact.

    Parameters
    ----------
    model : RadscoreClassifier
        Fitted.
    folder : path
        Created if absent; existing artifact files are overwritten atomically.
    scan : ScanSettings
        How the features were made (preprocess, VOI, fusion, features, seed), so a scorer
        prepares and extracts new scans the same way.
    training : dict, optional
        The selection and model settings that fitted the model (JSON-able; for the record).
    training_summary : DataFrame, optional
        Written as ``training_summary.csv`` (e.g. training/CV/test AUCs).
    name : str
        Model name (``pet``, ``ct``, ``petct``, ``comb``, ...).
    positive_class : str, optional
        Name of class 1 (e.g. ``"NDB"``).
    deep : DeepEncoders, optional
        The encoders that made the table's ``deep_*`` features; required when the model
        selected one. Only the encoders of the selected features' modalities are stored.

    Returns
    -------
    Path of the folder.
    """
    if not hasattr(model, "pipeline_"):
        raise ModelFileError("the model is not fitted.", fix="call fit() before save_model().")
    folder = Path(folder)
    feats = list(model.selected_features_)
    imputer = model.pipeline_.named_steps["impute"]
    # a model fitted on an array has no feature_names_in_ (scikit-learn); it names them x0, x1...
    names = getattr(model, "feature_names_in_", [f"x{i}" for i in range(model.n_features_in_)])
    pos = {str(n): i for i, n in enumerate(names)}
    medians = {f: float(imputer.statistics_[pos[f]]) for f in feats}
    final = model.pipeline_[-1]
    if isinstance(final, RandomForestClassifier):
        # compact: a forest has tens of thousands of numbers; sorted keys keep equal models equal bytes
        model_file = FOREST_FILE
        model_bytes = (json.dumps(forest_to_json(final), sort_keys=True, separators=(",", ":")) + "\n").encode()
    else:
        model_file, model_bytes = XGBOOST_FILE, bytes(final.get_booster().save_raw(raw_format="ubj"))
    payload = {
        model_file: model_bytes,
        "preprocessing.json": _dumps({
            "input_features": feats,
            "impute_median": medians,
            "non_finite": "infinite values are treated as missing",
            "selection_steps": [n for n, _ in model.pipeline_.steps[1:-1]],
        }),
        "feature_distribution.json": _dumps(
            {f: {k: float(v) for k, v in row.items()} for f, row in model.training_distribution_.iterrows()}),
    }
    deep_mods = [m for m in MODALITIES if any(f.startswith(f"{DEEP_PREFIX}{m}_") for f in feats)]
    if deep_mods:
        if deep is None or not set(deep_mods) <= set(deep.encoders):
            raise ModelFileError(f"the model selected deep features of {deep_mods}, and no encoder for them was "
                                 "given.", fix="pass the DeepEncoders that made the features (save_model(deep=...)).")
        payload.update(deep.restricted(deep_mods).to_files())
    for stale in (ENCODER_SETTINGS, *map(encoder_file, MODALITIES)):  # a previous model's encoder
        if stale not in payload:
            (folder / stale).unlink(missing_ok=True)
    summary = training_summary if training_summary is not None else pd.DataFrame()
    for fname, data in payload.items():
        atomic_write_bytes(folder / fname, data)
    atomic_write_csv(folder / "training_summary.csv", summary)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "model_type": model.model,
        "versions": {**_versions(), **({"torch": _torch_version()} if deep_mods else {})},
        "scan": scan.model_dump(mode="json"), "training": training or {},
        "model_file": model_file, "positive_class": positive_class, "radscore": _RADSCORE[model_file],
        "cutoff": float(model.cutoff_), "cutoff_method": model.cutoff, "best_params": model.best_params_,
        "cv_auc": float(model.best_score_), "selected_features": feats,
        "deep_encoder": ENCODER_SETTINGS if deep_mods else None,
        "files": {f: sha256_file(folder / f) for f in (*payload, *_OTHER_FILES)},
    }
    manifest["manifest_sha256"] = sha256_bytes(_dumps(manifest))
    atomic_write_bytes(folder / MANIFEST, _dumps(manifest))
    logger.debug("saved model %s (%d features) to %s", name, len(feats), folder)
    return folder


class LoadedModel:
    """A Radscore model read from an artifact folder; scores feature tables.

    Attributes
    ----------
    manifest : dict
    name : str
    features : list of str
        Input features in model order.
    cutoff : float
    distribution : DataFrame
        Training quantiles per feature.
    scan : ScanSettings
        How to prepare and extract a new scan for this model (validated on load).
    content_hash : str
        SHA-256 of the manifest (which holds every file's hash): the model's identity, for
        provenance records.
    signed_by : str or None
        SHA-256 fingerprint of the trusted public key the model was verified with; None
        when it was loaded without one (its hashes then only show it is not corrupted).
    deep : DeepEncoders or None
        The stored crop encoders when the model uses deep features: a scorer cuts
        ``deep.crop_size``^3 PET/CT crops (as the study's extraction did) and appends
        ``deep.transform(crops)`` to the hand-crafted features.
    """

    content_hash: str = ""
    signed_by: str | None = None

    def __init__(self, manifest: dict, model, preprocessing: dict, distribution: dict, scan: ScanSettings,
                 deep: DeepEncoders | None = None):
        self.manifest = manifest
        self.scan = scan
        self.deep = deep
        self.name = manifest["name"]
        self.cutoff = float(manifest["cutoff"])
        self.features = list(preprocessing["input_features"])
        self._medians = np.array([preprocessing["impute_median"][f] for f in self.features], dtype=np.float64)
        self._model = model  # xgboost.Booster or ForestArrays
        self.distribution = pd.DataFrame.from_dict(distribution, orient="index").reindex(self.features)

    def _matrix(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        missing = [f for f in self.features if f not in features.columns]
        if missing:
            raise DataError(f"{len(missing)} features the model needs are absent, e.g. {missing[:3]}.",
                            fix="extract features with the settings stored in the model's manifest.json.")
        try:
            A = features[self.features].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"model features must be numeric ({exc}).") from None
        isna = ~np.isfinite(A)
        return np.where(isna, self._medians[None, :], A), isna

    def decision_function(self, features: pd.DataFrame) -> np.ndarray:
        """Radscore (log-odds of class 1) of each row."""
        A, _ = self._matrix(features)
        if isinstance(self._model, ForestArrays):
            return self._model.decision_function(A)
        import xgboost

        return np.asarray(self._model.predict(xgboost.DMatrix(A), output_margin=True), dtype=np.float64)

    def score(self, features: pd.DataFrame) -> pd.DataFrame:
        """Score patients.

        Parameters
        ----------
        features : DataFrame
            One row per patient with a ``patient_id`` column (else the index is used) and at
            least the model's input features (extra columns are ignored).

        Returns
        -------
        DataFrame
            ``patient_id``, ``radscore``, ``probability`` (of class 1), ``group`` (``"high"``
            when radscore > cutoff, else ``"low"``) and ``warnings`` (list of str: features
            missing and imputed, or outside the training range [min, max]).
        """
        ids = features["patient_id"].astype(str).to_numpy() if "patient_id" in features.columns \
            else features.index.astype(str).to_numpy()
        A, isna = self._matrix(features)
        r = self.decision_function(features)
        lo, hi = self.distribution["min"].to_numpy(), self.distribution["max"].to_numpy()
        warnings = []
        for i in range(len(ids)):
            w = [f"{f} missing, imputed with the training median" for f in np.array(self.features)[isna[i]]]
            out = (~isna[i]) & ((A[i] < lo) | (A[i] > hi))
            w += [f"{f}={A[i, j]:.6g} outside the training range [{lo[j]:.6g}, {hi[j]:.6g}]"
                  for j, f in enumerate(self.features) if out[j]]
            warnings.append(w)
        return pd.DataFrame({"patient_id": ids, "radscore": r, "probability": expit(r),
                             "group": np.where(r > self.cutoff, "high", "low"), "warnings": warnings})


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"cannot be read as JSON ({exc.__class__.__name__}).", file=str(path),
                             fix="re-export the model; the file is damaged.") from None


def _scan_settings(manifest: dict, path: Path) -> ScanSettings:
    """The stored scan settings, validated once here (format 1 stored the whole study config)."""
    from pydantic import ValidationError

    if manifest.get("format_version") == 1:
        old = manifest.get("settings") or {}
        data = {k: old[k] for k in ("preprocess", "voi", "fusion", "features", "seed") if k in old}
    else:
        data = manifest.get("scan") or {}
    try:
        return ScanSettings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ModelFileError(f"stored settings are invalid at '{'.'.join(map(str, err['loc']))}': {err['msg']}.",
                             file=str(path), fix="re-train the model with this radscore version.") from None


def _read_booster(path: Path, manifest: dict):
    import xgboost

    saved = manifest["versions"].get("xgboost", "?")
    if saved.split(".")[0] != xgboost.__version__.split(".")[0]:
        logger.warning("model saved with XGBoost %s, loading with %s", saved, xgboost.__version__)
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(path.read_bytes()))
    except xgboost.core.XGBoostError as exc:
        raise ModelFileError(f"XGBoost cannot read the model ({exc}).", file=str(path)) from None
    return booster


def _read_forest(path: Path, n_features: int) -> ForestArrays:
    """The forest's arrays, every field validated (json and numpy only, nothing executed)."""
    try:
        return ForestArrays.from_json(_read_json(path), n_features)
    except ValueError as exc:
        raise ModelFileError(f"invalid random forest: {exc}.", file=str(path),
                             fix="re-export the model; the file is damaged or not written by radscore.") from None


def _read_encoders(folder: Path, manifest: dict, preprocessing: dict) -> DeepEncoders | None:
    """The stored crop encoders when the model's inputs include deep features, else None.

    Only files the (hash-checked, signed) manifest lists are read, so an encoder slipped
    into the folder afterwards is never used.
    """
    wants = [f for f in preprocessing.get("input_features", []) if str(f).startswith(DEEP_PREFIX)]
    name = manifest.get("deep_encoder")
    if not wants:
        return None
    listed = manifest["files"]
    if name != ENCODER_SETTINGS or name not in listed:
        raise ModelFileError(f"the model uses deep features ({wants[0]}, ...) and lists no encoder.",
                             file=str(folder / MANIFEST), fix="re-export the model with this radscore version.")
    deep = DeepEncoders.from_files(folder, listed=listed)
    absent = sorted(set(wants) - set(deep.columns()))
    if absent:
        raise ModelFileError(f"the stored encoder does not make the model's features {absent[:3]}.",
                             file=str(folder / ENCODER_SETTINGS), fix="re-export the model; it is inconsistent.")
    return deep


def load_model(folder: str | Path, *, trusted_key: str | Path | None = None) -> LoadedModel:
    """Read and verify an artifact folder written by :func:`save_model`.

    Parameters
    ----------
    folder : path
        The model folder.
    trusted_key : path, optional
        Ed25519 public key (PEM). When given, the model must carry a signature by this key
        (:func:`radscore.modeling.signing.sign_model`) over its manifest, else it is refused:
        this is what detects a deliberately edited model. Without it, only the hashes are
        checked, which detect corruption but not an edit whose hashes were recomputed.

    Raises
    ------
    ModelFileError
        Missing folder or file, hash mismatch (damaged file), unknown format, a format
        version newer than this radscore reads, or (with ``trusted_key``) a missing or
        invalid signature.
    """
    folder = Path(folder)
    mpath = folder / MANIFEST
    if not mpath.is_file():
        raise ModelFileError("no manifest.json: this is not a radscore model folder.", file=str(folder),
                             fix="pass the folder written by the training run (DIR/models/<name>).")
    signed_by = None
    if trusted_key is not None:
        from radscore.modeling.signing import verify_model

        # before anything in the manifest is believed: a forged manifest may hold anything
        signed_by = verify_model(folder, trusted_key)
    manifest = _read_json(mpath)
    if manifest.get("format") != FORMAT:
        raise ModelFileError(f"unknown artifact format {manifest.get('format')!r}.", file=str(mpath))
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"artifact format version {version} is newer than this radscore reads "
                             f"({FORMAT_VERSION}).", file=str(mpath), fix="upgrade radscore.")
    claimed = manifest.pop("manifest_sha256", None)
    if claimed != sha256_bytes(_dumps(manifest)):
        raise ModelFileError("content hash mismatch: the manifest is damaged or was edited after saving.",
                             file=str(mpath), fix="use an intact copy of the model.")
    for fname, digest in manifest["files"].items():
        path = folder / fname
        if not path.is_file():
            raise ModelFileError("file listed in manifest.json is missing.", file=str(path),
                                 fix="copy the whole model folder.")
        if sha256_file(path) != digest:
            raise ModelFileError("content hash mismatch: the file is damaged or was edited after saving.",
                                 file=str(path), fix="use an intact copy of the model.")
    preprocessing = _read_json(folder / "preprocessing.json")
    model_file = manifest.get("model_file", XGBOOST_FILE)  # format <= 2: always XGBoost
    if model_file not in (XGBOOST_FILE, FOREST_FILE) or model_file not in manifest["files"]:
        raise ModelFileError(f"unknown or unlisted model file {model_file!r}.", file=str(mpath),
                             fix="re-export the model with this radscore version.")
    if model_file == FOREST_FILE:
        model = _read_forest(folder / FOREST_FILE, len(preprocessing.get("input_features", [])))
    else:
        model = _read_booster(folder / XGBOOST_FILE, manifest)
    loaded = LoadedModel(manifest, model, preprocessing, _read_json(folder / "feature_distribution.json"),
                         _scan_settings(manifest, mpath), _read_encoders(folder, manifest, preprocessing))
    loaded.content_hash = claimed
    loaded.signed_by = signed_by
    if signed_by is None:
        logger.debug("model %s loaded without a trusted key: its hashes show it is not corrupted, not who made it",
                     loaded.name)
    return loaded
