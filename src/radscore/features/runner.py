"""The extraction runner: the one way any entry point turns scans into feature rows.

(The tasks themselves, as they run in a worker, are in :mod:`radscore.features.tasks`.)

``radscore run`` (and its robustness repeats), ``predict``, the page and ``extract`` all
call :func:`extract_scans` (scans given by their files) or :func:`extract_prepared`
(scans already prepared in this process). The work is a small task graph run by
:class:`radscore.runtime.executor.TaskPool` on local processes or a Dask cluster:

1. one *prepare* task per scan (:func:`radscore.imaging.preprocess.prepare_scan`): load,
   resample, fuse, build the VOIs; the images and VOIs are written to a scratch folder;
2. then, per image, up to three *part* tasks of contiguous image types
   (:func:`split_image_types`: e.g. original + wavelet | LoG | the rest), each computing
   all of the scan's VOIs with the filters shared (:func:`radscore.features.engine.extract_image`),
   and one *shape* task (shape depends on the mask only). Part tasks go ahead of waiting
   prepare tasks, so a scan finishes soon after it starts and two or more workers stay
   busy even on a single patient.

Every (image, part, VOI) result is cached the moment it is computed, under a key made of
the prepared image's and VOI's content hashes and the settings' fingerprint; a prepared
scan's metadata (those hashes, its provenance) is cached under a key of its input files'
content and the preparation settings. A rerun therefore assembles finished scans from the
cache without loading an image, and an interrupted run recomputes only the parts that
have no complete entry. A scan that fails (at any task) is reported with the reason; the
others carry on.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from radscore import __version__
from radscore.catalog import CONVENTIONAL_PREFIX
from radscore.config import ScanSettings
from radscore.errors import ImageError, OutputError, describe
from radscore.features import tasks
from radscore.features.settings import ENGINE_VERSION, FeatureSpec, spec_from_settings
from radscore.features.tasks import SHAPE, entry_key, shape_key, split_image_types
from radscore.imaging.preprocess import PreparedScan
from radscore.io.scan import ID_COLUMNS, ScanRef, content_hashes
from radscore.runtime.cache import ResultCache, make_key
from radscore.runtime.executor import TaskPool
from radscore.runtime.progress import progress
from radscore.runtime.provenance import ScanProvenance, Step

log = logging.getLogger(__name__)

_PART_PRIORITY, _PREPARE_PRIORITY = 1, 0  # a started scan's parts go first (plus their cost, below)


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class ScanFeatures:
    """One scan's outcome: its features and provenance, or why it has none."""

    ref: ScanRef
    features: dict[str, float] | None = None
    provenance: ScanProvenance | None = None
    error: str | None = None
    crops: dict[str, np.ndarray] | None = None


@dataclass(frozen=True)
class Extraction:
    """Every scan's :class:`ScanFeatures`, in input order."""

    scans: tuple[ScanFeatures, ...]

    def table(self, *, sort_columns: bool = True) -> pd.DataFrame:
        """One row per scan that succeeded: :data:`~radscore.io.scan.ID_COLUMNS`, then the features
        (sorted by name, or in PyRadiomics' order), rows sorted by patient, time point, lesion."""
        done = [s for s in self.scans if s.features is not None]
        if not done:
            return pd.DataFrame(columns=list(ID_COLUMNS))
        # scans of one study share a few key layouts (usually one): each layout's column
        # positions are looked up once, then a row is one vectorised assignment (264 scans x
        # 25k features: 5 s cell by cell before)
        layouts: dict[tuple[str, ...], np.ndarray | None] = {}
        names: dict[str, None] = {}
        for s in done:
            keys = tuple(s.features)
            if keys not in layouts:
                layouts[keys] = None
                names.update(dict.fromkeys(k for k in keys if k not in ID_COLUMNS))
        columns = sorted(names) if sort_columns else list(names)
        where = {c: i for i, c in enumerate(columns)}
        for keys in layouts:
            layouts[keys] = np.array([where.get(k, -1) for k in keys], dtype=np.int64)
        values = np.full((len(done), len(columns)), np.nan)
        for row, s in enumerate(done):
            pos = layouts[tuple(s.features)]
            got = np.array(list(s.features.values()), dtype=np.float64)  # None -> NaN, as before
            values[row, pos[pos >= 0]] = got[pos >= 0]
        df = pd.concat([pd.DataFrame([s.ref.ident for s in done], columns=list(ID_COLUMNS)),
                        pd.DataFrame(values, columns=columns)], axis=1)
        return df.sort_values(["patient_id", "timepoint", "lesion_id"], kind="mergesort").reset_index(drop=True)

    def qc(self, stage: str = "extract") -> pd.DataFrame:
        """One row per excluded scan and per warning: ID columns, stage, severity, problem."""
        rows = []
        for s in self.scans:
            if s.error is not None:
                rows.append({**s.ref.ident, "stage": stage, "severity": "excluded", "problem": s.error})
            elif s.provenance is not None:
                rows += [{**s.ref.ident, "stage": stage, "severity": "warning", "problem": w}
                         for w in s.provenance.warnings]
        return pd.DataFrame(rows, columns=[*ID_COLUMNS, "stage", "severity", "problem"])

    @property
    def provenance(self) -> list[ScanProvenance]:
        return [s.provenance for s in self.scans if s.features is not None and s.provenance is not None]

    def crops(self) -> dict[tuple[str, str, str], dict[str, np.ndarray]]:
        """Deep-feature crops by ``(patient_id, timepoint, lesion_id)`` (scans that have them)."""
        return {(s.ref.patient_id, s.ref.timepoint, s.ref.lesion_id): s.crops for s in self.scans
                if s.crops is not None and s.features is not None}


# ------------------------------------------------------------------ the scheduler
@dataclass
class _Scan:
    ref: ScanRef
    hashes: dict[str, str] | None = None
    key: str | None = None  # prepared-scan cache key
    meta: dict[str, Any] | None = None
    results: dict[tuple[str, int, str], dict[str, float]] = field(default_factory=dict)
    pending: int = 0
    error: str | None = None
    done: bool = False


class _Runner:
    """Plans and runs the tasks of one call (see the module docstring)."""

    def __init__(self, spec: FeatureSpec, *, settings: ScanSettings | None = None, perturbation: str | None = None,
                 crop_size: int | None = None, cache_dir=None, workers=None, scheduler=None, memory_limit_gb=None,
                 desc: str = "extracting", total: int = 0):
        self.spec = spec
        self.settings, self.perturbation, self.crop_size = settings, perturbation, crop_size
        self.cache = ResultCache(cache_dir) if cache_dir is not None else None
        self.cache_dir = str(cache_dir) if cache_dir is not None else None
        # Prepared images live beside the cache (a folder every Dask worker sees, like the
        # cache) or, without a cache, in a temporary folder of this call.
        self._tmp = None if cache_dir is not None else tempfile.TemporaryDirectory(prefix="radscore-prepared-")
        self.scratch = Path(cache_dir).parent / "prepared" if cache_dir is not None else Path(self._tmp.name)
        _sweep(self.scratch)
        self.parts = split_image_types(spec.image_types)
        self.local = scheduler is None
        self.pool = TaskPool(tasks.work, workers=workers, scheduler=scheduler, memory_limit_gb=memory_limit_gb)
        self.submitted: list[tuple[int, tasks.Prepare | tasks.Part]] = []
        self.scans: list[_Scan] = []
        self.bar = progress(total=total, desc=desc, unit="scan")
        self._named: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}

    # -- planning -------------------------------------------------------------------
    def _jobs(self, scan: _Scan) -> list[tuple[str, int, dict | None, dict[str, str]]]:
        """(image, part, image types, {VOI: key}) of a prepared scan."""
        meta, fp = scan.meta, self.spec.fingerprint
        jobs = []
        if meta["images"] and "shape" in self.spec.classes:  # first among equal costs (tasks.SHAPE_COST_FRACTION)
            jobs.append((SHAPE, 0, None, {v: shape_key(v, h, meta["spacing"], fp) for v, h in meta["vois"].items()}))
        for image_name in self.spec.images:
            if image_name not in meta["images"]:
                continue
            for i, part in enumerate(self.parts):
                jobs.append((image_name, i, part, {v: entry_key(meta["images"][image_name], part, v, h, fp)
                                                   for v, h in meta["vois"].items()}))
        return jobs

    def _missing(self, scan: _Scan) -> list[tuple[str, int, dict | None, dict[str, str]]]:
        """Jobs with VOIs not in the cache (the cached ones go into the scan's results)."""
        out = []
        for image_name, i, part, keys in self._jobs(scan):
            missing = {}
            for v, key in keys.items():
                hit = tasks.cached(self.cache, key)
                if hit is None:
                    missing[v] = key
                else:
                    scan.results[(image_name, i, v)] = hit
            if missing:
                out.append((image_name, i, part, missing))
        return out

    def _submit(self, index: int, task: tasks.Prepare | tasks.Part, priority: int) -> None:
        self.submitted.append((index, task))
        assert self.pool.submit(task, priority=priority) == len(self.submitted) - 1  # pool indices follow ours
        self.scans[index].pending += 1

    def folder(self, index: int) -> Path:
        scan = self.scans[index]
        return self.scratch / (f"{scan.key}-{index}" if scan.key else f"scan-{index}")

    def submit_prepare(self, index: int, threads: int = 1) -> None:
        """Queue a scan's preparation, on ``threads`` threads (see :meth:`prepare_threads`)."""
        scan = self.scans[index]
        self._submit(index, tasks.Prepare(scan.ref, self.settings, self.spec, scan.hashes, str(self.folder(index)),
                                          scan.key, self.cache_dir, self.perturbation, self.crop_size,
                                          threads=threads), _PREPARE_PRIORITY)

    def prepare_threads(self, n_prepare: int) -> int:
        """Threads of each preparation: more than one only when fewer scans than local workers are
        to be prepared (a single patient), as the idle workers' cores would otherwise wait for it.
        Resampling, the slowest step, scales with ITK's threads."""
        return max(1, self.pool.size // n_prepare) if n_prepare else 1

    def submit_parts(self, index: int) -> None:
        """Queue the prepared scan's missing parts; finish it when none is missing."""
        scan = self.scans[index]
        jobs = self._missing(scan)
        if jobs and not Path(scan.meta["folder"]).is_dir():
            scan.meta = None  # metadata from the cache but its images are gone: prepare again
            return self.submit_prepare(index)
        for image_name, i, part, keys in jobs:
            # longest first among waiting parts, so that no long part is left for the end
            cost = (tasks.SHAPE_COST_FRACTION * sum(map(tasks.part_cost, self.parts)) if part is None
                    else tasks.part_cost(part))
            self._submit(index, tasks.Part(scan.ref.key, scan.ref.patient_id, scan.meta["folder"], image_name, i, part,
                                           keys, self.spec, self.cache_dir, threads=1),
                         _PART_PRIORITY + round(cost))
        if scan.pending == 0:
            self.finish(scan)

    # -- results --------------------------------------------------------------------
    def finish(self, scan: _Scan) -> None:
        scan.done = True
        self.bar.update(1)
        if scan.meta is not None:
            shutil.rmtree(scan.meta["folder"], ignore_errors=True)

    def _on_result(self, res) -> None:
        index, task = self.submitted[res.index]
        scan = self.scans[index]
        scan.pending -= 1
        if isinstance(res.error, OutputError):  # a full or read-only disk fails every scan: stop now
            raise res.error
        if res.error is not None and scan.error is None:
            ref = scan.ref
            scan.error = describe(res.error, patient=ref.patient_id)
            log.warning("%s", describe(res.error, patient=ref.patient_id,
                                       scan=f"{ref.timepoint}, lesion {ref.lesion_id}"))
        if scan.error is not None:
            if scan.pending == 0:
                self.finish(scan)
        elif isinstance(task, tasks.Prepare):
            scan.meta = res.value
            self.submit_parts(index)
        else:
            _, image_name, part, per_voi = res.value
            for v, values in per_voi.items():
                scan.results[(image_name, part, v)] = values
            if scan.pending == 0:
                self.finish(scan)

    def run(self) -> Extraction:
        if self.pool.parallel and self.local and self.submitted:
            warm_up()  # forked workers start with the numba kernels and the case table loaded
        try:
            with self.pool:
                for res in self.pool.results():
                    self._on_result(res)
        finally:
            self.bar.close()
            if self._tmp is not None:
                self._tmp.cleanup()
        return Extraction(tuple(self._outcome(s) for s in self.scans))

    def _prefixed(self, prefix: str, part: dict[str, float]) -> zip:
        """``part``'s items with ``prefix`` on each name; the names made once per layout (every
        scan repeats them: 25k string joins per scan were ~10 ms)."""
        keys = tuple(part)
        names = self._named.get((prefix, keys))
        if names is None:
            names = self._named[(prefix, keys)] = tuple(prefix + k for k in keys)
        return zip(names, part.values())

    def _outcome(self, scan: _Scan) -> ScanFeatures:
        if scan.error is not None:
            return ScanFeatures(scan.ref, error=scan.error)
        row: dict[str, float] = {}
        # in the settings' order (the cached metadata's JSON has its keys sorted)
        vois = [v for v in (self.spec.vois or sorted(scan.meta["vois"])) if v in scan.meta["vois"]]
        for image_name in self.spec.images:
            if image_name not in scan.meta["images"]:
                continue
            for v in vois:
                prefix = f"{image_name}_{v}_"
                row.update(self._prefixed(prefix, scan.results.get((SHAPE, 0, v), {})))
                for i in range(len(self.parts)):  # the parts are runs of the image types: joined in order
                    row.update(self._prefixed(prefix, scan.results.get((image_name, i, v), {})))
        row.update({CONVENTIONAL_PREFIX + k: x for k, x in (scan.meta.get("pet_measures") or {}).items()})
        prov = ScanProvenance.from_dict(scan.meta["provenance"]).then(Step(
            "features", settings={"images": list(self.spec.images), "vois": vois,
                                  "image_types": self.spec.image_types, "classes": list(self.spec.classes),
                                  "pyradiomics_settings": self.spec.kwargs},
            inputs={f"image_{n}": h for n, h in scan.meta["images"].items()},
            result={"n_features": len(row), "fingerprint": self.spec.fingerprint, "engine_version": ENGINE_VERSION}))
        return ScanFeatures(scan.ref, features=row, provenance=prov, crops=scan.meta.get("crops"))


def warm_up() -> None:
    """Load (or compile) every numba kernel a scan's preparation and extraction run, in this process.

    Waits first for a compile :func:`radscore.runtime.jit.compile_in_background` started,
    whose cache it then loads.
    """
    from radscore.features import engine
    from radscore.imaging import separable
    from radscore.runtime.jit import await_background_compile

    await_background_compile()
    engine.warm_up()
    separable.warm_up()


def _sweep(scratch: Path, older_than_s: float = 3600.0) -> None:
    """Remove half-written prepared scans a killed worker left (never read: only complete folders are)."""
    import time

    for tmp in scratch.glob(".*.tmp") if scratch.is_dir() else []:
        try:
            if time.time() - tmp.stat().st_mtime > older_than_s:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass


def _prepare_key(ref: ScanRef, hashes: dict[str, str], settings: ScanSettings, perturbation: str | None,
                 crop_size: int | None) -> str:
    """Cache key of a prepared scan: its files' content and every setting preparation reads."""
    return make_key("prepared-v2", __version__, hashes, ref.mask_roi, ref.mask_label, ref.weight_kg, ref.dose_mbq,
                    perturbation, crop_size, settings.pet_measures.model_dump(mode="json"),
                    settings.preprocess.model_dump(mode="json"),
                    settings.voi.model_dump(mode="json"), settings.fusion.model_dump(mode="json"), settings.seed,
                    settings.modalities)


def extract_scans(refs: Sequence[ScanRef], settings: ScanSettings, *, cache_dir: str | Path | None = None,
                  workers: int | None = None, scheduler: str | None = None, memory_limit_gb: float | None = None,
                  perturbation: str | None = None, crop_size: int | None = None,
                  desc: str = "extracting") -> Extraction:
    """Prepare and extract every scan (in parallel, resumable, one failure never stops the rest).

    Parameters
    ----------
    refs : sequence of ScanRef
    settings : ScanSettings
        Preparation (preprocess, voi, fusion, seed) and feature settings.
    cache_dir : path, optional
        The result cache; a rerun reuses every finished scan and part.
    workers : int, optional
        Local processes (default: number of cores); 1 runs in this process.
    scheduler : str, optional
        ``dask.distributed`` scheduler address: the same tasks run on that cluster (the
        cache folder and the scans must be on a file system every worker sees).
    memory_limit_gb : float, optional
        Address-space limit of each local worker.
    perturbation : str, optional
        Extract each scan's perturbed mask instead (ICC repeats).
    crop_size : int, optional
        Also return ``crop_size``^3 PET/CT crops per scan (deep features).
    desc : str
        Progress bar label.
    """
    spec = spec_from_settings(settings.features)
    runner = _Runner(spec, settings=settings, perturbation=perturbation, crop_size=crop_size, cache_dir=cache_dir,
                     workers=workers, scheduler=scheduler, memory_limit_gb=memory_limit_gb, desc=desc,
                     total=len(refs))
    to_prepare, n_cached = [], 0
    for index, ref in enumerate(refs):
        scan = _Scan(ref)
        runner.scans.append(scan)
        try:
            scan.hashes = content_hashes(ref)
        except OSError as exc:
            scan.error = describe(ImageError(f"cannot read the file ({exc.strerror}).", file=exc.filename),
                                  patient=ref.patient_id)
            runner.finish(scan)
            continue
        scan.key = _prepare_key(ref, scan.hashes, settings, perturbation, crop_size)
        cache = runner.cache
        meta = cache.get_json(scan.key) if cache is not None else None
        crops = cache.get_arrays(make_key("crops", scan.key)) if meta is not None and crop_size is not None else None
        if meta is None or (crop_size is not None and crops is None):
            to_prepare.append(index)
            continue
        scan.meta = {**meta, "folder": str(runner.folder(index)), "crops": crops}
        runner.submit_parts(index)
        n_cached += scan.done
    threads = runner.prepare_threads(len(to_prepare))
    for index in to_prepare:
        runner.submit_prepare(index, threads)
    log.info("%s: %d scans, %d complete in the cache, %d tasks to run", desc, len(refs), n_cached,
             len(runner.submitted))
    return runner.run()


def extract_prepared(prepared: Sequence[PreparedScan], features, *, cache_dir: str | Path | None = None,
                     workers: int | None = None, scheduler: str | None = None,
                     desc: str = "extracting") -> Extraction:
    """Extract scans already prepared in this process (the page, ``extract``, the benchmark).

    Parameters
    ----------
    prepared : sequence of PreparedScan
    features : FeatureSettings or FeatureSpec
        A study's feature settings, or a spec from a PyRadiomics parameter file.
    cache_dir, workers, scheduler : see :func:`extract_scans`
    """
    spec = features if isinstance(features, FeatureSpec) else spec_from_settings(features)
    runner = _Runner(spec, cache_dir=cache_dir, workers=workers, scheduler=scheduler, desc=desc, total=len(prepared))
    for index, p in enumerate(prepared):
        scan = _Scan(p.ref)
        runner.scans.append(scan)
        try:
            _check_prepared(p)
            scan.meta = tasks.store(p, spec, runner.folder(index), None, None, None)
        except ImageError as exc:
            scan.error = exc.message
            runner.finish(scan)
            continue
        runner.submit_parts(index)
    return runner.run()


def _check_prepared(p: PreparedScan) -> None:
    """Images on one grid, VOIs on it: the engine's preconditions, as errors naming the patient."""
    pid = p.ref.patient_id
    shapes = {name: tuple(img.GetSize()[::-1]) for name, img in p.images.items()}
    if len(set(shapes.values())) > 1:
        raise ImageError(f"images are on different grids (array shapes {shapes}).", patient=pid,
                         fix="resample all images onto one grid before extraction.")
    shape = next(iter(shapes.values()), None)
    for name, voi in p.vois.items():
        if shape is not None and np.shape(voi) != shape:
            raise ImageError(f"VOI '{name}' has shape {np.shape(voi)}, the images {shape} (z, y, x).", patient=pid,
                             fix="build the VOIs on the image grid.")
