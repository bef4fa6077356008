"""From radscore's feature settings (or a PyRadiomics parameter file) to what the engine runs.

The extraction runner (:mod:`.runner`) is driven by one :class:`FeatureSpec`: for each
named image, the PyRadiomics image types, feature classes and PyRadiomics ``setting``
values (discretisation, ...), plus a fingerprint of all of it. :func:`spec_from_settings`
builds it from a study's :class:`~radscore.config.FeatureSettings`;
:func:`spec_from_params` from a user's PyRadiomics parameter file (``radscore extract``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from radscore.catalog import IMAGE_TYPES, SEED_IMAGE_TYPES, TEXTURE_CLASSES
from radscore.config import FeatureSettings
from radscore.errors import ConfigError

#: Bumped whenever a change to the engine can change a value (invalidates caches).
ENGINE_VERSION = "6"

#: PyRadiomics settings the engine implements at these values; anything else (resampling,
#: normalisation, re-segmentation, 2-D, voxel-based) runs through plain PyRadiomics.
ENGINE_SETTING_DEFAULTS: dict[str, Any] = {
    "resampledPixelSpacing": None, "normalize": False, "resegmentRange": None, "force2D": False,
    "voxelBased": False, "removeOutliers": None,
}


def canonical_image_types(image_types: dict[str, dict[str, Any] | None]) -> dict[str, dict[str, Any]]:
    """Image type keys in PyRadiomics' spelling (``original`` -> ``Original``), case-insensitively.

    Raises
    ------
    ConfigError
        For a name PyRadiomics does not know.
    """
    known = {name.lower(): name for name in IMAGE_TYPES}
    out = {}
    for key, custom in image_types.items():
        name = known.get(str(key).lower())
        if name is None:
            raise ConfigError(f"unknown image type '{key}'.", file="features.image_types",
                              fix=f"use one of: {', '.join(IMAGE_TYPES)}.")
        out[name] = dict(custom or {})
    return out


def seed_settings(**overrides: Any) -> FeatureSettings:
    """:class:`FeatureSettings` of the seed's protocol: 22 image types, 2060 features per VOI."""
    return FeatureSettings(image_types={k: dict(v) for k, v in SEED_IMAGE_TYPES.items()}, **overrides)


def discretisation(image: str, settings: FeatureSettings) -> dict[str, float]:
    """PyRadiomics discretisation of one image (fixed bin width; bin count for the fused image)."""
    if image == "ct":
        return {"binWidth": float(settings.bin_width_ct)}
    if image == "pet":
        return {"binWidth": float(settings.bin_width_pet)}
    return {"binCount": int(settings.bin_count_fused)}


@dataclass(frozen=True)
class FeatureSpec:
    """What the engine computes on each image of a scan.

    Attributes
    ----------
    images : tuple of str
        Image names in column order (``pet``, ``ct``, ``petct``; ``image`` for ``radscore extract``).
    vois : tuple of str or None
        VOIs to use (None: every VOI given).
    image_types : dict
        PyRadiomics ``imageType`` section, canonical spelling, PyRadiomics' order.
    classes : tuple of str
        Feature classes (``shape`` and the texture classes).
    kwargs : dict
        Image name -> PyRadiomics ``setting`` values for that image (``binWidth`` ...).
    fingerprint : str
        Hash of all of the above plus :data:`ENGINE_VERSION`: part of every cache key.
    """

    images: tuple[str, ...]
    vois: tuple[str, ...] | None
    image_types: dict[str, dict[str, Any]]
    classes: tuple[str, ...]
    kwargs: dict[str, dict[str, Any]]
    fingerprint: str

    @property
    def texture_classes(self) -> list[str]:
        return [c for c in self.classes if c in TEXTURE_CLASSES]

    def settings_for(self, image: str) -> dict[str, Any]:
        return dict(self.kwargs.get(image, self.kwargs.get("*", {})))


def _fingerprint(payload: dict[str, Any]) -> str:
    # the shape mesh takes its marching-cubes case table from PyMCubes (features.shape):
    # a new table there could change a value
    try:
        pymcubes = metadata.version("pymcubes")
    except metadata.PackageNotFoundError:
        pymcubes = "absent"
    blob = json.dumps({**payload, "engine": ENGINE_VERSION, "pymcubes": pymcubes}, sort_keys=True,
                      default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def _engine_only(image_types: dict[str, dict[str, Any]], where: str) -> None:
    outside = [t for t in image_types if not IMAGE_TYPES[t].in_engine]
    if outside:
        raise ConfigError(f"image type(s) {outside} are not available in radscore's extraction.", file=where,
                          fix=f"use: {', '.join(t for t, v in IMAGE_TYPES.items() if v.in_engine)}.")


def _base_kwargs() -> dict[str, Any]:
    return {"label": 1, "additionalInfo": False, "resampledPixelSpacing": None, "normalize": False,
            "correctMask": False}


def spec_from_settings(settings: FeatureSettings) -> FeatureSpec:
    """The spec of a study's feature settings (columns ``{image}_{voi}_{pyradiomics name}``)."""
    image_types = canonical_image_types(settings.image_types)
    _engine_only(image_types, "features.image_types")
    kwargs = {img: {**_base_kwargs(), **discretisation(img, settings)} for img in settings.images}
    payload = {"image_types": settings.image_types, "feature_classes": sorted(settings.feature_classes),
               "bin_width_ct": settings.bin_width_ct, "bin_width_pet": settings.bin_width_pet,
               "bin_count_fused": settings.bin_count_fused}
    return FeatureSpec(images=tuple(settings.images), vois=tuple(settings.vois), image_types=image_types,
                       classes=tuple(settings.feature_classes), kwargs=kwargs, fingerprint=_fingerprint(payload))


def engine_covers(setting: dict[str, Any], image_types: dict[str, Any], classes: Any) -> bool:
    """Whether the engine computes a PyRadiomics parameter file exactly (else plain PyRadiomics does)."""
    whole_classes = classes is None or (isinstance(classes, dict) and all(not v for v in classes.values()))
    return (whole_classes and all(IMAGE_TYPES[t].in_engine for t in image_types)
            and all(setting.get(k, d) in (d, None, False) for k, d in ENGINE_SETTING_DEFAULTS.items()))


def spec_from_params(params: dict[str, Any], image: str = "image") -> FeatureSpec:
    """The spec of a PyRadiomics parameter file (``setting``, ``imageType``, ``featureClass``).

    Only for files the engine covers (:func:`engine_covers`); one image, one VOI ``roi``.
    """
    setting = {**dict(params.get("setting") or {}), "additionalInfo": False, "label": 1}
    image_types = canonical_image_types(params.get("imageType") or {"Original": {}})
    classes = params.get("featureClass")
    names = tuple(classes) if classes else ("shape", *TEXTURE_CLASSES)
    payload = {"setting": setting, "image_types": image_types, "classes": names}
    return FeatureSpec(images=(image,), vois=None, image_types=image_types, classes=names,
                       kwargs={image: setting}, fingerprint=_fingerprint(payload))


def settings_fingerprint(settings: FeatureSettings) -> str:
    """Fingerprint of a study's feature settings (see :class:`FeatureSpec`)."""
    return spec_from_settings(settings).fingerprint
