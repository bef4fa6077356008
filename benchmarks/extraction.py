"""Benchmark: plain PyRadiomics vs radscore on the same simulated patients, in one run.

Each simulated patient has a 120 x 160 x 160 CT-like volume (1 x 1 x 2 mm voxels) with a
~14k-voxel tumour, a PET-like volume and a fused PET/CT image in [0, 1]; four VOIs
(tumour, core = tumour eroded 3 mm, ring = tumour dilated 5 mm minus tumour inside the
body, tumour + ring). Both sides extract the seed's protocol (PROTOCOL.md A5) from all
12 VOIs with the same discretisation (CT bin width 25 HU, PET 0.25 SUV, fused 64 bins):

- PyRadiomics serial: one ``execute`` per (image, VOI), default settings otherwise, the way
  a user runs it (``LBP3D`` through radscore's SciPy-current LBP-3D, since PyRadiomics' own
  cannot run on current SciPy; ``--no-lbp3d`` drops it on both sides = 1781 features);
- PyRadiomics on ``--workers`` processes, one patient per process (what its batch mode's
  ``--jobs 2`` gives a user on two cores);
- radscore: its extraction runner (``radscore.features.runner``, the one ``radscore run``,
  ``predict``, the page and ``extract`` use) on ``--workers`` processes, given the same
  prepared images and VOIs.

Each side runs ``--repeat`` times (default 3) in its own forked process; printed are the
median wall seconds per patient, CPU seconds (process + children: unlike wall time they do
not depend on what else runs on the machine), both ratios and the max relative difference
|radscore - PyRadiomics| / max(1, |PyRadiomics|) over every feature. Peak memory is the
largest SUM of resident memory over the side's process and all its workers, sampled every
50 ms with psutil (forked workers' shared pages count in each), the same on every side.
Library set-up (imports; for radscore its numba kernels) is done before the clock starts.

Then one patient the way ``radscore run`` sees it: the simulated CT, PET and tumour mask
written as NIfTI files and run through the whole scan path (load, resample to 1 mm, fuse,
build the four VOIs, extract; ``extract_scans``) on 1 and on 2 workers (``--no-files`` skips).

``--real`` (or ``--only-real``) adds real sizes, with ``--real-image-types`` (default
Original: PyRadiomics filters whole images, hours on a whole-body 1 mm grid):

- the real whole-body FDG PET ``sts_001`` (TCIA soft-tissue sarcoma; DICOM converted to SUV
  by radscore's SUV code, RTSTRUCT ROI ``GTV_Mass``, PET-only study) and the IBSI CT phantom
  (a real NSCLC CT, ``GTV-1``, CT-only), each through ``prepare_scan`` (1 mm, VOIs) and the
  runner, time split into preprocessing and extraction; against PyRadiomics after SimpleITK's
  ResampleImageFilter onto the same grid and the same VOIs; on the sarcoma also the shape
  class alone, radscore's ``engine.shape_features`` vs PyRadiomics' ``RadiomicsShape``;
- a chest-sized CT, 300 x 512 x 512 voxels of 0.78 x 0.78 x 1.25 mm, with a 4 x 4 x 3 mm PET
  (simulated), through ``extract_scans``: time and summed peak memory; PyRadiomics skipped.

Measured 2026-12-02 on the project's 2-core virtual machine while other sessions shared it
(1-min load average 4-5 on 2 cores: wall times are inflated, CPU seconds are not): see
README "Development" for the figures.

Run: ``python benchmarks/extraction.py [--patients 2] [--workers 2] [--no-lbp3d] [--repeat 3] [--real]``
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

SHAPE = tuple(int(n) for n in os.environ.get("RADSCORE_BENCH_SIZE", "120 160 160").split())
SPACING = (1.0, 1.0, 2.0)  # x, y, z in mm (SimpleITK order)
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


def simulate_patient(seed: int):
    """CT (HU), PET (SUV) and fused arrays plus the four VOIs, array order (z, y, x)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(SHAPE, dtype=np.float32)
    cz, cy, cx = (s / 2 for s in SHAPE)
    body = ((y - cy) / 70) ** 2 + ((x - cx) / 75) ** 2 <= 1
    lungs = (((y - cy) / 40) ** 2 + ((x - cx + 35) / 25) ** 2 <= 1) | (((y - cy) / 40) ** 2 + ((x - cx - 35) / 25) ** 2 <= 1)
    ct = np.where(body, 40.0, -1000.0).astype(np.float32)
    ct[lungs & body] = -850
    ct += ndi.gaussian_filter(rng.normal(0, 60, SHAPE).astype(np.float32), 1.0)
    zmm = (z - cz - 5 + seed % 3) * SPACING[2]
    d = np.sqrt(zmm ** 2 + (y - cy) ** 2 + (x - cx - 35) ** 2)
    tumor = d + ndi.gaussian_filter(rng.normal(0, 1, SHAPE).astype(np.float32), 3) * 8 <= 19
    ct[tumor] = 30 + rng.normal(0, 25, int(tumor.sum()))
    pet = 0.6 + 0.4 * body + ndi.gaussian_filter(rng.normal(0, 0.3, SHAPE).astype(np.float32), 1.5)
    pet[tumor] += 6 * np.exp(-((d[tumor] / 19) ** 2) * 1.5)
    pet = ndi.gaussian_filter(pet, 1.2).clip(0, None).astype(np.float32)
    fused = 0.5 * (ct - ct.min()) / np.ptp(ct) + 0.5 * pet / pet.max()
    # VOIs in millimetres on the physical grid (distance transforms with the spacing)
    sampling = SPACING[::-1]
    core = ndi.distance_transform_edt(tumor, sampling=sampling) > 3.0
    ring = (ndi.distance_transform_edt(~tumor, sampling=sampling) <= 5.0) & ~tumor & body
    vois = {"tumor": tumor, "core": core, "ring": ring, "tumor_ring": tumor | ring}
    return {"ct": ct, "pet": pet, "petct": fused.astype(np.float32)}, vois


def _images(arrays):
    out = {}
    for name, arr in arrays.items():
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(SPACING)
        out[name] = img
    return out


def _settings(lbp: bool):
    from radscore.features.settings import seed_settings

    settings = seed_settings()
    if not lbp:
        settings = settings.model_copy(update={"image_types": {k: v for k, v in settings.image_types.items()
                                                               if k != "LBP3D"}})
    return settings


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (workers, ITK threads included)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _pss(process) -> int:
    """A process's proportional set size in bytes (resident size where the OS has no PSS)."""
    full = process.memory_full_info()
    return getattr(full, "pss", full.rss)


class TreeMemory:
    """Peak of the SUMMED memory of a process and all its descendants, sampled every
    ``interval`` s by a thread of the parent (psutil). The same measure on every side: each
    process's proportional set size (PSS: its private pages plus its share of pages shared
    with others), so the pages a forked worker shares with its parent count once in the sum,
    not once per process as summed resident sizes would (Linux; elsewhere resident size)."""

    def __init__(self, pid: int, interval: float = 0.05):
        import threading

        import psutil

        self.proc, self.interval, self.peak = psutil.Process(pid), interval, 0
        self._on, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(self.interval):
            if not self._on.is_set():
                continue
            total = 0
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
            except psutil.Error:
                continue
            for p in procs:
                try:
                    total += _pss(p)
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)

    def start(self) -> None:
        self._on.set()

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self._on.clear()
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def _measured(ctx, target, args) -> tuple:
    """Run ``target(*args, queue)`` in a forked child; the child puts "start" when its clock
    starts and then its result tuple. Returns the result and the tree's summed peak (MB)
    between the two."""
    q = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, q))
    proc.start()
    mem = TreeMemory(proc.pid)
    assert _get(q, proc) == "start"
    mem.start()
    result = _get(q, proc)
    peak = mem.stop()
    proc.join()
    return result, peak


def _get(q, proc):
    """The side's next message; an error naming the exit code when the side died without one
    (PyRadiomics' shape C extension segfaults on the real sarcoma tumour at 1 mm)."""
    import queue as queue_

    while True:
        try:
            return q.get(timeout=1.0)
        except queue_.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"the measured process died (exit code {proc.exitcode})") from None


def _oracle():
    """The plain-PyRadiomics helpers, which live with the tests (PyRadiomics is a test dependency)."""
    folder = str(Path(__file__).resolve().parents[1] / "tests" / "features")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import pyrad_oracle

    return pyrad_oracle


def _pyrad_patient(p: int, images, vois, spec, image_types) -> dict:
    """One patient the PyRadiomics way: one ``execute`` per (image, VOI)."""
    pyrad = _oracle()
    out = {}
    for image_name, image in images.items():
        ext = pyrad.make_extractor(spec.settings_for(image_name), image_types, None)
        for voi_name, voi in vois.items():
            for k, v in pyrad.execute(ext, image, voi).items():
                out[(p, f"{image_name}_{voi_name}_{k}")] = v
    return out


_FORKED: dict = {}  # the patients, inherited by the forked by-patient pool


def _pyrad_forked(p: int) -> dict:
    images, vois, spec, image_types = _FORKED["patients"][p] + _FORKED["spec"]
    return _pyrad_patient(p, images, vois, spec, image_types)


def run_pyradiomics(n_patients: int, lbp: bool, jobs: int, queue) -> None:
    """Plain PyRadiomics: serially (``jobs`` = 1), or one patient per process on ``jobs``
    processes (what a PyRadiomics user gets from its batch mode's ``--jobs``)."""
    t_setup = time.perf_counter()
    pyrad = _oracle()
    from radscore.features.settings import spec_from_settings

    settings = _settings(lbp)
    spec = spec_from_settings(settings)
    pyrad.install_lbp3d()  # imports PyRadiomics
    t_setup = time.perf_counter() - t_setup
    patients = []
    for p in range(n_patients):  # simulated before the clock, as on the radscore side
        arrays, vois = simulate_patient(p)
        patients.append((_images(arrays), vois))
    del arrays
    queue.put("start")
    t0, c0 = time.perf_counter(), _cpu_s()
    results = {}
    if jobs == 1:
        for p, (images, vois) in enumerate(patients):
            results.update(_pyrad_patient(p, images, vois, spec, settings.image_types))
    else:
        _FORKED["patients"], _FORKED["spec"] = patients, (spec, settings.image_types)
        with mp.get_context("fork").Pool(jobs) as pool:
            for part in pool.imap_unordered(_pyrad_forked, range(n_patients)):
                results.update(part)
            pool.close()
            pool.join()  # workers' CPU is in RUSAGE_CHILDREN once they have exited
    elapsed, cpu = time.perf_counter() - t0, _cpu_s() - c0
    queue.put((elapsed, cpu, results, t_setup))


def run_radscore(n_patients: int, lbp: bool, workers: int, queue) -> None:
    t_setup = time.perf_counter()
    from radscore.features import engine
    from radscore.features.runner import extract_prepared
    from radscore.imaging.preprocess import PreparedScan

    engine.warm_up()  # imports PyRadiomics, loads the numba kernels (forked workers inherit both)
    t_setup = time.perf_counter() - t_setup
    settings = _settings(lbp)
    patients = []
    for p in range(n_patients):
        arrays, vois = simulate_patient(p)
        patients.append(PreparedScan.from_images(f"P{p}", _images(arrays), vois))
    del arrays
    queue.put("start")
    t0, c0 = time.perf_counter(), _cpu_s()
    extraction = extract_prepared(patients, settings, workers=workers)
    elapsed, cpu = time.perf_counter() - t0, _cpu_s() - c0
    results = {}
    for p, scan in enumerate(extraction.scans):
        assert scan.error is None, scan.error
        for k, v in scan.features.items():
            results[(p, k)] = float(v)
    queue.put((elapsed, cpu, results, t_setup))


def max_rel_diff(ref: dict, ours: dict) -> tuple[float, object]:
    """max |ours - ref| / max(1, |ref|) over the keys of ``ref`` (NaN on both sides agrees)."""
    worst, worst_key = 0.0, None
    for key, r in ref.items():
        o = ours[key]
        if np.isnan(r) and np.isnan(o):
            continue
        d = abs(o - r) / max(1.0, abs(r)) if not (np.isnan(r) or np.isnan(o)) else np.inf
        if d > worst:
            worst, worst_key = d, key
    return worst, worst_key


def _extract_files(ref, features, workers: int, queue) -> None:
    """One scan from files through ``radscore run``'s scan path (``extract_scans``), timed."""
    from radscore.config import ScanSettings
    from radscore.features import engine
    from radscore.features.runner import extract_scans

    engine.warm_up()
    queue.put("start")
    t0, c0 = time.perf_counter(), _cpu_s()
    result = extract_scans([ref], ScanSettings(features=features), workers=workers).scans[0]
    elapsed, cpu = time.perf_counter() - t0, _cpu_s() - c0
    assert result.error is None, result.error
    queue.put((elapsed, cpu, len(result.features)))


def run_one_patient_from_files(lbp: bool, workers: int, folder: str, queue) -> None:
    """One patient through ``radscore run``'s whole scan path, from NIfTI files, on ``workers``."""
    from radscore.io.scan import ScanRef

    ref = ScanRef("P0", ct=f"{folder}/ct.nii.gz", pet=f"{folder}/pet.nii.gz", mask=f"{folder}/mask.nii.gz")
    _extract_files(ref, _settings(lbp), workers, queue)


def _write_patient(folder: str) -> None:
    arrays, vois = simulate_patient(0)
    for name, arr in (("ct", arrays["ct"]), ("pet", arrays["pet"]), ("mask", vois["tumor"].astype(np.uint8))):
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(SPACING)
        sitk.WriteImage(img, f"{folder}/{name}.nii.gz")



# ------------------------------------------------------------------ real sizes
SARCOMA = REFERENCE / "pet" / "sts_001_raw_fdg_pet"
IBSI_CT = REFERENCE / "ibsi" / "ct_radiomics_phantom" / "nifti"


def _real_settings(image_types: list[str]):
    settings = _settings(lbp=True)
    return settings.model_copy(update={"image_types": {k: v for k, v in settings.image_types.items()
                                                       if k in image_types}})


def _real_scans() -> list[tuple[str, dict, list[str]]]:
    """(name, ScanRef fields, modalities) of the real scans: the sarcoma PET (PET only) and the
    IBSI CT phantom (CT only)."""
    return [("sarcoma PET (sts_001, GTV_Mass)", {"pet": str(SARCOMA / "image"), "mask": str(SARCOMA / "mask" / "1-1.dcm"),
                                                  "mask_roi": "GTV_Mass"}, ["pet"]),
            ("IBSI CT phantom (GTV-1)", {"ct": str(IBSI_CT / "image" / "phantom.nii.gz"),
                                         "mask": str(IBSI_CT / "mask" / "mask.nii.gz")}, ["ct"])]


def run_real_radscore(fields: dict, modalities: list[str], image_types: list[str], workers: int, shape: bool,
                      queue) -> None:
    """One real scan the way ``radscore run`` prepares and extracts it: ``prepare_scan`` (load,
    SUV, RTSTRUCT, resample to 1 mm, VOIs), then the extraction runner on ``workers``."""
    import SimpleITK as sitk_

    from radscore.config import ScanSettings
    from radscore.features import engine
    from radscore.features.runner import extract_prepared
    from radscore.imaging.preprocess import prepare_scan
    from radscore.io.scan import ScanRef

    engine.warm_up()
    settings = ScanSettings(modalities=modalities, features=_real_settings(image_types))
    sitk_.ProcessObject.SetGlobalDefaultNumberOfThreads(workers)  # the runner's threads for a lone scan
    queue.put("start")
    t0, c0 = time.perf_counter(), _cpu_s()
    prepared = prepare_scan(ScanRef("real", **fields), settings)
    t_prep = time.perf_counter() - t0
    scan = extract_prepared([prepared], settings.features, workers=workers).scans[0]
    t_ext, cpu = time.perf_counter() - t0 - t_prep, _cpu_s() - c0
    assert scan.error is None, scan.error
    image = next(iter(prepared.images.values()))
    info = {"grid": image.GetSize(), "voxels": {k: int(v.sum()) for k, v in prepared.vois.items()}}
    shapes = None
    if shape:  # the shape class alone on the tumour: radscore's engine.shape_features vs PyRadiomics'
        from radiomics.shape import RadiomicsShape

        tumor, spacing = prepared.vois["tumor"], image.GetSpacing()
        t1 = time.perf_counter()
        ours = engine.shape_features({"tumor": tumor}, spacing)["tumor"]
        t_ours = time.perf_counter() - t1
        t1 = time.perf_counter()
        # on the tumour's bounding box, as PyRadiomics' extractor gives it to its shape class
        # (on a whole-body grid its C code allocates 9 doubles per voxel and crashes)
        box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(tumor))
        m = sitk_.GetImageFromArray(tumor[box].astype(np.uint32))
        m.SetSpacing(spacing)
        blank = sitk_.GetImageFromArray(np.zeros(tumor[box].shape, np.float32))
        blank.CopyInformation(m)  # PyRadiomics takes the spacing from the image
        obj = RadiomicsShape(blank, m, label=1)
        obj.enableAllFeatures()
        ref = {f"original_shape_{k}": float(v) for k, v in obj.execute().items()}
        t_ref = time.perf_counter() - t1
        shapes = (t_ours, t_ref, *max_rel_diff(ref, ours), len(ref))
    queue.put((t_prep, t_ext, cpu, {k: float(v) for k, v in scan.features.items()}, info, shapes))


def run_real_pyradiomics(fields: dict, modalities: list[str], image_types: list[str], queue) -> None:
    """The same scan for a PyRadiomics user: radscore's loaders (SUV, RTSTRUCT; not PyRadiomics'
    business), SimpleITK's ResampleImageFilter to the same centre-aligned 1 mm grid (B-spline
    image, nearest-neighbour mask), the four VOIs by radscore's make_vois (PyRadiomics has none),
    then one PyRadiomics ``execute`` per VOI."""
    from radscore.config import VoiSettings
    from radscore.features.settings import spec_from_settings
    from radscore.imaging.resample import grid_for_spacing
    from radscore.imaging.voi import body_mask, make_vois
    from radscore.io.scan import ScanRef, load_scan

    pyrad = _oracle()
    settings = _real_settings(image_types)
    spec = spec_from_settings(settings)
    pyrad.install_lbp3d()
    vs = VoiSettings()
    queue.put("start")
    t0, c0 = time.perf_counter(), _cpu_s()
    loaded = load_scan(ScanRef("real", **fields))
    image = loaded.ct if "ct" in modalities else loaded.pet
    size, spacing, origin = grid_for_spacing(image, (1.0, 1.0, 1.0))
    out = []
    for img, interp, default in ((image, sitk.sitkBSpline, -1024.0 if "ct" in modalities else 0.0),
                                 (loaded.mask, sitk.sitkNearestNeighbor, 0.0)):
        f = sitk.ResampleImageFilter()
        f.SetSize(size)
        f.SetOutputSpacing(spacing)
        f.SetOutputOrigin(origin)
        f.SetOutputDirection(img.GetDirection())
        f.SetInterpolator(interp)
        f.SetDefaultPixelValue(default)
        f.SetOutputPixelType(img.GetPixelID())
        out.append(f.Execute(img))
    image_r, mask_r = out
    arr = sitk.GetArrayViewFromImage(image_r)
    body = body_mask(arr, vs.body_threshold_hu) if "ct" in modalities else None
    vois, _ = make_vois(sitk.GetArrayFromImage(mask_r).astype(bool), tuple(spacing[::-1]), vs.core_mm, vs.ring_mm,
                        body=body)
    t_prep = time.perf_counter() - t0
    name = modalities[0]
    ext = pyrad.make_extractor(spec.settings_for(name), settings.image_types, None)
    results = {}
    for voi_name, voi in vois.items():
        if voi.sum() >= vs.min_voxels:
            for k, v in pyrad.execute(ext, image_r, voi).items():
                results[f"{name}_{voi_name}_{k}"] = v
    t_ext, cpu = time.perf_counter() - t0 - t_prep, _cpu_s() - c0
    queue.put((t_prep, t_ext, cpu, results))


def write_chest(folder: str, shape=(300, 512, 512), spacing=(0.78, 0.78, 1.25)) -> None:
    """A whole-chest-sized CT (``shape`` z, y, x at ``spacing`` x, y, z mm), its PET (4 x 4 x 3 mm,
    covering the same field) and a 25 mm-radius tumour mask in the right lung, as NIfTI."""
    rng = np.random.default_rng(7)
    nz, ny, nx = shape
    y, x = np.ogrid[:ny, :nx]
    cy, cx = ny / 2, nx / 2
    body = ((y - cy) / (0.42 * ny)) ** 2 + ((x - cx) / (0.46 * nx)) ** 2 <= 1
    lungs = ((((y - cy) / (0.28 * ny)) ** 2 + ((x - cx + 0.2 * nx) / (0.14 * nx)) ** 2 <= 1)
             | (((y - cy) / (0.28 * ny)) ** 2 + ((x - cx - 0.2 * nx) / (0.14 * nx)) ** 2 <= 1))
    base = np.where(body, 40.0, -1000.0).astype(np.float32)
    base[lungs & body] = -850.0
    ct = np.empty(shape, np.float32)
    for z in range(nz):  # slice by slice: the noise of the whole volume at once would double the peak
        ct[z] = base + rng.normal(0, 15, (ny, nx)).astype(np.float32)
    zz, yy, xx = np.ogrid[:nz, :ny, :nx]
    r_mm = np.sqrt(((zz - nz / 2) * spacing[2]) ** 2 + ((yy - cy) * spacing[1]) ** 2
                   + ((xx - cx - 0.2 * nx) * spacing[0]) ** 2)
    tumor = r_mm <= 25.0
    ct[tumor] = 30.0 + rng.normal(0, 20, int(tumor.sum())).astype(np.float32)
    extent = np.array(shape[::-1]) * np.array(spacing)
    pet_spacing = (4.0, 4.0, 3.0)
    pet_shape = tuple(round(float(e / s)) for e, s in zip(extent, pet_spacing))[::-1]
    small = sitk.GetImageFromArray(ct)
    small.SetSpacing(spacing)
    for name, img in (("ct", small), ("mask", tumor.astype(np.uint8))):
        out = img if isinstance(img, sitk.Image) else sitk.GetImageFromArray(img)
        out.SetSpacing(spacing)
        sitk.WriteImage(out, f"{folder}/{name}.nii")
    del ct, small
    pz, py, px = np.ogrid[:pet_shape[0], :pet_shape[1], :pet_shape[2]]
    pr = np.sqrt(((pz - pet_shape[0] / 2) * 3.0) ** 2 + ((py - pet_shape[1] / 2) * 4.0) ** 2
                 + ((px - pet_shape[2] / 2 - 0.2 * nx * spacing[0] / 4.0) * 4.0) ** 2)
    pet = (1.0 + 7.0 * np.exp(-(pr / 20.0) ** 2) + rng.normal(0, 0.1, pet_shape)).clip(0, None).astype(np.float32)
    img = sitk.GetImageFromArray(pet)
    img.SetSpacing(pet_spacing)
    img.SetOrigin([(e - p * s) / 2 for e, p, s in zip(extent, pet_shape[::-1], pet_spacing)])
    sitk.WriteImage(img, f"{folder}/pet.nii")


def run_chest(folder: str, image_types: list[str], workers: int, queue) -> None:
    """The chest-sized scan through ``radscore run``'s scan path (``extract_scans``)."""
    from radscore.io.scan import ScanRef

    ref = ScanRef("chest", ct=f"{folder}/ct.nii", pet=f"{folder}/pet.nii", mask=f"{folder}/mask.nii")
    _extract_files(ref, _real_settings(image_types), workers, queue)


def real_sizes(ctx, args) -> None:
    types = args.real_image_types
    print(f"\n== real sizes (image types {', '.join(types)}; radscore on {args.workers} workers) ==")
    for name, fields, modalities in _real_scans():
        if not Path(next(iter(fields.values()))).exists():
            print(f"{name}: skipped, {next(iter(fields.values()))} not found")
            continue
        (t_prep, t_ext, cpu, ours, info, shapes), peak = _measured(
            ctx, run_real_radscore, (fields, modalities, types, args.workers, "pet" in modalities))
        print(f"{name}: 1 mm grid {info['grid']}, VOIs {info['voxels']}")
        print(f"  radscore     {t_prep + t_ext:7.1f} s/scan = preprocessing {t_prep:.1f} s + extraction {t_ext:.1f} s"
              f"   {cpu:7.1f} CPU-s   peak memory (sum) {peak:6.0f} MB")
        (p_prep, p_ext, p_cpu, ref), p_peak = _measured(ctx, run_real_pyradiomics, (fields, modalities, types))
        print(f"  PyRadiomics  {p_prep + p_ext:7.1f} s/scan = load + SimpleITK resampling + VOIs {p_prep:.1f} s + "
              f"extraction {p_ext:.1f} s   {p_cpu:7.1f} CPU-s   peak memory (sum) {p_peak:6.0f} MB   (serial)")
        worst, key = max_rel_diff(ref, ours)
        print(f"  PyRadiomics / radscore: {(p_prep + p_ext) / (t_prep + t_ext):.1f}x wall, {p_cpu / cpu:.1f}x CPU; "
              f"{len(ref)} features, max relative difference {worst:.2e}" + (f" ({key})" if key else ""))
        if shapes is not None:
            t_ours, t_ref, worst, key, n = shapes
            print(f"  shape class alone on the tumour ({n} features): radscore engine.shape_features {t_ours:.2f} s, "
                  f"PyRadiomics RadiomicsShape {t_ref:.2f} s, max relative difference {worst:.2e}"
                  + (f" ({key})" if key else ""))
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        writer = ctx.Process(target=write_chest, args=(folder,))  # in a child: its arrays never reach the sides
        writer.start()
        writer.join()
        (elapsed, cpu, n), peak = _measured(ctx, run_chest, (folder, types, args.workers))
        print(f"chest-sized CT 300x512x512 (0.78 x 0.78 x 1.25 mm) + PET 4 x 4 x 3 mm, 25 mm tumour, through "
              f"extract_scans: {elapsed:.1f} s/patient, {cpu:.1f} CPU-s, peak memory (sum) {peak:.0f} MB, {n} features")
        print("  PyRadiomics side at this size: skipped")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="radscore's workers and PyRadiomics' --jobs")
    ap.add_argument("--no-lbp3d", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side (medians printed)")
    ap.add_argument("--size", type=int, nargs=3, default=list(SHAPE), metavar=("Z", "Y", "X"),
                    help="volume size in voxels (default 120 160 160; e.g. 120 320 320 for a full field of view)")
    ap.add_argument("--real", action="store_true", help="also the real-size section (real scans, a chest-sized CT)")
    ap.add_argument("--only-real", action="store_true", help="the real-size section alone")
    ap.add_argument("--real-image-types", nargs="+", default=["Original"], metavar="TYPE",
                    help="image types of the real-size section (default Original: PyRadiomics filters whole images)")
    ap.add_argument("--no-files", action="store_true", help="skip the one-patient-from-files measurement")
    args = ap.parse_args()
    os.environ["RADSCORE_BENCH_SIZE"] = " ".join(str(n) for n in args.size)  # read by the sides
    lbp = not args.no_lbp3d
    ctx = mp.get_context("fork")
    import psutil

    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB; "
          f"1-min load average at start {os.getloadavg()[0]:.1f}")
    if not args.only_real:
        simulated(ctx, args, lbp)
    if args.real or args.only_real:
        real_sizes(ctx, args)


def simulated(ctx, args, lbp: bool) -> None:
    global SHAPE
    SHAPE = tuple(args.size)
    arrays, vois = simulate_patient(0)
    print(f"simulated patient: {SHAPE} voxels, spacing {SPACING} mm, "
          + ", ".join(f"{k} {int(v.sum())} vox" for k, v in vois.items()))
    del arrays, vois  # not inherited by the sides (their memory is measured)
    # Each side runs in a forked child, as `radscore run` on Linux forks its worker pool: a
    # spawned side would make multiprocessing spawn radscore's workers too, and every worker
    # would re-import PyRadiomics and load the numba kernels (~1 s each) before its first scan.
    sides = (("PyRadiomics serial", run_pyradiomics, (1,)),
             (f"PyRadiomics --jobs {args.workers}", run_pyradiomics, (args.workers,)),
             (f"radscore {args.workers} workers", run_radscore, (args.workers,)))
    out = {}
    for name, target, extra in sides:
        runs = []
        for _ in range(args.repeat):
            load = os.getloadavg()[0]
            (elapsed, cpu, results, t_setup), peak = _measured(ctx, target, (args.patients, lbp, *extra))
            runs.append((elapsed / args.patients, cpu / args.patients, peak, load))
        wall, cpu, peak = (float(np.median([r[i] for r in runs])) for i in range(3))
        out[name] = (wall, cpu, results)
        print(f"{name:22s} median {wall:6.1f} s/patient of {', '.join(f'{r[0]:.1f}' for r in runs)}   "
              f"{cpu:6.1f} CPU-s/patient   peak memory (sum over processes) {peak:6.0f} MB   "
              f"(set-up {t_setup:.1f} s once, not timed; load average at starts "
              f"{', '.join(f'{r[3]:.1f}' for r in runs)})")
    ours_name = sides[2][0]
    ours = out[ours_name][2]
    n = len(ours) and len(out[sides[0][0]][2])
    for name, _, _ in sides[:2]:
        wall, cpu, ref = out[name]
        assert set(ref) <= set(ours), "radscore lacks features PyRadiomics computed"
        worst, key = max_rel_diff(ref, ours)
        print(f"{name} / {ours_name}: {wall / out[ours_name][0]:.1f}x wall (medians), "
              f"{cpu / out[ours_name][1]:.1f}x CPU seconds; max relative difference {worst:.2e}"
              + (f" ({key[1]})" if key else ""))
    print(f"features: {n // args.patients} per patient ({n // args.patients // 12} per VOI x 12 VOIs), "
          f"{args.patients} patients")
    if args.no_files:
        return
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        _write_patient(folder)
        median = {}
        for workers in (1, 2):
            runs = []
            for _ in range(args.repeat):
                runs.append(_measured(ctx, run_one_patient_from_files, (lbp, workers, folder)))
            median[workers] = float(np.median([r[0][0] for r in runs]))
            print(f"one patient from files (load, resample to 1 mm, fuse, VOIs, {runs[0][0][2]} features) on {workers} "
                  f"worker{'s' if workers > 1 else ''}: median {median[workers]:.1f} s of "
                  f"{', '.join(f'{r[0][0]:.1f}' for r in runs)} s ({', '.join(f'{r[0][1]:.1f}' for r in runs)} CPU-s; "
                  f"peak memory (sum) {', '.join(f'{r[1]:.0f}' for r in runs)} MB)")
        print(f"one patient, 2 workers vs 1: {median[1] / median[2]:.2f}x faster in wall time (medians)")


if __name__ == "__main__":
    main()
