"""The study configuration: one validated, frozen object built from ``study.yaml``.

One settings class per stage; a field's name is its YAML key. Unknown keys, wrong
types and impossible values are :class:`~radscore.errors.ConfigError` naming the key
(and, for unknown keys, the valid ones).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from radscore.catalog import (FEATURE_CLASSES, IMAGES, MODALITIES, MODELS, NSCLC_MODELS, SEED_IMAGE_TYPES, STUDIES,
                             SUV_METHODS, VOIS)
from radscore.errors import ConfigError

ImageName = Literal[IMAGES]  # type: ignore[valid-type]
VoiName = Literal[VOIS]  # type: ignore[valid-type]
ModelName = Literal[MODELS]  # type: ignore[valid-type]
Modality = Literal[MODALITIES]  # type: ignore[valid-type]
SuvMethod = Literal[tuple(SUV_METHODS)]  # type: ignore[valid-type]
FeatureClass = Literal[FEATURE_CLASSES]  # type: ignore[valid-type]


class _Settings(BaseModel):
    # no setting means anything by NaN or infinity (null is "none"): refused with the key named
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class EndpointSettings(_Settings):
    """The binary endpoint: a manifest column holding 0/1, 1 = positive class."""

    column: str = "ndb"
    positive_name: str = "NDB"
    negative_name: str = "DCB"


class SurvivalSettings(_Settings):
    """Manifest columns of survival endpoints (time in months, event 1 = progression/death)."""

    pfs_time: str | None = "pfs_months"
    pfs_event: str | None = "pfs_event"
    os_time: str | None = "os_months"
    os_event: str | None = "os_event"


class TablesSettings(_Settings):
    """Optional per-patient tables beside the manifest (CSV, one row per ``patient_id``)."""

    clinical: str | None = None
    expression: str | None = Field(None, description="RNA expression, patients x genes (log2 TPM)")
    cells: str | None = Field(None, description="immune/TME cell abundances, patients x cell types")


class SplitSettings(_Settings):
    """Random training/testing split at patient level (seeded by ``StudyConfig.seed``)."""

    test_fraction: float = Field(0.3, gt=0.0, lt=1.0)
    stratify: bool = True


class PreprocessSettings(_Settings):
    """Resampling of CT, PET and masks (PET is always brought onto the CT grid)."""

    spacing_mm: tuple[float, float, float] | None = Field(
        (1.0, 1.0, 1.0), description="target voxel spacing (x, y, z) in mm; null keeps the CT grid"
    )
    image_interpolator: Literal["linear", "bspline", "nearest"] = "bspline"
    pet_overshoot: Literal["clip", "keep"] = Field(
        "clip", description="B-spline resampling overshoots near hot spots (SUV above any source voxel): clip clamps "
        "the resampled PET to the source PET's range; keep leaves the overshoot (PyRadiomics' behaviour)"
    )
    mask_interpolation: Literal["nearest", "partial_volume"] = "nearest"
    min_mask_overlap: float = Field(
        0.9, gt=0.0, le=1.0, description="a mask on another grid than the image's is excluded (QC) when less than "
        "this fraction of its box lies inside the image (a mask of another scan, or with wrong geometry)"
    )
    registration: Literal["none", "rigid"] = "none"
    suv_method: SuvMethod = Field(
        "bw", description="SUV normalisation of DICOM PET: " + ", ".join(f"{k} ({v})" for k, v in SUV_METHODS.items())
    )
    crop_margin_mm: float | None = Field(
        None, gt=0.0, description="crop CT/PET to the tumour's box plus this margin before resampling "
        "(speeds up whole-body scans; must exceed voi.ring_mm plus the filters' reach); null keeps the whole image"
    )

    @field_validator("spacing_mm")
    @classmethod
    def _positive(cls, v):
        if v is not None and any(s <= 0 for s in v):
            raise ValueError(f"all spacings must be > 0 mm, got {list(v)}")
        return v


class VoiSettings(_Settings):
    """The four volumes of interest, distances in mm on the physical grid."""

    core_mm: float = Field(3.0, ge=0.0)
    ring_mm: float = Field(5.0, gt=0.0)
    body_threshold_hu: float = -500.0
    min_voxels: int = Field(10, ge=1)


class FusionSettings(_Settings):
    """PET/CT fusion into a third image."""

    method: Literal["wavelet", "weighted"] = "wavelet"
    wavelet: str = "db2"
    level: int = Field(1, ge=1, le=4)
    pet_weight: float = Field(0.5, ge=0.0, le=1.0)


class FeatureSettings(_Settings):
    """Feature extraction, PyRadiomics definitions."""

    image_types: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"original": {}},
        description="PyRadiomics image types and their parameters; the word 'seed' = the seed's 22 (2060 features "
                    "per VOI)")
    feature_classes: list[FeatureClass] = Field(default_factory=lambda: list(FEATURE_CLASSES))
    @field_validator("image_types", mode="before")
    @classmethod
    def _seed_shorthand(cls, v):
        if v == "seed":
            return {k: dict(p) for k, p in SEED_IMAGE_TYPES.items()}
        return v

    bin_width_ct: float = Field(25.0, gt=0.0)
    bin_width_pet: float = Field(0.25, gt=0.0)
    bin_count_fused: int = Field(64, ge=2)
    images: list[ImageName] = Field(default_factory=lambda: list(IMAGES))
    vois: list[VoiName] = Field(default_factory=lambda: list(VOIS))


class PetMeasureSettings(_Settings):
    """Conventional PET measures per scan on the native PET grid (``pet_conventional_*`` columns)."""

    enabled: bool = Field(True, description="SUVmax, SUVmean, SUVpeak (IBSI 1 cm^3 global peak), MTV and TLG")
    mtv_fraction: float = Field(0.41, gt=0.0, lt=1.0, description="MTV: tumour voxels >= this fraction of SUVmax")
    mtv_suv: float | None = Field(None, gt=0.0, description="MTV at a fixed SUV threshold instead (e.g. 2.5); "
                                                            "null = the fraction above")


class SelectionSettings(_Settings):
    """Feature selection on training data only."""

    ttest_p: float = Field(0.05, gt=0.0, le=1.0)
    lasso_cv_folds: int = Field(5, ge=2)
    max_features: int = Field(15, ge=1)
    univariate_test: Literal["ttest", "mannwhitney"] = "ttest"
    correlation_threshold: float = Field(
        0.95, gt=0.0, le=1.0, description="near-duplicates: of two features with |Pearson r| above this, keep one"
    )
    mrmr_features: int | None = Field(None, ge=1, description="mRMR (FCQ) step keeping this many; null = no mRMR step")
    rfe_features: int | None = Field(None, ge=1, description="RFE with the final model type; null = no RFE step")
    fallback_features: int = Field(
        5, ge=1, description="when a step keeps no feature, keep this many with the smallest univariate p"
    )


class RobustnessSettings(_Settings):
    """Feature robustness to segmentation (PROTOCOL A6): ICC on training patients only."""

    icc_threshold: float = Field(0.75, ge=-1.0, le=1.0)
    icc_type: Literal["icc2", "icc3"] = Field(
        "icc2", description="ICC(2,1) absolute agreement (default) or ICC(3,1) consistency"
    )
    icc_source: Literal["auto", "mask_2", "perturbation", "off"] = Field(
        "auto", description="second segmentation (manifest mask_2) or the perturbations below; "
                            "auto = mask_2 where the manifest has it, else perturbation",
    )

    @field_validator("icc_source", mode="before")
    @classmethod
    def _unquoted_off(cls, v):
        # YAML reads an unquoted `icc_source: off` (or no, false) as the boolean false
        return "off" if v is False else v
    perturbations: list[Literal["dilate_1", "erode_1", "random_0"]] = Field(
        default_factory=lambda: ["dilate_1", "erode_1", "random_0"], min_length=1,
        description="mask dilation and erosion by one voxel, random smooth contour deformation (seeded)")


class ModelSettings(_Settings):
    """The Radscore models (XGBoost by default; the mCRC Rad-Score is a random forest), with a
    stratified CV grid search."""

    type: Literal["xgboost", "random_forest"] = Field(
        "xgboost", description="final model: XGBoost (NSCLC seed) or scikit-learn's random forest (mCRC seed); "
                               "the grid's keys must be the type's parameters")
    cv_folds: int = Field(10, ge=2)
    grid: dict[str, list[Any]] | None = Field(
        None, description="hyper-parameter grid of the model type; null = the type's default (xgboost: max_depth "
                          "[2, 3] x n_estimators [50, 150] x learning_rate [0.05, 0.1]; random_forest: n_estimators "
                          "[200] x max_depth [3, null] x min_samples_leaf [1, 3])")
    models: list[ModelName] = Field(default_factory=lambda: list(NSCLC_MODELS),
                                    description="pet, ct, petct, comb (NSCLC seed) and/or tme (mCRC seed)")
    cutoff: Literal["youden", "median"] = "youden"
    nested_cv_folds: int | None = Field(
        5, ge=2, description="outer folds of the nested-CV AUC on the training cohort; null = skip"
    )


class RuntimeSettings(_Settings):
    """Where and how work runs."""

    workers: int | None = Field(None, ge=1, description="processes; null = number of cores")
    scheduler: str | None = Field(None, description="dask.distributed scheduler address, null = local processes")
    memory_limit_gb: float | None = Field(
        None, gt=0.0, description="address-space limit of each local worker process (RLIMIT_AS); a scan that "
        "exceeds it is reported in qc.csv instead of exhausting the machine; null = no limit"
    )


class OutputSettings(_Settings):
    """Optional outputs of ``radscore run`` beside the tables and the report."""

    dicom: bool = Field(False, description="also write each DICOM-sourced scan's VOIs as a DICOM SEG and its "
                                           "Radscores with the models' features as a DICOM SR (TID 1500) into "
                                           "dicom_outputs/; scans from image files are listed as skipped")


class DynamicSettings(_Settings):
    """Dynamic prediction from follow-up scans (PROTOCOL A12)."""

    progression_window_months: float = Field(6.0, gt=0.0)
    progression_column: str = "progression_6m"
    pfs_time: str = "pfs_fu_months"
    pfs_event: str = "pfs_fu_event"


class TpsSettings(_Settings):
    """Complementarity with PD-L1 TPS (PROTOCOL A13); cut-points in percent."""

    column: str = "tps"
    low_cut: float = Field(1.0, ge=0.0, le=100.0)
    high_cut: float = Field(50.0, ge=0.0, le=100.0)

    @field_validator("high_cut")
    @classmethod
    def _above_low(cls, v, info):
        low = info.data.get("low_cut")
        if low is not None and v <= low:
            raise ValueError(f"high_cut must be above low_cut ({low}), got {v}")
        return v


class TmeSettings(_Settings):
    """TME phenotype by k-means on cell abundances (PROTOCOL B1, B3)."""

    n_clusters: int = Field(2, ge=2)
    immune_cells: list[str] | None = Field(None, description="immune cell columns; null = built-in list")
    response_column: str | None = Field(
        "response", description="manifest/clinical column of immunotherapy response (1 = CR/PR, 0 = SD/PD): the "
                                "mCRC Rad-Score is evaluated against it in every cohort that has it (null = skip)")


class ImmunoscoreSettings(_Settings):
    """Immunoscore from CD3/CD8 densities (PROTOCOL B4)."""

    density_percentile: float = Field(75.0, gt=0.0, lt=100.0)
    high_min: int = Field(3, ge=1, le=4)
    columns: list[str] = Field(default_factory=lambda: ["cd3_ct", "cd3_im", "cd8_ct", "cd8_im"])


class NomogramSettings(_Settings):
    """Cox nomograms for OS and PFS (PROTOCOL B5) and the serum-marker comparison (A10)."""

    horizon_months: float = Field(12.0, gt=0.0)
    candidates: list[str] = Field(
        default_factory=lambda: ["age", "sex", "bmi", "albumin", "ldh", "cea", "ecog", "stage"]
    )
    serum_markers: list[str] = Field(default_factory=lambda: ["cea", "cyfra21_1", "nse", "ldh", "albumin"])


class RadiogenomicsSettings(_Settings):
    """Expression signatures and GSEA (PROTOCOL A15)."""

    gene_sets: dict[str, list[str]] = Field(default_factory=dict, description="name -> genes, scored by ssGSEA")
    gep_weights: dict[str, float] | None = Field(None, description="per-gene GEP weights; null = unweighted mean")
    gsea_permutations: int = Field(1000, ge=0)
    min_set_size: int = Field(5, ge=1)


class LesionSettings(_Settings):
    """Several lesions per patient and treatment arms (PROTOCOL A14)."""

    patient_rule: Literal["primary", "max", "mean"] = "primary"
    treatment_column: str = "treatment"


class DeepFeatureSettings(_Settings):
    """3-D CNN autoencoder features (PROTOCOL B2); needs the optional PyTorch extra."""

    enabled: bool = False
    weights: str | None = Field(None, description="state-dict file per modality ({modality} in the name): .npz of "
                                               "its arrays or torch.save; null = train on the cohort")
    epochs: int = Field(30, ge=1)
    latent_size: int = Field(16, ge=1)
    crop_size: int = Field(32, ge=8)
    learning_rate: float = Field(1e-3, gt=0.0)


class AnalysesSettings(_Settings):
    """The seeds' clinical analyses; each part runs when its inputs are present."""

    model: ModelName = "comb"
    dynamic: DynamicSettings = DynamicSettings()
    tps: TpsSettings = TpsSettings()
    tme: TmeSettings = TmeSettings()
    immunoscore: ImmunoscoreSettings = ImmunoscoreSettings()
    nomogram: NomogramSettings = NomogramSettings()
    radiogenomics: RadiogenomicsSettings = RadiogenomicsSettings()
    lesions: LesionSettings = LesionSettings()
    deep: DeepFeatureSettings = DeepFeatureSettings()


class ScanSettings(_Settings):
    """Everything that turns one scan's files into features, and nothing else.

    A model artifact stores these with the model, so that ``radscore predict`` and the
    page prepare and extract a new scan exactly as the training run did.
    """

    preprocess: PreprocessSettings = PreprocessSettings()
    voi: VoiSettings = VoiSettings()
    fusion: FusionSettings = FusionSettings()
    features: FeatureSettings = FeatureSettings()
    pet_measures: PetMeasureSettings = PetMeasureSettings()
    seed: int = Field(42, description="seeds rigid registration and the random mask perturbation")
    modalities: list[Modality] = Field(default_factory=lambda: list(MODALITIES), min_length=1,
                                       description="the images every scan must have (pet, ct or both)")


#: Protocol presets shipped as YAML in ``radscore/protocols/``; the first is the default.
PROTOCOLS = ("nsclc_seed", "quick", "mcrc_seed")


def protocol_preset(name: str) -> dict[str, Any]:
    """The keys a protocol preset sets (``radscore/protocols/<name>.yaml``)."""
    from importlib.resources import files

    if name not in PROTOCOLS:
        raise ConfigError(f"unknown protocol '{name}'.", fix=f"use one of: {', '.join(PROTOCOLS)}.")
    return yaml.safe_load(files("radscore.protocols").joinpath(f"{name}.yaml").read_text()) or {}


def _under(preset: dict, given: dict, model: type[BaseModel]) -> dict:
    """``given`` with the preset's values where it sets none; settings sections merge key by key,
    any other value (an image-type table, a list) is taken whole from ``given`` when it has one."""
    out = dict(given)
    for key, value in preset.items():
        field = model.model_fields.get(key)
        section = field is not None and isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        if key not in out:
            out[key] = value
        elif section and isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = _under(value, out[key], field.annotation)
    return out


class StudyConfig(_Settings):
    """Everything a study run needs; built by :func:`load_config` from ``study.yaml``.

    ``protocol`` names a preset (``nsclc_seed`` by default, ``quick`` for exploring) whose
    values fill every key the study does not set.
    """

    protocol: Literal[PROTOCOLS] = Field(  # type: ignore[valid-type]
        PROTOCOLS[0], description="preset for every key not set here: nsclc_seed (the NSCLC seed's protocol, "
                                  "default), quick (exploring) or mcrc_seed (the mCRC seed's protocol)")
    study: Literal[STUDIES] = Field(  # type: ignore[valid-type]
        STUDIES[0], description="nsclc: the Radscores predict the endpoint column; mcrc: the endpoint is the TME "
                                "phenotype, derived from RNA-seq (or a cell table) before modelling")
    name: str = "study"
    manifest: str = "manifest.csv"
    modalities: list[Modality] | None = Field(
        None, description="the images every scan has: [pet, ct], [pet] or [ct]; null = those the manifest's pet "
                          "and ct columns hold (a study without CT runs the PET-Radscore alone, and vice versa)")
    seed: int = 42
    endpoint: EndpointSettings = EndpointSettings()
    survival: SurvivalSettings = SurvivalSettings()
    clinical: list[str] = Field(default_factory=list)
    tables: TablesSettings = TablesSettings()
    split: SplitSettings = SplitSettings()
    preprocess: PreprocessSettings = PreprocessSettings()
    voi: VoiSettings = VoiSettings()
    fusion: FusionSettings = FusionSettings()
    features: FeatureSettings = FeatureSettings()
    pet_measures: PetMeasureSettings = PetMeasureSettings()
    robustness: RobustnessSettings = RobustnessSettings()
    selection: SelectionSettings = SelectionSettings()
    model: ModelSettings = ModelSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    analyses: AnalysesSettings = AnalysesSettings()
    outputs: OutputSettings = OutputSettings()

    @model_validator(mode="before")
    @classmethod
    def _apply_protocol(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        name = data.get("protocol", PROTOCOLS[0])
        if name not in PROTOCOLS:
            return data  # the field's own validation names the valid presets
        return _under(protocol_preset(name), data, cls)

    @property
    def scan(self) -> ScanSettings:
        """The settings of the scan path (preprocess, voi, fusion, features, seed)."""
        return ScanSettings(preprocess=self.preprocess, voi=self.voi, fusion=self.fusion, features=self.features,
                            pet_measures=self.pet_measures, seed=self.seed,
                            modalities=self.modalities or list(MODALITIES))

    def for_manifest(self, manifest) -> "StudyConfig":
        """This config with ``modalities`` filled from the manifest DataFrame's image columns
        (:func:`radscore.io.manifest.manifest_modalities`) when the study leaves it null."""
        from radscore.io.manifest import manifest_modalities

        if self.modalities is not None:
            return self
        modalities = manifest_modalities(manifest)
        if not modalities:
            raise ConfigError("the manifest names no PET or CT image in any row.",
                              fix="fill the pet and/or ct columns of the manifest.")
        return self.model_copy(update={"modalities": [m for m in MODALITIES if m in modalities]})

    def stage_hash(self, *sections: str) -> str:
        """Hash of the named sections: a stage reruns only when what it depends on changed."""
        payload = {s: _jsonable(getattr(self, s)) for s in sections}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _jsonable(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _valid_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The valid keys at a location of the config tree."""
    current: Any = model
    for part in loc[:-1]:
        field = current.model_fields.get(part) if isinstance(current, type) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        current = field.annotation
    return sorted(current.model_fields) if isinstance(current, type) else []


#: Keys that moved between sections: old dotted key -> new dotted key.
MOVED_KEYS = {f"selection.{k}": f"robustness.{k}" for k in ("icc_threshold", "icc_type", "icc_source")}


def config_from_dict(data: dict[str, Any] | None, source: str = "study.yaml") -> StudyConfig:
    """Validate a mapping into a :class:`StudyConfig`, with errors that name the key.

    Every problem is reported in one :class:`~radscore.errors.ConfigError` (one line
    each), so a config with several mistakes is corrected in one pass.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be a mapping of keys, found {type(data).__name__}", file=source)
    problems: list[tuple[str, str]] = []
    moved = set()
    for old, new in MOVED_KEYS.items():
        section, key = old.split(".")
        if isinstance(data.get(section), dict) and key in data[section]:
            problems.append((f"key '{old}' has moved to '{new}'.", f"write it under '{new.split('.')[0]}:' instead."))
            moved.add((section, key))
    config = None
    try:
        config = StudyConfig.model_validate(data)
    except ValidationError as exc:
        # a moved key is also an unknown key where it was: named once, as moved
        problems += [_problem(err) for err in exc.errors() if tuple(err["loc"][:2]) not in moved]
    if len(problems) == 1:
        raise ConfigError(problems[0][0], file=source, fix=problems[0][1])
    if problems:
        lines = "".join(f"\n  {text} Fix: {fix}" for text, fix in problems)
        raise ConfigError(f"{len(problems)} problems:{lines}", file=source)
    return config


#: YAML 1.1 (PyYAML) reads these unquoted words as booleans.
YAML_BOOLEANS = ("yes", "no", "on", "off", "true", "false")


def _problem(err: dict) -> tuple[str, str]:
    """One pydantic validation error as (problem naming the key, fix)."""
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        valid = _valid_keys(StudyConfig, tuple(err["loc"]))
        return f"unknown key '{key}'.", f"use one of: {', '.join(valid)}."
    value = err.get("input")
    if isinstance(value, bool) and err["type"] in ("literal_error", "string_type"):
        expected = f" ({err['msg']})" if err["type"] == "literal_error" else ""
        return (f"key '{key}' needs text{expected} but YAML read an unquoted word as the boolean "
                f"{str(value).lower()}: YAML turns unquoted {', '.join(YAML_BOOLEANS)} into booleans.",
                "put the word in quotes ('off' instead of off).")
    return f"key '{key}': {err['msg']} (got {value!r}).", "correct the value in the config."


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate ``study.yaml``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file not found.", file=str(path), fix="create study.yaml or pass its path.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML ({exc.__class__.__name__}: {exc}).", file=str(path)) from None
    return config_from_dict(data, source=str(path))


def dump_config(config: StudyConfig, *, comments: bool = False) -> str:
    """The config as YAML (round-trips through :func:`config_from_dict`).

    With ``comments``, every section and key is preceded by its description: the file
    ``radscore init`` writes, every default spelled out.
    """
    if not comments:
        return yaml.safe_dump(config.to_dict(), sort_keys=False)
    return "\n".join(_commented(config, 0)) + "\n"


def _commented(settings: BaseModel, depth: int) -> list[str]:
    pad = "  " * depth
    lines: list[str] = []
    for key, field in type(settings).model_fields.items():
        value = getattr(settings, key)
        if isinstance(value, BaseModel):
            doc = (type(value).__doc__ or "").strip().splitlines()
            lines += [""] if depth == 0 else []
            lines += [f"{pad}# {doc[0]}"] if doc else []
            lines += [f"{pad}{key}:", *_commented(value, depth + 1)]
            continue
        if field.description:
            lines.append(f"{pad}# {field.description}")
        value = list(value) if isinstance(value, tuple) else value
        if isinstance(value, dict):
            dumped = yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=None, width=100)
            lines += [pad + line for line in dumped.rstrip("\n").splitlines()]
        else:  # a scalar or a list on one line, quoted as YAML needs: dumped as a one-item flow list
            lines.append(f"{pad}{key}: " + yaml.safe_dump([value], default_flow_style=True, width=1000).strip()[1:-1])
    return lines
