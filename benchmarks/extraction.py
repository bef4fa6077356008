"""Benchmark: plain PyRadiomics vs radscore on the same simulated patients, in one run.

Each simulated patient has a 120 x 160 x 160 CT-like volume (1 x 1 x 2 mm voxels) with a
~14k-voxel tumour, a PET-like volume and a fused PET/CT image in [0, 1]; four VOIs
(tumour, core = tumour eroded 3 mm, ring = tumour dilated 5 mm minus tumour inside the
body, tumour + ring). Both sides extract the seed's protocol (PROTOCOL.md A5) from all
12 VOIs with the same discretisation (CT bin width 25 HU, PET 0.25 SUV, fused 64 bins):

- PyRadiomics: one ``execute`` per (image, VOI), default settings otherwise, the way a
  user runs it (``LBP3D`` through radscore's SciPy-current LBP-3D, since PyRadiomics' own
  cannot run on current SciPy; ``--no-lbp3d`` drops it on both sides = 1781 features);
- radscore: its extraction runner (``radscore.features.runner``, the one ``radscore run``,
  ``predict``, the page and ``extract`` use) on ``--workers`` processes, given the same
  prepared images and VOIs.

Then one patient the way ``radscore run`` sees it: the simulated CT, PET and tumour mask
written as NIfTI files and run through the whole scan path (load, resample to 1 mm, fuse,
build the four VOIs, extract; ``radscore.features.runner.extract_scans``) on 1 and on 2
workers, ``--repeat`` times each, printing every wall time, the medians and their ratio (a
single patient's image parts are spread over the workers).

Library set-up (imports; for radscore also loading its compiled numba kernels, ~1 s once
per process, inherited by the forked workers) is done before the clock starts on both
sides and printed separately: a cohort pays it once, not per patient.

Each side runs in its own (forked) process, so peak memory (max RSS of the process and its
workers during extraction; both sides hold all simulated patients' images) is measured separately. Prints seconds per patient, the ratio, peak memory and
the max relative difference |radscore - PyRadiomics| / max(1, |PyRadiomics|). CPU seconds
(process + workers) are printed too: unlike wall time they do not depend on what else
runs on the machine.

Run: ``python benchmarks/extraction.py [--patients 2] [--workers 2] [--no-lbp3d] [--repeat 3]``
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


def _reset_peak() -> None:
    """Forget this process's peak RSS so far (Linux >= 4.0), so that the simulator's transient
    arrays do not count as extraction memory; elsewhere the peak includes them."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_mb() -> float:
    """Largest resident set during extraction: this process or one of its workers."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def run_pyradiomics(n_patients: int, lbp: bool, queue) -> None:
    t_setup = time.perf_counter()
    # the plain-PyRadiomics oracle lives with the tests (PyRadiomics is a test dependency)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "features"))
    import pyrad_oracle as pyrad

    from radscore.features.settings import spec_from_settings

    settings = _settings(lbp)
    spec = spec_from_settings(settings)
    pyrad.install_lbp3d()  # imports PyRadiomics
    t_setup = time.perf_counter() - t_setup
    results = {}
    elapsed = 0.0
    cpu = 0.0
    patients = []
    for p in range(n_patients):  # simulated before the clock, as on the radscore side
        arrays, vois = simulate_patient(p)
        patients.append((_images(arrays), vois))
    del arrays
    _reset_peak()
    for p, (images, vois) in enumerate(patients):
        t0, c0 = time.perf_counter(), _cpu_s()
        for image_name, image in images.items():
            ext = pyrad.make_extractor(spec.settings_for(image_name), settings.image_types, None)
            for voi_name, voi in vois.items():
                for k, v in pyrad.execute(ext, image, voi).items():
                    results[(p, f"{image_name}_{voi_name}_{k}")] = v
        elapsed += time.perf_counter() - t0
        cpu += _cpu_s() - c0
    queue.put(("pyradiomics", elapsed, cpu, _peak_mb(), results, t_setup))


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
    _reset_peak()
    t0, c0 = time.perf_counter(), _cpu_s()
    extraction = extract_prepared(patients, settings, workers=workers)
    elapsed, cpu = time.perf_counter() - t0, _cpu_s() - c0
    results = {}
    for p, scan in enumerate(extraction.scans):
        assert scan.error is None, scan.error
        for k, v in scan.features.items():
            results[(p, k)] = float(v)
    queue.put(("radscore", elapsed, cpu, _peak_mb(), results, t_setup))


def run_one_patient_from_files(lbp: bool, workers: int, folder: str, queue) -> None:
    """One patient through ``radscore run``'s whole scan path, from NIfTI files, on ``workers``."""
    from radscore.config import ScanSettings
    from radscore.features import engine
    from radscore.features.runner import extract_scans
    from radscore.io.scan import ScanRef

    engine.warm_up()
    ref = ScanRef("P0", ct=f"{folder}/ct.nii.gz", pet=f"{folder}/pet.nii.gz", mask=f"{folder}/mask.nii.gz")
    settings = ScanSettings(features=_settings(lbp))
    _reset_peak()
    t0, c0 = time.perf_counter(), _cpu_s()
    result = extract_scans([ref], settings, workers=workers).scans[0]
    elapsed, cpu = time.perf_counter() - t0, _cpu_s() - c0
    assert result.error is None, result.error
    queue.put((elapsed, cpu, len(result.features)))


def _write_patient(folder: str) -> None:
    arrays, vois = simulate_patient(0)
    for name, arr in (("ct", arrays["ct"]), ("pet", arrays["pet"]), ("mask", vois["tumor"].astype(np.uint8))):
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(SPACING)
        sitk.WriteImage(img, f"{folder}/{name}.nii.gz")


def main() -> None:
    global SHAPE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-lbp3d", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the one-patient measurement (median printed)")
    ap.add_argument("--size", type=int, nargs=3, default=list(SHAPE), metavar=("Z", "Y", "X"),
                    help="volume size in voxels (default 120 160 160; e.g. 120 320 320 for a full field of view)")
    args = ap.parse_args()
    os.environ["RADSCORE_BENCH_SIZE"] = " ".join(str(n) for n in args.size)  # read by the two sides
    lbp = not args.no_lbp3d

    SHAPE = tuple(args.size)
    arrays, vois = simulate_patient(0)
    print(f"simulated patient: {SHAPE} voxels, spacing {SPACING} mm, "
          + ", ".join(f"{k} {int(v.sum())} vox" for k, v in vois.items()))
    del arrays, vois  # not inherited by the two sides (their peak memory is measured)
    # Each side runs in a forked child, as `radscore run` on Linux forks its worker pool: a
    # spawned side would make multiprocessing spawn radscore's workers too, and every worker
    # would re-import PyRadiomics and load the numba kernels (~1 s each) before its first scan.
    ctx = mp.get_context("fork")
    out = {}
    for target, extra in ((run_pyradiomics, ()), (run_radscore, (args.workers,))):
        q = ctx.Queue()
        proc = ctx.Process(target=target, args=(args.patients, lbp, *extra, q))
        proc.start()
        load = os.getloadavg()[0]
        name, elapsed, cpu, peak, results, t_setup = q.get()
        proc.join()
        out[name] = (elapsed, peak, results, cpu)
        print(f"{name:12s} {elapsed / args.patients:8.1f} s/patient   {cpu / args.patients:8.1f} CPU-s/patient   "
              f"peak memory {peak:6.0f} MB   (library set-up {t_setup:.1f} s, once, not timed; "
              f"1-min load average at start {load:.1f} on {os.cpu_count()} cores)")
    (t_ref, _, ref, c_ref), (t_ours, _, ours, c_ours) = out["pyradiomics"], out["radscore"]
    assert set(ref) == set(ours), "the two sides produced different feature sets"
    worst, worst_key = 0.0, None
    for key, r in ref.items():
        o = ours[key]
        if np.isnan(r) and np.isnan(o):
            continue
        d = abs(o - r) / max(1.0, abs(r)) if not (np.isnan(r) or np.isnan(o)) else np.inf
        if d > worst:
            worst, worst_key = d, key
    per_voi = len(ref) // args.patients // 12
    print(f"features: {len(ref) // args.patients} per patient ({per_voi} per VOI x 12 VOIs), "
          f"{args.patients} patients, radscore on {args.workers} worker processes")
    print(f"speed-up (PyRadiomics / radscore, s per patient): {t_ref / t_ours:.1f}x   "
          f"(CPU seconds per patient: {c_ref / c_ours:.1f}x)")
    print(f"max relative difference: {worst:.2e}" + (f" ({worst_key[1]})" if worst_key else ""))

    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        _write_patient(folder)
        median = {}
        for workers in (1, 2):
            runs = []
            for _ in range(args.repeat):
                q = ctx.Queue()
                proc = ctx.Process(target=run_one_patient_from_files, args=(lbp, workers, folder, q))
                proc.start()
                runs.append(q.get())
                proc.join()
            median[workers] = float(np.median([r[0] for r in runs]))
            print(f"one patient from files (load, resample to 1 mm, fuse, VOIs, {runs[0][2]} features) on {workers} "
                  f"worker{'s' if workers > 1 else ''}: median {median[workers]:.1f} s of "
                  f"{', '.join(f'{r[0]:.1f}' for r in runs)} s ({', '.join(f'{r[1]:.1f}' for r in runs)} CPU-s)")
        print(f"one patient, 2 workers vs 1: {median[1] / median[2]:.2f}x faster in wall time (medians)")


if __name__ == "__main__":
    main()
