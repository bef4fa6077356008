"""Deep features: a small 3-D convolutional autoencoder over PET and CT crops (PROTOCOL B2).

The mCRC seed feeds PET/CT crops around the tumour through a 3-D CNN. Here the encoder
of a convolutional autoencoder (one per modality) gives ``latent_size`` features per
crop, named ``deep_pet_00...`` and ``deep_ct_00...``; they join the hand-crafted features
in the same selection and models. Weights come from a state-dict file the user names
(``torch.save(model.state_dict(), path)``; loaded with ``torch.load(weights_only=True)``,
which executes no code) or, by default, from self-supervised training on the cohort's
**training** crops only, so testing images never shape the encoder.

Training is reproducible on CPU: the seed fixes initialisation and batch order,
``torch.use_deterministic_algorithms(True)`` and one thread remove non-deterministic
kernels and reduction order; the previous global torch settings are restored afterwards.

PyTorch is an optional extra (``pip install radscore[deep]``); without it
:func:`add_deep_features` returns the features unchanged with a note saying why.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from radscore.errors import DataError, ModelFileError

logger = logging.getLogger(__name__)

MODALITIES = ("pet", "ct")


def torch_available() -> bool:
    """True when PyTorch can be imported."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def normalise_crop(crop: np.ndarray, modality: str) -> np.ndarray:
    """Fixed-scale intensity normalisation: CT HU clipped to [-1000, 1000] / 1000; PET SUV / 10 clipped to [0, 3].

    Fixed scales (not per-crop z-scores) keep absolute intensity, which is what
    distinguishes tumours; they match the units the pipeline produces (HU, SUVbw).
    """
    if modality == "ct":
        return np.clip(crop, -1000.0, 1000.0) / 1000.0
    if modality == "pet":
        return np.clip(crop / 10.0, 0.0, 3.0)
    raise DataError(f"unknown modality '{modality}'.", fix="use pet or ct.")


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
        """Load a state dict saved by :meth:`save_weights` (``torch.load(weights_only=True)``)."""
        import torch

        path = Path(path)
        if not path.is_file():
            raise ModelFileError("deep-feature weights file not found.", file=str(path),
                                 fix="set analyses.deep.weights to a state-dict file, or null to train one.")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a bad file; all mean "not a state dict"
            raise ModelFileError(f"not a PyTorch state-dict file ({exc.__class__.__name__}).", file=str(path),
                                 fix="save weights with torch.save(model.state_dict(), path).") from None
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

    def save_weights(self, path: str | Path) -> None:
        """Write the state dict (tensors only, no pickled code objects)."""
        import io

        import torch

        from radscore.runtime.files import atomic_write_bytes

        buf = io.BytesIO()
        torch.save(self.model_.state_dict(), buf)
        atomic_write_bytes(Path(path), buf.getvalue())

    def transform(self, X) -> np.ndarray:
        """Encoder outputs, (n, latent_size)."""
        if not hasattr(self, "model_"):
            raise DataError("the autoencoder is not fitted.", fix="call fit or load_weights first.")
        X = self._check(X)
        with _deterministic_torch(self.random_state) as torch:
            self.model_.eval()
            with torch.no_grad():
                return self.model_.encoder(torch.from_numpy(X[:, None])).numpy().astype(float)


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


def add_deep_features(features: pd.DataFrame, crops: Mapping[tuple[str, str, str], Mapping[str, np.ndarray]] | None,
                      settings, training_ids: Iterable[str], seed: int = 0,
                      weights_dir: str | Path | None = None) -> tuple[pd.DataFrame, str]:
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
        in the name, e.g. ``encoder_{modality}.pt``), ``epochs``, ``latent_size``,
        ``crop_size``, ``learning_rate``.
    training_ids : iterable of str
        Patients whose baseline crops train the encoder (never testing patients).
    weights_dir : path, optional
        Where trained weights are saved (``deep_<modality>.pt``) for reuse and scoring.

    Returns
    -------
    (DataFrame, str)
        The table (unchanged when skipped) and a note for the report.
    """
    if not settings.enabled:
        return features, "deep features disabled (analyses.deep.enabled: false)"
    if not torch_available():
        return features, "deep features skipped: PyTorch is not installed (pip install 'radscore[deep]')"
    if not crops:
        return features, "deep features skipped: no image crops were provided"
    keys = [tuple(map(str, k)) for k in features[["patient_id", "timepoint", "lesion_id"]].itertuples(index=False)]
    missing = [k for k in keys if k not in crops]
    if missing:
        raise DataError(f"{len(missing)} feature rows have no crop, e.g. {missing[0]}.", fix="crop every scored lesion.")
    train = set(map(str, training_ids))
    out, notes = features.copy(), []
    X = {mod: np.stack([normalise_crop(np.asarray(crops[k][mod], float), mod) for k in keys]) for mod in MODALITIES}
    encoders = {mod: CropAutoEncoder(crop_size=settings.crop_size, latent_size=settings.latent_size,
                                     epochs=settings.epochs, learning_rate=settings.learning_rate, random_state=seed)
                for mod in MODALITIES}
    if settings.weights:
        for mod, ae in encoders.items():
            ae.load_weights(str(settings.weights).replace("{modality}", mod))
            notes.append(f"{mod}: weights from {settings.weights.replace('{modality}', mod)}")
    else:
        fit_rows = [i for i, k in enumerate(keys) if k[0] in train and k[1] == "baseline"]
        if len(fit_rows) < 2:
            raise DataError("fewer than 2 training crops to train the autoencoder.", fix="check the split.")
        fit_together(list(encoders.values()), [X[mod][fit_rows] for mod in encoders])
        for mod, ae in encoders.items():
            notes.append(f"{mod}: autoencoder trained on {len(fit_rows)} training crops, final MSE "
                         f"{ae.loss_curve_[-1]:.4g}")
            if weights_dir is not None:
                ae.save_weights(Path(weights_dir) / f"deep_{mod}.pt")
    for mod, ae in encoders.items():
        Z = ae.transform(X[mod])
        width = max(2, len(str(settings.latent_size - 1)))
        for j in range(Z.shape[1]):
            out[f"deep_{mod}_{j:0{width}d}"] = Z[:, j]
    return out, "; ".join(notes)
