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
import math
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from radscore.catalog import IMAGE_TYPES, SEED_IMAGE_TYPES, TEXTURE_CLASSES
from radscore.config import FeatureSettings
from radscore.errors import ConfigError

#: Bumped whenever a change to the engine can change a value (invalidates caches).
ENGINE_VERSION = "6"

#: PyRadiomics ``setting`` keys (3.1.4's parameter schema) computed exactly at any value:
#: by the engine (discretisation, texture and filter settings), or by ``radscore extract``
#: before it (``normalize``, ``resegment*``, the ROI checks; :mod:`.commands`).
ENGINE_SETTINGS = frozenset({
    "label", "additionalInfo", "geometryTolerance", "correctMask", "minimumROIDimensions", "minimumROISize",
    "binWidth", "binCount", "voxelArrayShift", "distances", "symmetricalGLCM", "weightingNorm", "gldm_a",
    "force2D", "force2Ddimension", "normalize", "normalizeScale", "removeOutliers", "resegmentRange",
    "resegmentMode", "resegmentShape", "sigma", "start_level", "level", "wavelet", "gradientUseSpacing",
    "lbp3DLevels", "lbp3DIcosphereRadius", "lbp3DIcosphereSubdivision",
})

#: Keys that change nothing in a segment-based extraction on the image's own grid:
#: voxel-based settings (``radscore extract`` is segment-based), the interpolator and
#: padding of resampling (refused itself), LBP2D's (the image type is refused).
INERT_SETTINGS = frozenset({
    "kernelRadius", "maskedKernel", "initValue", "voxelBatch", "interpolator", "padDistance", "label_channel",
    "lbp2DRadius", "lbp2DSamples", "lbp2DMethod",
})

#: Keys accepted only at PyRadiomics' default (value, the fix to tell the user).
DEFAULT_ONLY_SETTINGS: dict[str, tuple[Any, str]] = {
    "resampledPixelSpacing": (None, ("resample the image and mask beforehand (e.g. with SimpleITK), or use the "
                                     "study-style extract (--ct/--pet/--mask), which resamples as the study does")),
    "preCrop": (False, ("remove preCrop: the engine filters the whole image, which gives the values of "
                        "preCrop: false")),
}

#: Value types of the settings radscore reads, from PyRadiomics' parameter schema
#: (radiomics/schemas/paramSchema.yaml): key -> (type, lowest, lowest excluded, highest).
#: PyRadiomics refuses a file that breaks them before extracting; radscore otherwise failed
#: deep inside (``int("x")`` for a label, a NaN bin width in the discretisation).
SETTING_VALUES: dict[str, tuple[type, float | None, bool, float | None]] = {
    "label": (int, 0, True, None), "minimumROIDimensions": (int, 1, False, 3), "minimumROISize": (int, 0, True, None),
    "geometryTolerance": (float, 0, True, None), "binWidth": (float, 0, True, None), "binCount": (int, 0, True, None),
    "voxelArrayShift": (int, None, False, None), "gldm_a": (int, 0, False, None),
    "force2Ddimension": (int, 0, False, 2), "normalizeScale": (float, 0, True, None),
    "removeOutliers": (float, 0, True, None), "start_level": (int, 0, False, None), "level": (int, 0, True, None),
    "lbp3DLevels": (int, 1, False, None), "lbp3DIcosphereRadius": (float, 0, True, None),
    "lbp3DIcosphereSubdivision": (int, 0, False, None),
    **{k: (bool, None, False, None) for k in ("additionalInfo", "correctMask", "symmetricalGLCM", "force2D",
                                              "normalize", "resegmentShape", "gradientUseSpacing", "preCrop")},
}
#: Settings holding a list of numbers: key -> (type of each, lowest excluded or None).
SETTING_LISTS: dict[str, tuple[type, float | None]] = {"distances": (int, 0), "sigma": (float, 0),
                                                       "resegmentRange": (float, None)}
WEIGHTING_NORMS = (None, "manhattan", "euclidean", "infinity", "no_weighting")
#: Settings whose PyRadiomics default is null (so null is a valid value; for the others it fails there too).
NULL_DEFAULTS = frozenset({"minimumROISize", "removeOutliers", "resegmentRange", "weightingNorm"})


def _value_problem(value: Any, kind: type, low: float | None, excluded: bool, high: float | None) -> str | None:
    """Why ``value`` is not a ``kind`` in range (None when it is)."""
    if kind is bool:
        return None if isinstance(value, bool) else "true or false"
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    bounds = ([f"{'>' if excluded else '>='} {low:g}"] if low is not None else []) + (
        [f"<= {high:g}"] if high is not None else [])
    wanted = ("a whole number" if kind is int else "a finite number") + (" " + " and ".join(bounds) if bounds else "")
    if not number or (kind is int and not isinstance(value, int)):
        return wanted
    if low is not None and (value <= low if excluded else value < low) or high is not None and value > high:
        return wanted
    return None


def setting_value_problems(setting: dict[str, Any]) -> list[str]:
    """The ``setting`` values outside PyRadiomics' parameter schema, one sentence each."""
    problems = []
    for key, value in setting.items():
        if value is None and key in NULL_DEFAULTS:
            continue
        if key in SETTING_VALUES:
            why = _value_problem(value, *SETTING_VALUES[key])
        elif key in SETTING_LISTS:
            kind, low = SETTING_LISTS[key]
            items_ok = (isinstance(value, list) and len(value) > 0
                        and all(_value_problem(v, kind, low, True, None) is None for v in value))
            why = None if items_ok else f"a non-empty list of {'whole' if kind is int else 'finite'} numbers" + (
                f" > {low:g}" if low is not None else "")
        elif key == "weightingNorm":
            why = None if value in WEIGHTING_NORMS else f"one of {', '.join(map(str, WEIGHTING_NORMS))}"
        else:
            continue
        if why is not None:
            problems.append(f"setting {key}: {value!r} is not {why}")
    return problems


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
        if custom is not None and not isinstance(custom, dict):
            raise ConfigError(f"image type '{key}' must map its parameters to values, got {custom!r}.",
                              file="features.image_types", fix="write {} for no parameters.")
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


def check_params(setting: dict[str, Any], image_types: dict[str, Any], classes: Any,
                 where: str = "params") -> None:
    """Refuse a PyRadiomics parameter file the engine would not compute exactly.

    Parameters
    ----------
    setting : dict
        The ``setting`` section.
    image_types : dict
        The ``imageType`` section, canonical spelling (:func:`canonical_image_types`).
    classes : dict or None
        The ``featureClass`` section (class -> feature names; empty / None = all).
    where : str
        The file named in the error.

    Raises
    ------
    ConfigError
        Naming every setting, image type or feature class outside the engine, with the fix.
    """
    from radscore.catalog import FEATURE_CLASSES

    problems, fixes = [], []
    values = setting_value_problems(setting)
    if values:
        problems += values
        fixes.append("use the values PyRadiomics' parameter schema allows")
    unknown = sorted(set(setting) - ENGINE_SETTINGS - INERT_SETTINGS - set(DEFAULT_ONLY_SETTINGS))
    if unknown:
        problems.append(f"unknown setting(s) {unknown}")
        fixes.append("check the spelling against PyRadiomics' parameter schema")
    for key, (default, fix) in DEFAULT_ONLY_SETTINGS.items():
        if setting.get(key, default) not in (default, None):
            problems.append(f"setting {key}: {setting[key]!r} is not supported by radscore's extraction")
            fixes.append(fix)
    outside = [t for t in image_types if not IMAGE_TYPES[t].in_engine]
    if outside:
        problems.append(f"image type(s) {outside} are not available in radscore's extraction")
        fixes.append(f"use: {', '.join(t for t, v in IMAGE_TYPES.items() if v.in_engine)}")
    if setting.get("force2D") and "Wavelet" in image_types:
        problems.append("force2D with the Wavelet image type (PyRadiomics then uses a 2-D wavelet) is not supported")
        fixes.append("drop force2D or the Wavelet image type")
    mode = setting.get("resegmentMode", "absolute")
    if mode not in ("absolute", "relative", "sigma"):
        problems.append(f"resegmentMode {mode!r} is not one of absolute, relative, sigma")
        fixes.append("use one of PyRadiomics' resegment modes")
    reseg = setting.get("resegmentRange")
    if reseg is not None and (not isinstance(reseg, list | tuple) or not 1 <= len(reseg) <= 2):
        problems.append(f"resegmentRange {reseg!r} must be a list of 1 or 2 thresholds")
        fixes.append("give [lower] or [lower, upper]")
    bad_classes = sorted(set(classes or {}) - set(FEATURE_CLASSES))
    if bad_classes:
        problems.append(f"feature class(es) {bad_classes} are not computed by radscore")
        fixes.append(f"use: {', '.join(FEATURE_CLASSES)}")
    if problems:
        raise ConfigError("; ".join(problems) + ".", file=where, fix="; ".join(fixes) + ".")


def engine_covers(setting: dict[str, Any], image_types: dict[str, Any], classes: Any) -> bool:
    """Whether :func:`check_params` accepts a PyRadiomics parameter file."""
    try:
        check_params(setting, image_types, classes)
    except ConfigError:
        return False
    return True


def spec_from_params(params: dict[str, Any], image: str = "image", classes: tuple[str, ...] | None = None
                     ) -> FeatureSpec:
    """The spec of a PyRadiomics parameter file (``setting``, ``imageType``, ``featureClass``).

    Only for files :func:`check_params` accepts; one image, VOIs as given. ``classes``
    overrides the file's feature classes (``radscore extract`` runs shape on its own mask
    when re-segmenting).
    """
    setting = {**dict(params.get("setting") or {}), "additionalInfo": False, "label": 1}
    image_types = canonical_image_types(params.get("imageType") or {"Original": {}})
    if classes is None:
        wanted = params.get("featureClass")
        classes = tuple(c for c in ("shape", *TEXTURE_CLASSES) if c in wanted) if wanted else None
    names = classes or ("shape", *TEXTURE_CLASSES)
    payload = {"setting": setting, "image_types": image_types, "classes": names}
    return FeatureSpec(images=(image,), vois=None, image_types=image_types, classes=names,
                       kwargs={image: setting}, fingerprint=_fingerprint(payload))


def settings_fingerprint(settings: FeatureSettings) -> str:
    """Fingerprint of a study's feature settings (see :class:`FeatureSpec`)."""
    return spec_from_settings(settings).fingerprint
