"""Deep features: a small 3-D convolutional autoencoder over PET and CT crops (PROTOCOL B2).

The mCRC seed feeds PET/CT crops around the tumour through a 3-D CNN. Here the encoder
of a convolutional autoencoder (one per modality) gives ``latent_size`` features per
crop, named ``deep_pet_00...`` and ``deep_ct_00...``; they are candidates of the TME
Rad-Score with the hand-crafted features (``catalog.DEEP_MODELS``). Weights come from a
state-dict file the user names (``.npz`` of the state dict's arrays, read with
``numpy.load(allow_pickle=False)``, or ``torch.save(model.state_dict(), path)``, read with
``torch.load(weights_only=True)``; neither executes code) or, by default, from
self-supervised training on the cohort's **training** crops only, so testing images never
shape the encoder. :class:`DeepEncoders` holds the fitted encoders with their crop size and
normalisation; a model artifact that selected a deep feature stores them
(:meth:`DeepEncoders.to_files`), so ``radscore predict`` computes the same features.

Training is reproducible on CPU: the seed fixes initialisation and batch order,
``torch.use_deterministic_algorithms(True)`` and one thread remove non-deterministic
kernels and reduction order; the previous global torch settings are restored afterwards.

PyTorch is an optional extra (``pip install radscore[deep]``); without it
:func:`add_deep_features` returns the features unchanged with a note saying why.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from radscore.errors import DataError, ModelFileError

logger = logging.getLogger(__name__)

MODALITIES = ("pet", "ct")
#: Fixed intensity scales per modality: clip to [low, high], then divide by ``divide_by``.
NORMALISATION: dict[str, dict[str, float]] = {"ct": {"low": -1000.0, "high": 1000.0, "divide_by": 1000.0},
                                              "pet": {"low": 0.0, "high": 30.0, "divide_by": 10.0}}
#: A model artifact's encoder files: the settings, and one state dict per modality.
ENCODER_SETTINGS = "encoder.json"


def encoder_file(modality: str) -> str:
    """The artifact file of ``modality``'s encoder weights (``encoder_pet.npz``)."""
    return f"encoder_{modality}.npz"


def deep_columns(modality: str, latent_size: int) -> list[str]:
    """``deep_<modality>_00`` ... one column per latent unit, zero-padded to sort in order."""
    width = max(2, len(str(latent_size - 1)))
    return [f"deep_{modality}_{j:0{width}d}" for j in range(latent_size)]


def torch_available() -> bool:
    """True when PyTorch can be imported."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def normalise_crop(crop: np.ndarray, modality: str,
                   normalisation: Mapping[str, Mapping[str, float]] = NORMALISATION) -> np.ndarray:
    """Fixed-scale intensity normalisation (:data:`NORMALISATION`): CT HU clipped to [-1000, 1000]
    / 1000; PET SUV clipped to [0, 30] / 10.

    Fixed scales (not per-crop z-scores) keep absolute intensity, which is what
    distinguishes tumours; they match the units the pipeline produces (HU, SUVbw).
    """
    if modality not in normalisation:
        raise DataError(f"unknown modality '{modality}'.", fix="use pet or ct.")
    n = normalisation[modality]
    return np.clip(crop, n["low"], n["high"]) / n["divide_by"]


@contextlib.contextmanager
def _deterministic_torch(seed: int):
    """Seeded, deterministic, single-threaded torch; restores the previous global settings."""
    import torch

    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield torch
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def _build(size: int, latent: int):
    """Encoder 3 x (Conv3d stride 2 + ReLU) -> Linear; decoder the mirror with ConvTranspose3d."""
    import torch
    from torch import nn

    if size % 8:
        raise DataError(f"crop size {size} must be a multiple of 8.", fix="set analyses.deep.crop_size to 32 or 48.")
    s = size // 8

    class AutoEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv3d(1, 8, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv3d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv3d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                nn.Flatten(), nn.Linear(32 * s**3, latent),
            )
            self.decoder = nn.Sequential(
                nn.Linear(latent, 32 * s**3), nn.ReLU(), nn.Unflatten(1, (32, s, s, s)),
                nn.ConvTranspose3d(32, 16, 4, stride=2, padding=1), nn.ReLU(),
                nn.ConvTranspose3d(16, 8, 4, stride=2, padding=1), nn.ReLU(),
                nn.ConvTranspose3d(8, 1, 4, stride=2, padding=1),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.decoder(self.encoder(x))

    return AutoEncoder()


class CropAutoEncoder:
    """Self-supervised 3-D convolutional autoencoder for one modality (scikit-learn style).

    Parameters
    ----------
    crop_size : int
        Edge of the cubic crops (multiple of 8).
    latent_size : int
        Features per crop.
    epochs, learning_rate, batch_size : training of the reconstruction (MSE, Adam).
    random_state : int

    Attributes
    ----------
    model_ : torch.nn.Module
    loss_curve_ : list of float
        Mean training loss per epoch (empty when weights were loaded).
    """

    def __init__(self, *, crop_size: int = 32, latent_size: int = 16, epochs: int = 30, learning_rate: float = 1e-3,
                 batch_size: int = 8, random_state: int = 0):
        self.crop_size = crop_size
        self.latent_size = latent_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.random_state = random_state

    def _check(self, X) -> np.ndarray:
        X = np.asarray(X, np.float32)
        want = (self.crop_size,) * 3
        if X.ndim != 4 or X.shape[1:] != want:
            raise DataError(f"crops must have shape (n, {self.crop_size}, {self.crop_size}, {self.crop_size}), "
                            f"got {X.shape}.", fix="cut crops with radscore.imaging.crop.crop_lesion(..., crop_size).")
        return X

    def fit(self, X) -> CropAutoEncoder:
        """Train on crops ``X`` (n, s, s, s) by reconstruction."""
        fit_together([self], [X])
        return self

    def _train(self, torch, model, X: np.ndarray) -> None:
        """The training loop; its randomness is its own generator's, so it may run in a thread."""
        opt = torch.optim.Adam(model.parameters(), lr=self.learning_rate)
        data = torch.from_numpy(X[:, None])
        gen = torch.Generator().manual_seed(self.random_state)
        losses = []
        model.train()
        for _ in range(self.epochs):
            order = torch.randperm(len(data), generator=gen)
            total = 0.0
            for i in range(0, len(data), self.batch_size):
                batch = data[order[i:i + self.batch_size]]
                opt.zero_grad()
                loss = torch.nn.functional.mse_loss(model(batch), batch)
                loss.backward()
                opt.step()
                total += loss.item() * len(batch)
            losses.append(total / len(data))
        self.model_, self.loss_curve_ = model, losses

    def load_weights(self, path: str | Path) -> CropAutoEncoder:
        """Load a state dict: ``.npz`` of its arrays (:meth:`save_weights`, read with
        ``numpy.load(allow_pickle=False)``), else a ``torch.save`` file (``torch.load(weights_only=True)``).

        Neither format executes code on loading.
        """
        import torch

        path = Path(path)
        if not path.is_file():
            raise ModelFileError("deep-feature weights file not found.", file=str(path),
                                 fix="set analyses.deep.weights to a state-dict file, or null to train one.")
        try:
            if path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as data:
                    state = {k: torch.from_numpy(np.array(data[k])) for k in data.files}
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # numpy and torch raise many types for a bad file; all mean "not a state dict"
            raise ModelFileError(f"not a state-dict file ({exc.__class__.__name__}).", file=str(path),
                                 fix="save weights as .npz of the state dict's arrays, or with "
                                     "torch.save(model.state_dict(), path).") from None
        with _deterministic_torch(self.random_state):
            model = _build(self.crop_size, self.latent_size)
        try:
            model.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise ModelFileError(f"weights do not fit the encoder (crop {self.crop_size}, latent "
                                 f"{self.latent_size}): {str(exc).splitlines()[0]}", file=str(path),
                                 fix="use weights saved with the same crop_size and latent_size.") from None
        self.model_, self.loss_curve_ = model, []
        return self

    def weights_bytes(self) -> bytes:
        """The state dict as ``.npz`` bytes (plain arrays, equal bytes for equal weights)."""
        from radscore.runtime.files import npz_bytes

        return npz_bytes({k: v.detach().cpu().numpy() for k, v in self.model_.state_dict().items()})

    def save_weights(self, path: str | Path) -> None:
        """Write the state dict as ``.npz`` (:meth:`weights_bytes`; no pickle)."""
        from radscore.runtime.files import atomic_write_bytes

        atomic_write_bytes(Path(path), self.weights_bytes())

    def transform(self, X) -> np.ndarray:
        """Encoder outputs, (n, latent_size)."""
        if not hasattr(self, "model_"):
            raise DataError("the autoencoder is not fitted.", fix="call fit or load_weights first.")
        X = self._check(X)
        with _deterministic_torch(self.random_state) as torch:
            self.model_.eval()
            with torch.no_grad():
                # one crop at a time: a crop's features never depend on which crops share its batch
                # (a batched matmul may sum in another order), so a scan scored alone gets the study's
                rows = [self.model_.encoder(torch.from_numpy(x[None, None])).numpy()[0] for x in X]
        return np.stack(rows).astype(float) if rows else np.empty((0, self.latent_size))


def fit_together(encoders: list[CropAutoEncoder], Xs: list) -> None:
    """Train several autoencoders at once, one Python thread each (the PET and CT encoders).

    Each model is initialised in turn from its own seed, then trained in its own thread;
    torch runs every operation single-threaded in the thread that calls it, so each result
    is bit for bit its sequential fit's, on any number of cores.
    """
    from concurrent.futures import ThreadPoolExecutor

    Xs = [e._check(X) for e, X in zip(encoders, Xs)]
    with _deterministic_torch(encoders[0].random_state) as torch:
        models = []
        for e in encoders:
            torch.manual_seed(e.random_state)
            models.append(_build(e.crop_size, e.latent_size))
        with ThreadPoolExecutor(len(encoders)) as pool:
            list(pool.map(lambda args: args[0]._train(torch, *args[1:]), zip(encoders, models, Xs)))


@dataclass(frozen=True)
class DeepEncoders:
    """Fitted encoders, one per modality, and how they read a crop: what makes the deep features.

    Attributes
    ----------
    encoders : dict of str to CropAutoEncoder
        Fitted or loaded, by modality (``pet``, ``ct``).
    crop_size, latent_size : int
    normalisation : dict
        Per modality ``low``, ``high``, ``divide_by`` (:func:`normalise_crop`).
    training : dict
        How the weights were obtained (trained: epochs, learning rate, seed, crops; or the
        weights file), for the record.
    """

    encoders: dict[str, CropAutoEncoder]
    crop_size: int
    latent_size: int
    normalisation: dict[str, dict[str, float]] = field(default_factory=lambda: {m: dict(v) for m, v in
                                                                               NORMALISATION.items()})
    training: dict = field(default_factory=dict)

    def columns(self) -> list[str]:
        """The feature columns, ``deep_pet_00``..., in table order."""
        return [c for mod in self.encoders for c in deep_columns(mod, self.latent_size)]

    def transform(self, crops: Sequence[Mapping[str, np.ndarray]]) -> pd.DataFrame:
        """Deep features of each crop pair (raw SUV/HU cubes by modality): one row per crop, :meth:`columns`."""
        out = {}
        for mod, ae in self.encoders.items():
            X = np.stack([normalise_crop(np.asarray(c[mod], float), mod, self.normalisation) for c in crops]) \
                if len(crops) else np.empty((0,) + (self.crop_size,) * 3)
            out.update(zip(deep_columns(mod, self.latent_size), ae.transform(X).T))
        return pd.DataFrame(out, columns=self.columns())

    def restricted(self, modalities: Iterable[str]) -> DeepEncoders:
        """The encoders of ``modalities`` only (those whose features a model selected)."""
        keep = set(modalities)
        return DeepEncoders({m: ae for m, ae in self.encoders.items() if m in keep}, self.crop_size,
                            self.latent_size, {m: n for m, n in self.normalisation.items() if m in keep},
                            dict(self.training))

    def to_files(self) -> dict[str, bytes]:
        """:data:`ENCODER_SETTINGS` (JSON) and one :func:`encoder_file` per modality, as bytes."""
        doc = {"format": "radscore-crop-encoder", "format_version": 1, "modalities": list(self.encoders),
               "crop_size": self.crop_size, "crop_spacing_mm": 1.0, "latent_size": self.latent_size,
               "normalisation": self.normalisation, "columns": self.columns(), "training": self.training,
               "architecture": "3 x (Conv3d 3^3 stride 2 + ReLU) -> Linear (radscore.features.deep._build); "
                               "the features are the encoder's outputs"}
        files = {ENCODER_SETTINGS: (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()}
        files.update({encoder_file(m): ae.weights_bytes() for m, ae in self.encoders.items()})
        return files

    @classmethod
    def from_files(cls, folder: str | Path, *, listed: Iterable[str] | None = None) -> DeepEncoders:
        """Read what :meth:`to_files` wrote (JSON and ``.npz`` arrays only; nothing is executed).

        Parameters
        ----------
        folder : path
        listed : iterable of str, optional
            The files the caller has verified (a model manifest's hash-checked list); a
            weights file not among them is refused.

        Raises
        ------
        ModelFileError
            Unreadable or invalid settings, an unlisted or unfitting weights file, or no PyTorch.
        """
        folder = Path(folder)
        path = folder / ENCODER_SETTINGS
        if not torch_available():
            raise ModelFileError("the model uses deep features and PyTorch is not installed.", file=str(path),
                                 fix="pip install 'radscore[deep]'.")
        try:
            doc = json.loads(path.read_text())
            mods, crop, latent = doc["modalities"], doc["crop_size"], doc["latent_size"]
            norm = {m: {k: float(doc["normalisation"][m][k]) for k in ("low", "high", "divide_by")} for m in mods}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"invalid encoder settings ({exc.__class__.__name__}: {exc}).", file=str(path),
                                 fix="re-export the model; the file is damaged or not written by radscore.") from None
        if (doc.get("format") != "radscore-crop-encoder" or doc.get("format_version") != 1
                or not set(mods) <= set(MODALITIES) or not mods or type(crop) is not int or type(latent) is not int
                or crop < 8 or crop % 8 or latent < 1 or doc.get("crop_spacing_mm") != 1.0):
            raise ModelFileError("invalid encoder settings (format, modalities, crop_size, latent_size or crop "
                                 "spacing).", file=str(path), fix="re-export the model with this radscore version.")
        unlisted = [encoder_file(m) for m in mods if listed is not None and encoder_file(m) not in set(listed)]
        if unlisted:
            raise ModelFileError(f"encoder weights {unlisted} are not listed in the model's manifest.",
                                 file=str(folder / unlisted[0]), fix="re-export the model; it is inconsistent.")
        encoders = {m: CropAutoEncoder(crop_size=crop, latent_size=latent).load_weights(folder / encoder_file(m))
                    for m in mods}
        return cls(encoders, crop, latent, norm, dict(doc.get("training") or {}))


def add_deep_features(features: pd.DataFrame, crops: Mapping[tuple[str, str, str], Mapping[str, np.ndarray]] | None,
                      settings, training_ids: Iterable[str], seed: int = 0,
                      weights_dir: str | Path | None = None) -> tuple[pd.DataFrame, str, DeepEncoders | None]:
    """Append ``deep_<modality>_<k>`` columns to the feature table.

    Parameters
    ----------
    features : DataFrame
        One row per ``patient_id, timepoint, lesion_id``.
    crops : mapping
        ``(patient_id, timepoint, lesion_id) -> {"pet": cube, "ct": cube}`` of raw
        SUV/HU crops (:func:`radscore.imaging.crop.crop_lesion`), each ``crop_size``^3.
    settings : DeepFeatureSettings
        ``enabled``, ``weights`` (a file per modality: ``<weights>`` with ``{modality}``
        in the name, e.g. ``encoder_{modality}.npz``), ``epochs``, ``latent_size``,
        ``crop_size``, ``learning_rate``.
    training_ids : iterable of str
        Patients whose baseline crops train the encoder (never testing patients).
    weights_dir : path, optional
        Where trained weights are saved (``deep_<modality>.npz``) for reuse.

    Returns
    -------
    (DataFrame, str, DeepEncoders or None)
        The table (unchanged when skipped), a note for the report, and the encoders that
        made the features (None when skipped).
    """
    if not settings.enabled:
        return features, "deep features disabled (analyses.deep.enabled: false)", None
    if not torch_available():
        return features, "deep features skipped: PyTorch is not installed (pip install 'radscore[deep]')", None
    if not crops:
        return features, "deep features skipped: no image crops were provided", None
    keys = [tuple(map(str, k)) for k in features[["patient_id", "timepoint", "lesion_id"]].itertuples(index=False)]
    missing = [k for k in keys if k not in crops]
    if missing:
        raise DataError(f"{len(missing)} feature rows have no crop, e.g. {missing[0]}.", fix="crop every scored lesion.")
    train = set(map(str, training_ids))
    notes = []
    encoders = {mod: CropAutoEncoder(crop_size=settings.crop_size, latent_size=settings.latent_size,
                                     epochs=settings.epochs, learning_rate=settings.learning_rate, random_state=seed)
                for mod in MODALITIES}
    if settings.weights:
        for mod, ae in encoders.items():
            ae.load_weights(str(settings.weights).replace("{modality}", mod))
            notes.append(f"{mod}: weights from {settings.weights.replace('{modality}', mod)}")
        training = {"weights": str(settings.weights)}
    else:
        fit_rows = [i for i, k in enumerate(keys) if k[0] in train and k[1] == "baseline"]
        if len(fit_rows) < 2:
            raise DataError("fewer than 2 training crops to train the autoencoder.", fix="check the split.")
        fit_together(list(encoders.values()),
                     [np.stack([normalise_crop(np.asarray(crops[keys[i]][mod], float), mod) for i in fit_rows])
                      for mod in encoders])
        for mod, ae in encoders.items():
            notes.append(f"{mod}: autoencoder trained on {len(fit_rows)} training crops, final MSE "
                         f"{ae.loss_curve_[-1]:.4g}")
            if weights_dir is not None:
                ae.save_weights(Path(weights_dir) / f"deep_{mod}.npz")
        training = {"epochs": settings.epochs, "learning_rate": settings.learning_rate, "seed": seed,
                    "training_crops": len(fit_rows)}
    fitted = DeepEncoders(encoders, settings.crop_size, settings.latent_size, training=training)
    deep = fitted.transform([crops[k] for k in keys]).set_axis(features.index)
    return pd.concat([features, deep], axis=1), "; ".join(notes), fitted
