"""From a patient's CT, PET and tumour mask to the images and VOIs features are computed on.

:func:`prepare_scan` is the one way from a :class:`~radscore.io.scan.ScanRef` to features'
inputs: it loads the scan (:func:`radscore.io.scan.load_scan`), optionally perturbs the
mask (the ICC's repeated segmentation), then :func:`prepare_patient`. Every entry point
(``radscore run``, robustness, deep features, ``predict``, the page, ``extract``) uses it.

Order of operations (each recorded as a provenance step, :mod:`radscore.runtime.provenance`):

1. checks: the mask is non-empty, has at least ``voi.min_voxels`` voxels and overlaps
   the CT; a mask on another grid is resampled onto the CT (nearest neighbour, warning);
   PET must overlap the CT.
2. optional rigid PET-to-CT registration (``preprocess.registration``).
3. CT resampled to ``preprocess.spacing_mm`` (centre-aligned grid), optionally only the
   part within ``preprocess.crop_margin_mm`` of the tumour's box (a sub-grid of the full
   grid: the same voxels); PET resampled onto that grid, then (B-spline) clamped to the
   source PET's range (``pet_overshoot``: no SUV above the hottest source voxel); the mask
   by nearest neighbour or partial volume (``mask_interpolation``).
4. fusion of PET and CT (``fusion``).
5. body mask and the four VOIs (``voi``); a VOI that is empty or smaller than
   ``min_voxels`` is left out, with a warning.

A study with one modality (``StudyConfig.modalities``: PET only or CT only) prepares that
image alone: its grid is the reference, there is no registration or fusion, and without a
CT the ring is not limited to the body.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radscore.catalog import VOIS, modalities_text
from radscore.config import FusionSettings, PreprocessSettings, ScanSettings, VoiSettings
from radscore.errors import ImageError
from radscore.imaging.fusion import fuse, fusion_record
from radscore.imaging.resample import (
    overlap_fraction,
    physical_bounds,
    resample_like,
    resample_mask_like,
    grid_for_spacing,
    same_grid,
)
from radscore.imaging.voi import body_mask, make_vois
from radscore.io.scan import ScanRef, load_scan
from radscore.runtime.provenance import ScanProvenance, Step, grid_of

logger = logging.getLogger(__name__)

CT_OUTSIDE_HU = -1024.0  # value of CT voxels resampled from outside the scan: air


def _helper_thread():
    """A one-thread executor when this preparation may use more than one thread, else :class:`_Inline`.

    Steps that do not depend on each other (the CT's and the PET's resampling; the fusion and
    the VOIs) release the GIL in their C loops, so a second thread runs one beside the other.
    The runner allows a preparation several threads only when fewer scans than workers wait
    for it (a single patient): ITK's thread setting tells. The values are the same either way.
    """
    return ThreadPoolExecutor(1) if sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() > 1 else _Inline()


class _Inline:
    """A stand-in for a one-thread executor that runs each call at once, in this thread."""

    def __enter__(self) -> "_Inline":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, fn, *args) -> Future:
        done: Future = Future()
        done.set_result(fn(*args))
        return done


@dataclass(frozen=True)
class PreparedPatient:
    """Images and VOIs of one patient on one common grid.

    Attributes
    ----------
    images : dict
        "ct" (HU), "pet" (SUV), "petct" (fused), SimpleITK float32 images on one grid.
    vois : dict
        "tumor", "core", "ring", "tumor_ring": bool arrays (z, y, x) on that grid; a VOI
        that is empty or below ``voi.min_voxels`` is absent (see ``warnings``).
    warnings : list of str
    steps : tuple of Step
        What was done (check_mask, register, resample, fuse, vois), in order.
    """

    images: dict[str, sitk.Image]
    vois: dict[str, np.ndarray]
    warnings: list[str] = field(default_factory=list)
    steps: tuple[Step, ...] = ()

    @property
    def summary(self) -> pd.DataFrame:
        """One row per VOI kept: voxels and volume (ml) on the common grid."""
        ml = float(np.prod(self.images["ct"].GetSpacing())) / 1000.0 if "ct" in self.images else float("nan")
        return pd.DataFrame([{"voi": k, "voxels": int(v.sum()), "volume_ml": float(v.sum()) * ml}
                             for k, v in self.vois.items()])


def _mask_bounds(mask: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    arr = sitk.GetArrayViewFromImage(mask)
    nz = np.nonzero(arr)
    lo = np.array([nz[2].min(), nz[1].min(), nz[0].min()])
    hi = np.array([nz[2].max(), nz[1].max(), nz[0].max()])
    return physical_bounds(mask, (lo, hi))


def check_mask(ct: sitk.Image, mask: sitk.Image, min_voxels: int, *, patient: str | None,
               warnings: list[str], min_overlap: float, name: str = "CT") -> tuple[sitk.Image, Step]:
    """Validate the mask against the reference image ``ct`` (the CT, or the PET of a PET-only
    study, called ``name`` in messages) and bring it onto that grid (nearest neighbour).

    A mask on another grid whose box lies less than ``min_overlap`` inside the image is
    refused: its geometry is wrong or it belongs to another scan, and the part inside would
    enter the study as a different tumour."""
    n = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
    if n == 0:
        raise ImageError("the tumour mask is empty (no non-zero voxel).", patient=patient,
                         fix="check the mask file or the label/ROI chosen in the manifest.")
    if n < min_voxels:
        raise ImageError(f"the tumour mask has {n} voxel(s), fewer than voi.min_voxels = {min_voxels}.",
                         patient=patient, fix="check the mask, or lower voi.min_voxels in study.yaml.")
    if same_grid(mask, ct):
        return sitk.Cast(mask != 0, sitk.sitkUInt8), Step("check_mask", result={"resampled_onto_ct": False,
                                                                                  "overlap": 1.0})
    frac = overlap_fraction(_mask_bounds(mask), physical_bounds(ct))
    if frac <= 0:
        raise ImageError(f"mask outside the image: the mask's voxels do not overlap the {name}'s physical extent.",
                         patient=patient,
                         fix=f"check that the mask belongs to this {name} (origin, direction, spacing).")
    if frac < min_overlap:
        raise ImageError(f"only {frac:.0%} of the mask's box lies inside the {name}, below preprocess.min_mask_overlap "
                         f"= {min_overlap:.0%}: the mask's geometry does not match this image.", patient=patient,
                         fix=f"check that the mask belongs to this {name} (origin, direction, spacing), or lower "
                             "preprocess.min_mask_overlap in study.yaml.")
    warning = (f"mask grid differs from the {name} grid: mask resampled onto the {name} by nearest neighbour "
               f"({frac:.0%} of the mask's box inside the {name}).")
    warnings.append(warning)
    out = resample_mask_like(mask, ct, "nearest")
    m = int(np.count_nonzero(sitk.GetArrayViewFromImage(out)))
    if m < min_voxels:
        raise ImageError(f"the tumour mask has {m} voxel(s) on the {name} grid, fewer than voi.min_voxels = "
                         f"{min_voxels}.", patient=patient, fix=f"check that the mask belongs to this {name}.")
    return out, Step("check_mask", result={"resampled_onto_ct": True, "overlap": round(float(frac), 4)},
                     warnings=(warning,))


def target_grid(ct: sitk.Image, spacing_mm, mask: sitk.Image | None = None,
                margin_mm: float | None = None) -> tuple[sitk.Image, tuple[int, int, int] | None]:
    """An empty image holding the common grid: CT's extent at ``spacing_mm`` (centre-aligned).

    With ``margin_mm`` the grid is cut to the tumour's box plus the margin, as a sub-grid of
    the full one (same voxel positions), so cropping never shifts a voxel.

    Returns
    -------
    reference : SimpleITK.Image (uint8, zeros)
    start : (x, y, z) or None
        First index of the sub-grid in the full CT grid when it is the CT's own grid.
    """
    if spacing_mm is None:
        size, spacing, origin = list(ct.GetSize()), list(ct.GetSpacing()), list(ct.GetOrigin())
    else:
        size, spacing, origin = grid_for_spacing(ct, spacing_mm)
    d = np.asarray(ct.GetDirection(), float).reshape(3, 3)
    start = None
    if margin_mm is not None and mask is not None:
        lo_mm, hi_mm = _mask_bounds(mask)
        corners = np.array([[x, y, z] for x in (lo_mm[0], hi_mm[0]) for y in (lo_mm[1], hi_mm[1])
                            for z in (lo_mm[2], hi_mm[2])])
        idx = (np.linalg.inv(d) @ (corners - np.asarray(origin)).T).T / np.asarray(spacing)
        pad = np.ceil(margin_mm / np.asarray(spacing))
        lo = np.clip(np.floor(idx.min(axis=0)) - pad, 0, np.asarray(size) - 1).astype(int)
        hi = np.clip(np.ceil(idx.max(axis=0)) + pad, 0, np.asarray(size) - 1).astype(int)
        origin = (np.asarray(origin) + d @ (lo * np.asarray(spacing))).tolist()
        size = (hi - lo + 1).tolist()
        start = tuple(int(v) for v in lo)
    ref = sitk.Image([int(v) for v in size], sitk.sitkUInt8)
    ref.SetSpacing([float(v) for v in spacing])
    ref.SetOrigin([float(v) for v in origin])
    ref.SetDirection(ct.GetDirection())
    return ref, (start if spacing_mm is None else None)


def _crop_input(image: sitk.Image, reference: sitk.Image, pad: int = 8) -> sitk.Image:
    """The part of ``image`` that a resampling onto ``reference`` reads, plus ``pad`` voxels.

    B-spline interpolation prefilters the whole input; on a whole-body scan resampled
    onto a small tumour box that dominates the run time. The prefilter's influence decays
    as 0.268^n with the distance n in voxels (cubic B-spline pole), so 8 voxels of padding
    change values by less than 3e-5 of the local contrast.
    """
    lo_mm, hi_mm = physical_bounds(reference)
    corners = [(x, y, z) for x in (lo_mm[0], hi_mm[0]) for y in (lo_mm[1], hi_mm[1]) for z in (lo_mm[2], hi_mm[2])]
    idx = np.array([image.TransformPhysicalPointToContinuousIndex(c) for c in corners])
    size = np.asarray(image.GetSize())
    lo = np.clip(np.floor(idx.min(axis=0)).astype(int) - pad, 0, size - 1)
    hi = np.clip(np.ceil(idx.max(axis=0)).astype(int) + pad, 0, size - 1)
    if np.all(lo == 0) and np.all(hi == size - 1):
        return image
    if np.any(hi < lo):
        return image
    return sitk.RegionOfInterest(image, (hi - lo + 1).tolist(), lo.tolist())


def _clip_to_source(resampled: sitk.Image, source: sitk.Image) -> tuple[sitk.Image, tuple[float, float]]:
    """``resampled`` clamped to ``source``'s value range: no B-spline overshoot past the
    hottest or below the coldest source voxel (SUVmax features 1.4-7.5 % above any voxel on
    real PET without it). The range includes 0, the value outside the PET's field of view."""
    stats = sitk.MinimumMaximumImageFilter()
    stats.Execute(source)
    lo, hi = min(float(stats.GetMinimum()), 0.0), max(float(stats.GetMaximum()), 0.0)
    return sitk.Clamp(resampled, resampled.GetPixelID(), lo, hi), (lo, hi)


def prepare_patient(ct: sitk.Image | None, pet: sitk.Image | None, mask: sitk.Image, *,
                    preprocess: PreprocessSettings, voi: VoiSettings, fusion: FusionSettings, seed: int = 42,
                    patient: str | None = None) -> PreparedPatient:
    """Resample, fuse and build the VOIs of one patient (see the module docstring).

    Parameters
    ----------
    ct : SimpleITK.Image or None
        CT in HU; None in a PET-only study (then the PET's grid is the reference, nothing is
        fused and the ring is not limited to the body, which needs the CT).
    pet : SimpleITK.Image or None
        PET in SUV; None in a CT-only study.
    mask : SimpleITK.Image
        Tumour mask, ideally on the CT grid (the PET's without a CT).
    preprocess, voi, fusion : settings of the three steps
    seed : int
        Seeds the rigid registration's sampling.
    patient : str, optional
        Manifest ID, for error messages.

    Returns
    -------
    PreparedPatient
        ``images`` holds ``ct``, ``pet`` and ``petct`` with both modalities, else the one given.

    Raises
    ------
    ImageError
        Empty or too small mask, mask outside the CT, PET not overlapping the CT.
    """
    pp, vs, fs = preprocess, voi, fusion
    if ct is None and pet is None:
        raise ImageError("neither a CT nor a PET image was given.", patient=patient)
    warnings: list[str] = []
    steps: list[Step] = []
    for name, img in (("CT", ct), ("PET", pet), ("mask", mask)):
        if img is not None and img.GetDimension() != 3:
            raise ImageError(f"{name} has {img.GetDimension()} dimensions, expected 3.", patient=patient)
    # The reference grid: the CT's, or the PET's in a PET-only study.
    base_name, base_outside = ("CT", CT_OUTSIDE_HU) if ct is not None else ("PET", 0.0)
    base = sitk.Cast(ct if ct is not None else pet, sitk.sitkFloat32)
    mask, step = check_mask(base, mask, vs.min_voxels, patient=patient, warnings=warnings, name=base_name,
                            min_overlap=pp.min_mask_overlap)
    steps.append(step)

    transform = None
    if ct is not None and pet is not None:
        pet = sitk.Cast(pet, sitk.sitkFloat32)
        pet_frac = overlap_fraction(physical_bounds(base), physical_bounds(pet))
        if pet_frac <= 0:
            raise ImageError("PET does not overlap the CT: their physical extents are disjoint.", patient=patient,
                             fix="check that PET and CT belong to the same patient and study.")
        tumor_in_pet = overlap_fraction(_mask_bounds(mask), physical_bounds(pet))
        if tumor_in_pet < 1.0:
            warnings.append(f"only {tumor_in_pet:.0%} of the tumour's box lies inside the PET field of view.")
        if pp.registration == "rigid":
            from radscore.imaging.registration import register_rigid

            transform, reg = register_rigid(base, pet, seed=seed, patient=patient)
            steps.append(Step("register", settings={"method": "rigid", "seed": seed}, result=reg))
        else:
            steps.append(Step("register", settings={"method": "none"}, result={"method": "none"}))

    # The reference image to the target grid (its extent at spacing_mm, optionally cut to the
    # tumour's box); PET and mask onto that grid.
    reference, start = target_grid(base, pp.spacing_mm, mask, pp.crop_margin_mm)
    with _helper_thread() as ex:  # the CT's resampling beside the PET's (see _helper_thread)
        if same_grid(reference, base):
            base_r = grid = base
        elif start is not None:  # a crop of the image's own grid: cut, do not interpolate
            base_r = grid = sitk.RegionOfInterest(base, reference.GetSize(), start)
        else:  # the resampled image takes the reference's geometry exactly: PET and mask need only that
            base_r, grid = ex.submit(resample_like, _crop_input(base, reference), reference, pp.image_interpolator,
                                     base_outside), reference
        pet_r = None
        if ct is not None and pet is not None:
            pet_r = resample_like(pet if transform is not None else _crop_input(pet, grid), grid,
                                  pp.image_interpolator, 0.0, transform=transform)
        mask_r = resample_mask_like(mask, grid, pp.mask_interpolation)
        base_r = base_r if isinstance(base_r, sitk.Image) else base_r.result()
    pet_range = None
    if pp.pet_overshoot == "clip" and pp.image_interpolator == "bspline":  # linear and nearest cannot overshoot
        if pet_r is not None:
            pet_r, pet_range = _clip_to_source(pet_r, pet)
        elif ct is None:
            base_r, pet_range = _clip_to_source(base_r, base)
    ct_r, pet_r = (base_r, pet_r) if ct is not None else (None, base_r)
    resample_warnings = []
    if pp.crop_margin_mm is not None and pp.crop_margin_mm <= vs.ring_mm:
        resample_warnings.append(f"crop_margin_mm = {pp.crop_margin_mm:g} does not exceed ring_mm = {vs.ring_mm:g}: "
                                 "the ring is cut by the crop.")
    warnings.extend(resample_warnings)
    steps.append(Step("resample", settings=pp.model_dump(mode="json"), result={
        "grid": grid_of(base_r), "grid_alignment": "centre-aligned (IBSI)", "image_interpolator": pp.image_interpolator,
        "mask_interpolation": pp.mask_interpolation,
        **({"ct_outside_value_hu": CT_OUTSIDE_HU} if ct_r is not None else {}),
        **({"pet_outside_value_suv": 0.0, "pet_onto": "resampled CT grid" if ct_r is not None else "its own grid",
            "pet_overshoot": (f"clipped to the source PET's range [{pet_range[0]:.6g}, {pet_range[1]:.6g}]"
                              if pet_range is not None else "not clipped")}
           if pet_r is not None else {}),
        "crop": {"margin_mm": pp.crop_margin_mm} if pp.crop_margin_mm is not None else None,
    }, warnings=tuple(resample_warnings)))
    del base  # the float32 copy of the input: on a whole-body grid hundreds of MB
    # read-only views (fusion and the body mask only read them): no second copy of each image
    ct_a = sitk.GetArrayViewFromImage(ct_r) if ct_r is not None else None
    pet_a = sitk.GetArrayViewFromImage(pet_r) if pet_r is not None else None
    tumor = sitk.GetArrayViewFromImage(mask_r).astype(bool)
    if int(tumor.sum()) < vs.min_voxels:
        raise ImageError(f"the tumour mask has {int(tumor.sum())} voxel(s) after resampling, fewer than "
                         f"voi.min_voxels = {vs.min_voxels}.", patient=patient,
                         fix="use a finer preprocess.spacing_mm or mask_interpolation: nearest.")
    spacing_zyx = tuple(float(s) for s in base_r.GetSpacing()[::-1])
    # Fusion and the VOIs are independent: the fusion runs beside the VOIs (see _helper_thread).
    with _helper_thread() as ex:
        fusing = ex.submit(fuse, pet_a, ct_a, fs) if ct_a is not None and pet_a is not None else None
        body = body_mask(ct_a, vs.body_threshold_hu) if ct_a is not None else None
        vois_all, voi_warnings = make_vois(tumor, spacing_zyx, vs.core_mm, vs.ring_mm, body=body)
        fused = sitk.GetImageFromArray(fusing.result()) if fusing is not None else None
    if fused is not None:
        fused.CopyInformation(ct_r)
        steps.append(Step("fuse", settings=fs.model_dump(mode="json"), result=fusion_record(fs)))
    voi_warnings = list(voi_warnings)
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    counts = {k: int(v.sum()) for k, v in vois_all.items()}
    vois: dict[str, np.ndarray] = {}
    for name in VOIS:
        if counts[name] == 0:
            voi_warnings.append(f"VOI '{name}' is empty and is left out.")
        elif counts[name] < vs.min_voxels:
            voi_warnings.append(f"VOI '{name}' has {counts[name]} voxel(s), fewer than voi.min_voxels = "
                                f"{vs.min_voxels}, and is left out.")
        else:
            vois[name] = vois_all[name]
    warnings.extend(voi_warnings)
    steps.append(Step("vois", settings=vs.model_dump(mode="json"), result={
        "method": "Euclidean distance transforms in mm (erosion: ball of core_mm; dilation: ring_mm + h/4)",
        "body": "CT body mask" if body is not None else "none (no CT): the ring is not limited to the body",
        "voxels": counts, "volume_ml": {k: round(c * voxel_ml, 4) for k, c in counts.items()}, "kept": sorted(vois),
    }, warnings=tuple(voi_warnings)))
    for w in warnings:
        logger.warning("patient %s: %s", patient, w)
    images = {k: v for k, v in (("ct", ct_r), ("pet", pet_r), ("petct", fused)) if v is not None}
    return PreparedPatient(images=images, vois=vois, warnings=warnings, steps=tuple(steps))


@dataclass(frozen=True)
class PreparedScan:
    """A scan ready for feature extraction: images and VOIs on one grid, and what was done.

    Attributes
    ----------
    ref : ScanRef
    images : dict
        ``ct`` (HU), ``pet`` (SUV), ``petct`` (fused), SimpleITK float32 on one grid.
    vois : dict
        The VOIs kept (bool arrays, z, y, x).
    provenance : ScanProvenance
        Loading and preparation steps.
    crops : dict or None
        ``{"pet": cube, "ct": cube}`` around the lesion for deep features, when asked for.
    pet_measures : dict or None
        SUVmax, SUVmean, SUVpeak, MTV, TLG on the native PET grid
        (:mod:`radscore.imaging.pet_measures`), when enabled and the mask is not perturbed.
    """

    ref: ScanRef
    images: dict[str, sitk.Image]
    vois: dict[str, np.ndarray]
    provenance: ScanProvenance
    crops: dict[str, np.ndarray] | None = None
    pet_measures: dict[str, float] | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.provenance.warnings

    def step(self, name: str) -> Step | None:
        return self.provenance.step(name)

    @classmethod
    def from_images(cls, patient_id: str, images: dict[str, sitk.Image], vois: dict[str, np.ndarray]) -> "PreparedScan":
        """A scan whose images and VOIs were made elsewhere (already on one grid), e.g. by a benchmark."""
        ref = ScanRef(patient_id)
        return cls(ref=ref, images=dict(images), vois=dict(vois),
                   provenance=ScanProvenance(ref.key).then(Step("given", result={"images": sorted(images)})))


def prepare_scan(ref: ScanRef, settings: ScanSettings, *, perturbation: str | None = None,
                 crop_size: int | None = None, hashes: dict[str, str] | None = None) -> PreparedScan:
    """Load and prepare one scan: the one path from a scan's files to the features' inputs.

    Parameters
    ----------
    ref : ScanRef
    settings : ScanSettings
        ``preprocess`` (incl. the SUV method), ``voi``, ``fusion`` and ``seed`` are used.
    perturbation : str, optional
        Replace the mask by a perturbed copy (``dilate_1``, ``erode_1``, ``random_0``, ...;
        :func:`radscore.imaging.perturb.perturbed_masks`), for the ICC.
    crop_size : int, optional
        Also cut ``crop_size``^3 PET and CT cubes at 1 mm around the lesion (deep features).
    hashes : dict, optional
        The scan's input content hashes, when the caller has them.

    Raises
    ------
    ImageError
        Anything wrong with the scan's files, named with the patient.
    """
    pid = ref.patient_id
    wanted = settings.modalities
    missing = [m for m in wanted if getattr(ref, m) is None]
    if missing:
        raise ImageError(f"the scan has no {modalities_text(missing, ' or ')} image; the study uses "
                         f"{modalities_text(wanted)}.",
                         patient=pid, fix=f"fill the {' and '.join(missing)} column(s) of the manifest for this row.")
    # an image the study does not use is not read (a PET-only model scores a PET/CT scan on its PET)
    ref = replace(ref, **{m: None for m in ("pet", "ct") if m not in wanted})
    loaded = load_scan(ref, suv_method=settings.preprocess.suv_method, hashes=hashes)
    mask, prov = loaded.mask, loaded.provenance
    if perturbation:
        mask = _perturbed(mask, perturbation, settings.seed, pid)
        prov = prov.then(Step("perturb_mask", settings={"perturbation": perturbation, "seed": settings.seed},
                              result={"perturbation": perturbation,
                                      "voxels": int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))}))
    prepared = prepare_patient(loaded.ct, loaded.pet, mask, preprocess=settings.preprocess, voi=settings.voi,
                               fusion=settings.fusion, seed=settings.seed, patient=pid)
    for step in prepared.steps:
        prov = prov.then(step)
    crops = None
    if crop_size is not None:
        from radscore.imaging.crop import crop_lesion

        crops = crop_lesion(loaded.ct, loaded.pet, loaded.mask, crop_size) if len(wanted) == 2 else None
    measures = None
    if settings.pet_measures.enabled and not perturbation and loaded.pet is not None:
        from radscore.imaging.pet_measures import pet_measures_native

        pm = settings.pet_measures
        try:
            measures = pet_measures_native(loaded.pet, loaded.mask, mtv_fraction=pm.mtv_fraction, mtv_suv=pm.mtv_suv)
        except ValueError as exc:
            raise ImageError(f"conventional PET measures: {exc}.", patient=pid,
                             fix="check that the mask and the PET cover the same region.") from None
        prov = prov.then(Step("pet_measures", settings=pm.model_dump(mode="json"),
                              result={"grid": "native PET", "spacing_mm": list(loaded.pet.GetSpacing()), **measures}))
    return PreparedScan(ref=ref, images=prepared.images, vois=prepared.vois, provenance=prov, crops=crops,
                        pet_measures=measures)


def _perturbed(mask: sitk.Image, name: str, seed: int, patient: str) -> sitk.Image:
    """The named perturbation of a mask (same grid), from the imaging stage's set."""
    from radscore.imaging.perturb import perturbed_masks

    arr = sitk.GetArrayFromImage(mask).astype(bool)
    variants = perturbed_masks(arr, tuple(reversed(mask.GetSpacing())), seed=seed, n_random=1)
    if name not in variants:
        raise ImageError(f"mask perturbation '{name}' leaves no voxel.", patient=patient,
                         fix="use a larger tumour mask.")
    out = sitk.GetImageFromArray(variants[name].astype(np.uint8))
    out.CopyInformation(mask)
    return out
