"""One scan: a typed reference to its files, and the one function that loads them.

A :class:`ScanRef` is built from a manifest row (:func:`scan_refs`), from the page's
uploads or from the ``predict``/``extract`` arguments; :func:`load_scan` reads its CT
(HU), PET (SUV, converted from DICOM tags where needed) and mask (an image file, or an
RTSTRUCT/SEG drawn on the CT) and records each step in the scan's provenance. Every
entry point reaches the images through here (then :func:`radscore.imaging.preprocess.prepare_scan`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radscore.errors import ImageError
from radscore.runtime.cache import make_key
from radscore.runtime.files import sha256_file
from radscore.runtime.provenance import ScanProvenance, Step, grid_of

#: The identity columns of every per-scan table (features, scores, QC).
ID_COLUMNS = ("patient_id", "timepoint", "lesion_id", "site")


@dataclass(frozen=True)
class ScanRef:
    """Where one scan's files are, and what the manifest says about them.

    Attributes
    ----------
    patient_id, timepoint, lesion_id, site : str
        The manifest's identity of the scan (never a DICOM header value).
    ct, pet, mask : str or None
        Paths: NIfTI/NRRD/MHA files or DICOM series folders; the mask may be an RTSTRUCT
        or SEG file (then ``mask_roi`` names the ROI or segment).
    mask_roi : str, optional
    mask_label : int, optional
        The label to use in a mask file holding several labels.
    weight_kg, dose_mbq : float, optional
        Override missing DICOM SUV tags.
    """

    patient_id: str
    timepoint: str = "baseline"
    lesion_id: str = "1"
    site: str = "primary"
    ct: str | None = None
    pet: str | None = None
    mask: str | None = None
    mask_roi: str | None = None
    mask_label: int | None = None
    weight_kg: float | None = None
    dose_mbq: float | None = None

    @property
    def key(self) -> str:
        """``patient_id/timepoint/lesion_id``: the scan's name in records and logs."""
        return f"{self.patient_id}/{self.timepoint}/{self.lesion_id}"

    @property
    def ident(self) -> dict[str, str]:
        """The :data:`ID_COLUMNS` values."""
        return {"patient_id": self.patient_id, "timepoint": self.timepoint, "lesion_id": self.lesion_id,
                "site": self.site}

    def with_mask(self, mask: str | None, roi: str | None = None) -> "ScanRef":
        """The same scan with another segmentation (e.g. the manifest's ``mask_2``)."""
        return replace(self, mask=mask, mask_roi=roi, mask_label=None)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def scan_refs(manifest: pd.DataFrame) -> list[ScanRef]:
    """One :class:`ScanRef` per manifest row (paths already resolved by :func:`~radscore.io.manifest.read_manifest`)."""
    refs = []
    for r in manifest.to_dict("records"):
        label = _number(r.get("mask_label"))
        refs.append(ScanRef(
            patient_id=str(r["patient_id"]), timepoint=str(r.get("timepoint") or "baseline"),
            lesion_id=_text(r.get("lesion_id")) or "1", site=_text(r.get("site")) or "primary",
            ct=_text(r.get("ct")), pet=_text(r.get("pet")), mask=_text(r.get("mask")),
            mask_roi=_text(r.get("mask_roi")), mask_label=None if label is None else int(label),
            weight_kg=_number(r.get("weight_kg")), dose_mbq=_number(r.get("dose_mbq")),
        ))
    return refs


def content_hash(path: str | None) -> str:
    """SHA-256 of a file's bytes, or of a folder's files' hashes (DICOM series); ``none``/``missing``.

    Raises OSError when a file exists but cannot be read.
    """
    if not path:
        return "none"
    p = Path(path)
    if p.is_dir():
        return make_key(*[sha256_file(f) for f in sorted(p.rglob("*")) if f.is_file()])
    return sha256_file(p) if p.is_file() else "missing"


def content_hashes(ref: ScanRef) -> dict[str, str]:
    """:func:`content_hash` of each of the scan's files, by role."""
    return {role: content_hash(getattr(ref, role)) for role in ("ct", "pet", "mask")}


@dataclass(frozen=True)
class LoadedScan:
    """A scan's images as read: CT in HU, PET in SUV, mask 0/1 (each on its own grid)."""

    ref: ScanRef
    ct: sitk.Image | None
    pet: sitk.Image | None
    mask: sitk.Image
    provenance: ScanProvenance


def _source(path: str) -> str:
    return "DICOM series" if Path(path).is_dir() else "image file"


def load_scan(ref: ScanRef, *, suv_method: str = "bw", hashes: dict[str, str] | None = None,
              expect_label: int | None = None) -> LoadedScan:
    """Read a scan's CT, PET and mask, recording each step (see :mod:`radscore.runtime.provenance`).

    Parameters
    ----------
    ref : ScanRef
    suv_method : str
        SUV normalisation of DICOM PET (``radscore.catalog.SUV_METHODS``).
    hashes : dict, optional
        :func:`content_hashes` of the scan when the caller has them (else computed here).
    expect_label : int, optional
        Without ``ref.mask_label``, the label a one-label mask must carry (PyRadiomics'
        default 1 for ``radscore extract``); None accepts any single label.

    Raises
    ------
    ImageError
        A file is missing, unreadable, holds NaN, several labels, or the ROI is absent.
    """
    from radscore.io.images import load_image, load_mask, load_pet

    pid = ref.patient_id
    hashes = hashes if hashes is not None else content_hashes(ref)
    prov = ScanProvenance(ref.key)
    ct = pet = None
    if ref.ct is None and ref.pet is None:
        raise ImageError("the scan has neither a CT nor a PET image.", patient=pid,
                         fix="fill the ct and pet columns of the manifest.")
    if ref.ct is not None:
        ct = load_image(ref.ct, modality="ct", patient=pid)
        prov = prov.then(Step("load_ct", inputs={"ct": hashes["ct"]},
                              result={"source": _source(ref.ct), "units": "HU", "grid": grid_of(ct)}))
    if ref.pet is not None:
        pet, factor = load_pet(ref.pet, patient=pid, weight_kg=ref.weight_kg, dose_mbq=ref.dose_mbq,
                               suv_method=suv_method)
        suv = None
        if factor is not None:
            per = np.asarray(factor.per_slice, float)
            suv = {"method": factor.method, "factor": float(per[0]), "factor_min": float(per.min()),
                   "factor_max": float(per.max()), "units": factor.units, "decay_correction": factor.decay_correction,
                   "tags_used": {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
                                 for k, v in factor.tags_used.items()}}
        overrides = {k: v for k, v in (("weight_kg", ref.weight_kg), ("dose_mbq", ref.dose_mbq)) if v is not None}
        prov = prov.then(Step("load_pet", settings={"suv_method": suv_method, **overrides}, inputs={"pet": hashes["pet"]},
                              result={"source": _source(ref.pet), "units": "SUV", "grid": grid_of(pet), "suv": suv},
                              warnings=tuple(factor.warnings) if factor is not None else ()))
    reference = ct if ct is not None else pet
    mask = load_mask(ref.mask, patient=pid, label=ref.mask_label, roi=ref.mask_roi, reference=reference,
                     expect_label=expect_label)
    source = "image file"
    if ref.mask_roi is not None and ref.mask and Path(ref.mask).is_file():
        from radscore.io.rtstruct import modality_of

        source = modality_of(ref.mask)
    prov = prov.then(Step("load_mask", settings={"roi": ref.mask_roi, "label": ref.mask_label},
                          inputs={"mask": hashes["mask"]},
                          result={"source": source, "roi": ref.mask_roi, "grid": grid_of(mask),
                                  "voxels": int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))}))
    return LoadedScan(ref=ref, ct=ct, pet=pet, mask=mask, provenance=prov)
