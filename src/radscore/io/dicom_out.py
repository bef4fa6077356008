"""DICOM outputs: a scan's VOIs as a DICOM SEG and its Radscores as a TID 1500 SR (highdicom).

The SEG holds the four VOIs (:data:`radscore.catalog.VOIS`, those kept) exactly as features
were computed on them: binary frames on the prepared grid (``preprocess.spacing_mm``,
optionally cropped), placed by their own plane positions and orientation in the source
CT's frame of reference (the PET's in a PET-only study). When that grid is the CT's own
(``spacing_mm: null``) its frames coincide with CT slices. The SR is a TID 1500
Measurement Report: per model, the Radscore (the model's name and artifact hash as its
algorithm) and the model's input features, each measurement group referencing its VOI's
segment in the SEG. Features are coded with their IBSI 1 identifiers where IBSI has one
(:data:`radscore.features.ibsi_names.IBSI_CODES`; scheme designator ``IBSI``), otherwise
with the local scheme ``99RADSCORE`` whose code meaning is the PyRadiomics feature name.
Both schemes are declared in the SR's Coding Scheme Identification Sequence.

Both objects copy the patient and study modules from the source series (highdicom does;
DICOM requires it) and nothing else identifying: no name, ID or date is ever read here
into a log, file name or table. UIDs are new for every object written, as DICOM requires
of a new instance; pixel data and measurement values are deterministic.

References: DICOM PS3.3 A.51 (Segmentation IOD), PS3.16 TID 1500 (Measurement Report);
Herz et al., highdicom, J Digit Imaging 2022;35:1719-1737, doi:10.1007/s10278-022-00683-y.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset

from radscore.catalog import VOIS, feature_parts
from radscore.errors import ImageError
from radscore.features.ibsi_names import ibsi_code

LOCAL_SCHEME = "99RADSCORE"
IBSI_SCHEME = "IBSI"

#: What each VOI is (the SEG's segment description; PROTOCOL A4).
VOI_DESCRIPTIONS = {
    "tumor": "the tumour mask on the feature grid",
    "core": "the tumour eroded by voi.core_mm (intratumoral core)",
    "ring": "the tumour dilated by voi.ring_mm minus the tumour, inside the body (peritumoral ring)",
    "tumor_ring": "the tumour plus its peritumoral ring",
}

#: Units of the shape features whose unit is fixed (mm on the physical grid); other features are
#: recorded without a unit (UCUM "1"): intensity features take the unit of their image (HU, SUV,
#: a fused or filtered intensity), which no single code states.
SHAPE_UNITS = {"MeshVolume": "mm3", "VoxelVolume": "mm3", "SurfaceArea": "mm2", "Maximum3DDiameter": "mm",
               "Maximum2DDiameterSlice": "mm", "Maximum2DDiameterColumn": "mm", "Maximum2DDiameterRow": "mm",
               "MajorAxisLength": "mm", "MinorAxisLength": "mm", "LeastAxisLength": "mm",
               "SurfaceVolumeRatio": "/mm"}


@dataclass(frozen=True)
class SourceSeries:
    """The DICOM series a scan's VOIs refer to (headers only, no pixel data).

    Attributes
    ----------
    reference : list of Dataset
        The series the prepared grid was derived from: the CT, or the PET without a CT.
    further : list of Dataset
        Another series of the scan in the same frame of reference (the PET beside the CT).
    note : str or None
        Why a further series is not referenced (another frame of reference), for the index.
    """

    reference: list[Dataset]
    further: list[Dataset] = field(default_factory=list)
    note: str | None = None


@dataclass(frozen=True)
class ModelResult:
    """One model's output for one scan, as the SR records it.

    Attributes
    ----------
    name : str
        The model's name (``comb``, ``pet``, ...).
    title : str
        Its display name (``COMB-Radscore``).
    version : str
        Its artifact's content hash (identity of the exact model).
    radscore : float
    features : dict
        The model's input features -> this scan's values, in model order.
    """

    name: str
    title: str
    version: str
    radscore: float
    features: dict[str, float]


def read_headers(folder: str | Path, *, patient: str | None = None) -> list[Dataset]:
    """Headers (no pixel data) of the one DICOM series in ``folder``, as :mod:`radscore.io.dicom` finds it."""
    from radscore.io.dicom import _series_files

    files = _series_files(Path(folder), patient)
    try:
        return [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for broken files
        raise ImageError(f"cannot read a DICOM header ({type(exc).__name__}).", patient=patient,
                         file=str(folder)) from None


def source_series(ct: str | None, pet: str | None, *, patient: str | None = None) -> SourceSeries | str:
    """The scan's DICOM source series, or why the SEG/SR cannot refer to one.

    Parameters
    ----------
    ct, pet : str or None
        The scan's image paths as the study uses them (None for a modality it does not use).

    Returns
    -------
    SourceSeries, or a str saying why there is none (the reference image is not a DICOM series).
    """
    def is_series(path: str | None) -> bool:
        return path is not None and Path(path).is_dir()

    ref_path, ref_name = (ct, "CT") if ct is not None else (pet, "PET")
    if not is_series(ref_path):
        return (f"the {ref_name} the VOIs are drawn on is an image file, not a DICOM series: a SEG/SR needs the "
                "source series' UIDs and frame of reference")
    reference = read_headers(ref_path, patient=patient)
    if ct is None or not is_series(pet):
        return SourceSeries(reference)
    further = read_headers(pet, patient=patient)
    frame = str(reference[0].get("FrameOfReferenceUID", ""))
    if frame and str(further[0].get("FrameOfReferenceUID", "")) == frame:
        return SourceSeries(reference, further)
    return SourceSeries(reference, note="the PET series has another frame of reference than the CT; the SEG "
                                        "refers to the CT only")


def grid_geometry(grid: sitk.Image) -> tuple[np.ndarray, list[float], tuple[float, float], float]:
    """DICOM geometry of a SimpleITK grid: frame positions (n x 3, LPS mm), ImageOrientationPatient,
    PixelSpacing (row spacing, column spacing) and the spacing between frames."""
    d = np.asarray(grid.GetDirection(), float).reshape(3, 3)
    sx, sy, sz = grid.GetSpacing()
    origin = np.asarray(grid.GetOrigin(), float)
    positions = origin[None, :] + np.arange(grid.GetSize()[2])[:, None] * (d[:, 2] * sz)[None, :]
    orientation = [float(v) for v in (*d[:, 0], *d[:, 1])]  # row direction (x), then column direction (y)
    return positions, orientation, (float(sy), float(sx)), float(sz)


def _segment_description(number: int, voi: str, settings: dict[str, float], version: str):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    if voi == "ring":
        category, kind = codes.SCT.Tissue, codes.SCT.Tissue
    else:
        category, kind = codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Neoplasm
    algorithm = hd.AlgorithmIdentificationSequence(
        name="radscore VOIs", family=codes.cid7162.MorphologicalOperations, version=version,
        parameters={k: f"{v:g}" for k, v in settings.items()})
    return hd.seg.SegmentDescription(
        segment_number=number, segment_label=voi, segmented_property_category=category,
        segmented_property_type=kind, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm, tracking_uid=hd.UID(), tracking_id=f"VOI {voi}")


def build_seg(vois: dict[str, np.ndarray], grid: sitk.Image, source: SourceSeries, *,
              voi_settings: dict[str, float], version: str):
    """The VOIs as a binary DICOM SEG on ``grid`` (one segment per VOI, in :data:`VOIS` order).

    Parameters
    ----------
    vois : dict
        VOI name -> bool array (z, y, x) on ``grid`` (:attr:`PreparedScan.vois`).
    grid : SimpleITK.Image
        The prepared grid (any of :attr:`PreparedScan.images`).
    source : SourceSeries
    voi_settings : dict
        ``core_mm``, ``ring_mm``: recorded as the algorithm's parameters.
    version : str
        radscore's version.

    Returns
    -------
    highdicom.seg.Segmentation
    """
    import highdicom as hd

    names = [v for v in VOIS if v in vois]
    if not names:
        raise ValueError("no VOI to write")
    size_zyx = tuple(grid.GetSize()[::-1])
    shapes = {np.shape(vois[v]) for v in names}
    if shapes != {size_zyx}:
        raise ValueError(f"VOIs of shape(s) {sorted(shapes)} are not on the grid {size_zyx}")
    positions, orientation, pixel_spacing, dz = grid_geometry(grid)
    # only the frames between the VOIs' first and last slice: a whole-body grid at 1 mm would
    # otherwise be stacked in full (4 VOIs x ~10^8 voxels) before highdicom drops the empty frames
    filled = np.flatnonzero(np.any([np.asarray(vois[v]).any(axis=(1, 2)) for v in names], axis=0))
    if filled.size == 0:
        raise ValueError("every VOI is empty")
    z0, z1 = int(filled[0]), int(filled[-1]) + 1
    stack = np.stack([np.asarray(vois[v][z0:z1], dtype=bool) for v in names], axis=-1)
    positions = positions[z0:z1]
    return hd.seg.Segmentation(
        source_images=source.reference, further_source_images=source.further or None,
        pixel_array=stack.astype(np.uint8), segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_segment_description(i + 1, v, voi_settings, version) for i, v in enumerate(names)],
        series_instance_uid=hd.UID(), series_number=901, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="radscore", manufacturer_model_name="radscore", software_versions=version,
        device_serial_number="none", content_label="RADSCORE_VOIS",
        content_description="VOIs radscore computed features on",
        pixel_measures=hd.PixelMeasuresSequence(pixel_spacing=pixel_spacing, slice_thickness=dz,
                                                spacing_between_slices=dz),
        plane_orientation=hd.PlaneOrientationSequence(coordinate_system="PATIENT", image_orientation=orientation),
        plane_positions=[hd.PlanePositionSequence(coordinate_system="PATIENT", image_position=[float(v) for v in p])
                         for p in positions],
        omit_empty_frames=True)


def feature_concept(column: str):
    """The coded name of a feature column: its IBSI identifier where it has one, else a local code.

    A local code's meaning is the PyRadiomics name (``wavelet-LLH_glcm_Contrast``; the image
    and VOI are the measurement's method and its group's segment), at most 64 characters as
    CodeMeaning allows; its value is ``F`` + 15 hex digits of the name's SHA-256, because a
    code value longer than 16 characters needs LongCodeValue, which highdicom 0.28 and many
    viewers do not read back.
    """
    import hashlib

    import highdicom as hd

    parts = feature_parts(column)
    code = ibsi_code(parts[2]) if parts is not None else None
    if code is not None:
        return hd.sr.CodedConcept(value=code[0], scheme_designator=IBSI_SCHEME, meaning=code[1])
    name = parts[2] if parts is not None else column
    value = "F" + hashlib.sha256(name.encode()).hexdigest()[:15].upper()
    return hd.sr.CodedConcept(value=value, scheme_designator=LOCAL_SCHEME, meaning=name[:64])


def _unit(column: str):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    parts = feature_parts(column)
    unit = None
    if parts is not None and parts[2].count("_") >= 2:
        _image_type, family, name = parts[2].rsplit("_", 2)
        unit = SHAPE_UNITS.get(name) if family == "shape" else None
    if unit is None:
        return codes.UCUM.NoUnits
    return hd.sr.CodedConcept(value=unit, scheme_designator="UCUM", meaning=unit)


def _image_concept(image: str):
    import highdicom as hd

    from radscore.catalog import IMAGE_TITLES

    return hd.sr.CodedConcept(value=f"image-{image}", scheme_designator=LOCAL_SCHEME,
                              meaning=f"measured on the {IMAGE_TITLES[image]} image")


def _coding_schemes() -> list[Dataset]:
    out = []
    for designator, name, org in ((IBSI_SCHEME, "Image Biomarker Standardisation Initiative (IBSI 1) identifiers",
                                   "IBSI"),
                                  (LOCAL_SCHEME, "radscore local codes: Radscore, images, features (meaning: PyRadiomics name)",
                                   "radscore")):
        item = Dataset()
        item.CodingSchemeDesignator = designator
        item.CodingSchemeName = name
        item.CodingSchemeResponsibleOrganization = org
        out.append(item)
    return out


def build_sr(seg, source: SourceSeries, results: list[ModelResult], *, version: str, modalities: tuple[str, ...]):
    """A TID 1500 Measurement Report: per model, the Radscore and its input features per VOI.

    Each model gives one measurement group per VOI its features use (named ``"<model> <voi>"``,
    referencing that VOI's segment in ``seg``); the Radscore is in the tumour's group, with the
    model's name and artifact hash as its algorithm. Non-finite feature values are left out
    (the model imputed them; see its ``preprocessing.json``).

    Returns
    -------
    highdicom.sr.Comprehensive3DSR
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    segments = {str(s.SegmentLabel): int(s.SegmentNumber) for s in seg.SegmentSequence}
    # the segment's source is named by its series (not every slice: a whole-body CT has hundreds)
    series = hd.sr.SourceSeriesForSegmentation(str(source.reference[0].SeriesInstanceUID))
    groups = []
    for result in results:
        algorithm = hd.sr.AlgorithmIdentification(name=result.title, version=result.version[:64])
        by_voi: dict[str, list] = {}
        for column, value in result.features.items():
            if value is None or not np.isfinite(value):
                continue
            parts = feature_parts(column)
            # features not on a VOI (deep features of the lesion's crops) belong to the tumour
            voi = parts[1] if parts is not None else "tumor"
            by_voi.setdefault(voi, []).append(hd.sr.Measurement(
                name=feature_concept(column), value=float(value), unit=_unit(column),
                method=_image_concept(parts[0]) if parts is not None else None))
        radscore = hd.sr.Measurement(
            name=hd.sr.CodedConcept(value="RADSCORE", scheme_designator=LOCAL_SCHEME, meaning="Radscore"),
            value=float(result.radscore), unit=codes.UCUM.NoUnits, algorithm_id=algorithm)
        by_voi.setdefault("tumor", []).insert(0, radscore)
        for voi in [v for v in VOIS if v in by_voi]:
            if voi not in segments:
                raise ValueError(f"model {result.name} uses VOI '{voi}', which the SEG does not hold")
            groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"{result.name} {voi}"),
                referenced_segment=hd.sr.ReferencedSegment(
                    sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID,
                    segment_number=segments[voi], source_series=series),
                finding_type=codes.SCT.Tissue if voi == "ring" else codes.SCT.Neoplasm,
                algorithm_id=algorithm, measurements=by_voi[voi]))
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="radscore", manufacturer_name="radscore", model_name=f"radscore {version}"))
    procedure = codes.cid100.CTUnspecifiedBodyRegion if "pet" not in modalities else codes.cid100.PETUnspecifiedBodyRegion
    report = hd.sr.MeasurementReport(observation_context=hd.sr.ObservationContext(observer_device_context=device),
                                     procedure_reported=procedure, imaging_measurements=groups)
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*source.reference, *source.further, seg], content=report, series_instance_uid=hd.UID(),
        series_number=902, sop_instance_uid=hd.UID(), instance_number=1, manufacturer="radscore",
        is_complete=True, is_final=False, is_verified=False)
    sr.CodingSchemeIdentificationSequence = _coding_schemes()
    return sr


def write_dicom_outputs(vois: dict[str, np.ndarray], grid: sitk.Image, source: SourceSeries,
                        results: list[ModelResult], out_dir: str | Path, *, voi_settings: dict[str, float],
                        modalities: tuple[str, ...]) -> tuple[Path, Path | None]:
    """Write ``out_dir/seg.dcm`` (the VOIs) and, with results, ``out_dir/sr.dcm`` (the Radscores).

    Returns
    -------
    (seg_path, sr_path or None)
    """
    from radscore import __version__
    from radscore.runtime.files import atomic_write_bytes

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _names_unquoted():
        seg = build_seg(vois, grid, source, voi_settings=voi_settings, version=__version__)
    seg_path = out_dir / "seg.dcm"
    atomic_write_bytes(seg_path, _encoded(seg))
    if not results:
        return seg_path, None
    with _names_unquoted():
        sr = build_sr(seg, source, results, version=__version__, modalities=modalities)
    sr_path = out_dir / "sr.dcm"
    atomic_write_bytes(sr_path, _encoded(sr))
    return seg_path, sr_path


@contextmanager
def _names_unquoted():
    """Silence highdicom's warning about a one-part PatientName, which quotes the name: it would
    put a patient's name from the source headers into the terminal or a log."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name.*")
        yield


def _encoded(ds: Dataset) -> bytes:
    from io import BytesIO

    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
