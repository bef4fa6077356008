"""The closed lists radscore knows, each written once: images, VOIs, Radscore models,
feature classes, image types (with their cost and the seed's parameters) and SUV methods.

The config's validation, the extraction engine, the models, the report and the command
line all read them from here; nothing else spells them out. No imports beyond the
standard library, so every layer may use this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The three images features are computed on (PROTOCOL A3), in column order.
IMAGES: tuple[str, ...] = ("pet", "ct", "petct")
IMAGE_TITLES = {"pet": "PET", "ct": "CT", "petct": "PET/CT"}

#: The four volumes of interest per image (PROTOCOL A4).
VOIS: tuple[str, ...] = ("tumor", "core", "ring", "tumor_ring")

#: The Radscore models (PROTOCOL A8) and the images whose features each may use.
#: ``tme`` is the mCRC seed's Rad-Score for the TME phenotype (PROTOCOL B3): PET and CT features
#: "extracted in parallel" (and the fused image's, when a study extracts it).
MODEL_IMAGES: dict[str, tuple[str, ...]] = {"pet": ("pet",), "ct": ("ct",), "petct": ("petct",),
                                           "comb": ("pet", "ct", "petct"), "tme": ("pet", "ct", "petct")}
MODELS: tuple[str, ...] = tuple(MODEL_IMAGES)
#: Column prefix of the deep features (PROTOCOL B2: a 3-D autoencoder over PET and CT crops), and
#: the models that take them as candidates: the mCRC seed's TME Rad-Score only ("hand-crafted
#: and/or deep features"); the NSCLC seed's Radscores are hand-crafted only.
DEEP_PREFIX = "deep_"
DEEP_MODELS: tuple[str, ...] = ("tme",)
#: The NSCLC seed's four Radscores (PROTOCOL A8), the default of ``model.models``.
NSCLC_MODELS: tuple[str, ...] = ("pet", "ct", "petct", "comb")
#: The acquired images (manifest columns), and those each image and model needs: the fused
#: image, hence the PET/CT- and COMB-Radscores, need both.
MODALITIES: tuple[str, ...] = ("pet", "ct")
IMAGE_MODALITIES: dict[str, tuple[str, ...]] = {"pet": ("pet",), "ct": ("ct",), "petct": MODALITIES}
MODEL_MODALITIES: dict[str, tuple[str, ...]] = {
    model: tuple(m for m in MODALITIES if any(m in IMAGE_MODALITIES[i] for i in images))
    for model, images in MODEL_IMAGES.items()}


def modalities_text(modalities, joiner: str = " and ") -> str:
    """``("pet", "ct")`` -> ``"PET and CT"``: modalities as messages and the report name them."""
    return joiner.join(m.upper() for m in modalities)


def feature_parts(column: str) -> tuple[str, str, str] | None:
    """``pet_tumor_ring_original_glcm_Contrast`` -> ``("pet", "tumor_ring", "original_glcm_Contrast")``.

    A feature table column is ``{image}_{voi}_{PyRadiomics name}``; None for any other column
    (identity columns, ``deep_*`` features, conventional PET measures).
    """
    for image in IMAGES:
        if not column.startswith(f"{image}_"):
            continue
        rest = column[len(image) + 1:]
        # the longest VOI first: "tumor_ring_..." is not "tumor" + "ring_..."
        for voi in sorted(VOIS, key=len, reverse=True):
            if rest.startswith(f"{voi}_"):
                return image, voi, rest[len(voi) + 1:]
    return None


MODEL_TITLES = {"pet": "PET-Radscore", "ct": "CT-Radscore", "petct": "PET/CT-Radscore", "comb": "COMB-Radscore",
                "tme": "TME Rad-Score"}

#: The two seeds' studies (``study:`` of study.yaml): which stages ``radscore run`` assembles.
STUDIES: tuple[str, ...] = ("nsclc", "mcrc")

#: PyRadiomics feature classes (PROTOCOL A5); shape depends on the mask only.
FEATURE_CLASSES: tuple[str, ...] = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
TEXTURE_CLASSES: tuple[str, ...] = FEATURE_CLASSES[1:]

#: SUV normalisations of DICOM PET (``radscore.imaging.suv``), name -> description.
SUV_METHODS: dict[str, str] = {
    "bw": "body weight",
    "lbm": "lean body mass (James)",
    "lbm_janma": "lean body mass (Janmahasatian)",
    "bsa": "body surface area (Mosteller)",
    "ibw": "ideal body weight",
}


@dataclass(frozen=True)
class ImageType:
    """One PyRadiomics image type.

    Attributes
    ----------
    name : str
        PyRadiomics' spelling (its ``get<Name>Image`` function).
    prefix : str
        How its feature names start (``original``, ``wavelet-LLH``, ``log-sigma-1-0-mm-3D``...).
    cost : float
        Relative CPU time of one instance (per LoG sigma, per wavelet level), measured with
        ``benchmarks/extraction.py`` (original 0.08 s, wavelet 0.6 s, LoG 0.24 s per sigma,
        LBP-3D 0.3 s per image). Only the balance of parallel tasks depends on it, never a value.
    seed_params : dict
        Parameters in the seed's protocol (PROTOCOL A5).
    in_engine : bool
        Whether radscore's engine computes it (else only plain PyRadiomics does).
    in_seed : bool
        Whether the seed's protocol uses it (the IBSI 2 filters are opt-in).
    """

    name: str
    prefix: str
    cost: float = 1.0
    seed_params: dict[str, Any] = field(default_factory=dict)
    in_engine: bool = True
    in_seed: bool = True

    def instances(self, params: dict[str, Any] | None) -> int:
        """How many filtered images these parameters give (LoG sigmas, wavelet levels), for the cost."""
        params = params or {}
        if self.name == "LoG":
            return max(1, len(params.get("sigma", [1])))
        return max(1, int(params.get("level", 1)))


#: IBSI 2 filter families (:mod:`radscore.features.ibsi2.dispatch`), image types ``ibsi2-<family>``
#: with the family's parameters plus ``boundary`` (default mirror) and ``dimensions`` (2D / 3D, default 3D).
IBSI2_FAMILIES: tuple[str, ...] = ("mean", "log", "laws", "gabor", "wavelet", "simoncelli", "riesz")

#: Every image type, in PyRadiomics' (and the feature table's) order; the seed uses all
#: but LBP2D: 22 filtered images (original, 8 wavelet, 5 LoG, 4 point-wise, gradient, 3 LBP-3D).
IMAGE_TYPES: dict[str, ImageType] = {t.name: t for t in (
    ImageType("Original", "original", 1.0),
    ImageType("Wavelet", "wavelet", 7.0),
    ImageType("LoG", "log", 3.0, {"sigma": [1.0, 2.0, 3.0, 4.0, 5.0]}),
    ImageType("Square", "square"),
    ImageType("SquareRoot", "squareroot"),
    ImageType("Logarithm", "logarithm"),
    ImageType("Exponential", "exponential"),
    ImageType("Gradient", "gradient"),
    ImageType("LBP2D", "lbp-2D", in_engine=False),
    ImageType("LBP3D", "lbp-3D", 4.0),
    # IBSI 2 filter mode (radscore.features.ibsi2): one filtered image per type, named by its prefix
    *(ImageType(f"ibsi2-{family}", f"ibsi2-{family}", 3.0, in_seed=False) for family in IBSI2_FAMILIES),
)}

#: The seed's 22 filtered images (PROTOCOL A5) in PyRadiomics' ``imageType`` format.
SEED_IMAGE_TYPES: dict[str, dict[str, Any]] = {
    name: dict(t.seed_params) for name, t in IMAGE_TYPES.items() if t.in_engine and t.in_seed}


def image_type_of(feature_prefix: str) -> ImageType:
    """The image type that produced a filtered image named ``feature_prefix`` (``wavelet-LLH`` -> Wavelet)."""
    head = feature_prefix.lower()
    matches = [t for t in IMAGE_TYPES.values() if head.startswith(t.prefix.lower())]
    if not matches:
        raise KeyError(feature_prefix)
    return max(matches, key=lambda t: len(t.prefix))  # "squareroot" is not "square"


#: Column prefix of the conventional PET measures in the feature table (``pet_conventional_SUVmax``):
#: compared with the Radscores, never inside them.
CONVENTIONAL_PREFIX = "pet_conventional_"
