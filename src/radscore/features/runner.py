"""Cohort extraction: parallel (local processes or Dask), resumable, one row per patient.

The unit of work is one (patient, image, part): a part is a run of that image's filters
(:func:`split_image_types`: e.g. original + wavelet | LoG | the rest), each filter shared by
all of the image's VOIs. A patient's three images then make nine tasks of similar length,
so two or more workers stay busy even on a single patient. Each finished (image, part, VOI)
is cached at once under a key made of the image's content hash, the part, the VOI's content
hash and :func:`~radscore.features.extract.settings_fingerprint`, written atomically; a
killed run restarted later recomputes only what has no complete entry.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import SimpleITK as sitk

from radscore.config import FeatureSettings
from radscore.errors import RadscoreError
from radscore.runtime.cache import ResultCache, make_key
from radscore.runtime.executor import default_workers, run_tasks
from radscore.runtime.progress import progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatientImages:
    """One patient's inputs: images on one grid and boolean VOIs (z, y, x) on that grid."""

    patient: str
    images: dict[str, sitk.Image]
    vois: dict[str, np.ndarray]


SHAPE_TASK = "__shape__"

#: Relative CPU cost of one image type's filter + features (per LoG sigma, per wavelet
#: level), measured on the benchmark patients (``benchmarks/extraction.py``: original 0.08 s,
#: wavelet 0.6 s, LoG 0.24 s per sigma, LBP-3D 0.3 s per image). Only the balance of the
#: parts depends on it, never a value.
IMAGE_TYPE_COST = {"Original": 1.0, "Wavelet": 7.0, "LoG": 3.0, "LBP3D": 4.0}
_OTHER_COST = 1.0


def split_image_types(image_types: dict[str, dict[str, Any]], parts: int = 3) -> list[dict[str, dict[str, Any]]]:
    """Cut the (canonical, ordered) image types into at most ``parts`` runs of similar cost.

    An image type goes to the part its cost's midpoint falls in, so the runs are contiguous
    and keep PyRadiomics' column order when joined. With the seed's protocol: original +
    wavelet | LoG (5 sigmas) | square ... LBP-3D.
    """
    costs = []
    for name, custom in image_types.items():
        n = len((custom or {}).get("sigma", [1])) if name == "LoG" else int((custom or {}).get("level", 1))
        costs.append(IMAGE_TYPE_COST.get(name, _OTHER_COST) * max(1, n))
    total = sum(costs)
    out: list[dict[str, dict[str, Any]]] = [{} for _ in range(parts)]
    done = 0.0
    for (name, custom), cost in zip(image_types.items(), costs):
        out[min(parts - 1, int((done + cost / 2) / total * parts))][name] = custom
        done += cost
    return [p for p in out if p]


@dataclass(frozen=True)
class _Task:
    """One image's features for some VOIs and a part of the image types, or
    (``image_name == SHAPE_TASK``) the VOIs' shape."""

    patient: str
    image_name: str
    image: sitk.Image | None
    vois: dict[str, np.ndarray]
    settings: FeatureSettings
    cache_dir: str | None
    keys: dict[str, str]
    part: int = 0
    image_types: dict[str, dict[str, Any]] | None = None
    single_thread: bool = False
    spacing: tuple[float, ...] = ()


def image_hash(image: sitk.Image) -> str:
    """Content hash of an image: voxel values, pixel type and geometry."""
    h = hashlib.sha256()
    arr = sitk.GetArrayViewFromImage(image)
    h.update(str((arr.dtype.str, arr.shape, image.GetSpacing(), image.GetOrigin(), image.GetDirection())).encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:24]


def voi_hash(voi: np.ndarray) -> str:
    """Content hash of a boolean VOI."""
    arr = np.asarray(voi, dtype=bool)
    h = hashlib.sha256(str(arr.shape).encode())
    h.update(np.packbits(arr).tobytes())
    return h.hexdigest()[:24]


def entry_key(image_digest: str, part: dict[str, dict[str, Any]], voi_name: str, voi_digest: str,
              fingerprint: str) -> str:
    """Cache key of one (image, part of the image types, VOI) result."""
    return make_key("features", image_digest, sorted(part), voi_name, voi_digest, fingerprint)


def _cached(cache: ResultCache | None, key: str) -> dict[str, float] | None:
    """One cached (image, part, VOI) result in PyRadiomics' column order, or None."""
    hit = cache.get_json(key) if cache is not None else None
    return None if hit is None else dict(zip(hit["names"], hit["values"]))


def _run_task(task: _Task) -> tuple[str, str, int, dict[str, dict[str, float]]]:
    """Worker: features of one image part for the VOIs not yet cached; caches each VOI at once."""
    from radscore.features import engine
    from radscore.features.extract import pyradiomics_settings

    if task.single_thread:
        # one process per core already: threaded ITK filters and BLAS would oversubscribe
        from threadpoolctl import threadpool_limits

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        threadpool_limits(1)
    cache = ResultCache(task.cache_dir) if task.cache_dir else None
    out: dict[str, dict[str, float]] = {}
    for v in task.vois:  # cached since the run was planned, e.g. by a patient with the same VOI (shape)
        hit = _cached(cache, task.keys[v])
        if hit is not None:
            out[v] = hit
    todo = {v: m for v, m in task.vois.items() if v not in out}
    if todo:
        st = task.settings
        masks = engine._check_vois(todo, task.patient)
        if task.image_name == SHAPE_TASK:  # shape depends on mask and spacing only: once per VOI
            per_voi = engine.shape_features(masks, task.spacing)
        else:
            classes = [c for c in st.feature_classes if c in engine.TEXTURE_CLASSES]
            per_voi = engine.extract_image(
                task.image, masks, task.image_types or {}, classes,
                pyradiomics_settings(task.image_name, st), patient=task.patient, image_name=task.image_name,
            )
        for v in masks:
            values = per_voi[v]
            if cache is not None:  # lists keep PyRadiomics' column order (JSON objects get sorted)
                cache.put_json(task.keys[v], {"names": list(values), "values": list(values.values())})
            out[v] = values
    return task.patient, task.image_name, task.part, out


def extract_cohort(
    patients: Iterable[PatientImages],
    settings: FeatureSettings,
    *,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """Features of every patient, one row each (``patient_id`` + ``{image}_{voi}_{feature}``).

    Parameters
    ----------
    patients : iterable of PatientImages
    settings : FeatureSettings
    cache_dir : path, optional
        Result cache; a rerun after an interruption computes only missing (image, part, VOI)
        results.
    workers : int, optional
        Local processes (default: number of cores); 1 runs in this process.
    scheduler : str, optional
        ``dask.distributed`` scheduler address; the same tasks then run on that cluster.

    Raises
    ------
    RadscoreError
        The first patient's error (with the patient named) after all others finished and
        were cached.
    """
    from radscore.features import pyrad
    from radscore.features.extract import _check_inputs, settings_fingerprint

    fingerprint = settings_fingerprint(settings)
    parts = split_image_types(pyrad.canonical_image_types(settings.image_types))
    cache = ResultCache(cache_dir) if cache_dir is not None else None
    tasks: list[_Task] = []
    cached: dict[tuple[str, str, int, str], dict[str, float]] = {}
    order: list[PatientImages] = []
    for p in patients:
        _check_inputs(p.images, p.vois, p.patient)
        p = replace(p, vois={v: m for v, m in p.vois.items() if v in settings.vois})
        order.append(p)
        vhash = {v: voi_hash(m) for v, m in p.vois.items()}
        present = [n for n in settings.images if n in p.images]
        jobs: list[tuple[str, int, dict[str, dict[str, Any]] | None, dict[str, str]]] = []
        for image_name in present:
            ihash = image_hash(p.images[image_name])
            for i, part in enumerate(parts):
                jobs.append((image_name, i, part, {v: entry_key(ihash, part, v, vhash[v], fingerprint) for v in p.vois}))
        if present and "shape" in settings.feature_classes:  # the short task last: it fills the pool's gaps
            spacing = p.images[present[0]].GetSpacing()
            jobs.append((SHAPE_TASK, 0, None, {
                v: make_key("shape", vhash[v], v, [float(x) for x in spacing], fingerprint) for v in p.vois}))
        for image_name, i, part, keys in jobs:
            missing = {}
            for v, m in p.vois.items():
                hit = _cached(cache, keys[v])
                if hit is None:
                    missing[v] = m
                else:
                    cached[(p.patient, image_name, i, v)] = hit
            if missing:
                tasks.append(_Task(
                    p.patient, image_name, p.images.get(image_name), missing, settings,
                    str(cache_dir) if cache_dir is not None else None, keys, part=i, image_types=part,
                    spacing=tuple(p.images[present[0]].GetSpacing()),
                ))
    n_workers = workers or default_workers()
    if tasks and scheduler is None:
        # once here, so forked workers start with PyRadiomics and the numba kernels loaded
        from radscore.features import engine

        engine.warm_up()
    if scheduler is not None or (n_workers > 1 and len(tasks) > 1):  # tasks run in other processes
        tasks = [replace(t, single_thread=True) for t in tasks]
    log.info("features: %d (patient, image, part) tasks to run, %d (image, part, VOI) results cached",
             len(tasks), len(cached))
    results = dict(cached)
    errors: list[BaseException] = []
    remaining: dict[str, int] = {}
    for t in tasks:
        remaining[t.patient] = remaining.get(t.patient, 0) + 1
    with progress(total=len(remaining), desc="features", unit="patient") as bar:
        for res in run_tasks(_run_task, tasks, workers=workers, scheduler=scheduler):
            done_patient = tasks[res.index].patient
            remaining[done_patient] -= 1
            if remaining[done_patient] == 0:  # the bar counts whole patients (rate, ETA)
                bar.update(1)
            if res.error is not None:
                errors.append(res.error)
                continue
            patient, image_name, part, per_voi = res.value
            for v, values in per_voi.items():
                results[(patient, image_name, part, v)] = values
    if errors:
        err = errors[0]
        if isinstance(err, RadscoreError):
            raise err
        raise RadscoreError(f"feature extraction failed: {err}") from err
    rows = []
    for p in order:
        row: dict[str, float | str] = {"patient_id": p.patient}
        for image_name in settings.images:
            if image_name not in p.images:
                continue
            for v in p.vois:
                prefix = f"{image_name}_{v}_"
                row.update({prefix + k: x for k, x in results.get((p.patient, SHAPE_TASK, 0, v), {}).items()})
                for i in range(len(parts)):  # the parts are runs of the image types: joined in order
                    row.update({prefix + k: x for k, x in results.get((p.patient, image_name, i, v), {}).items()})
        rows.append(row)
    # Columns in order of first appearance, as pd.DataFrame(rows) gives, but built from one
    # float array: 10x faster on rows of ~25k features (0.25 s per cohort in the parent).
    columns = list(dict.fromkeys(k for r in rows for k in r if k != "patient_id"))
    values = np.array([[r.get(c, np.nan) for c in columns] for r in rows], dtype=np.float64)
    df = pd.DataFrame(values.reshape(len(rows), len(columns)), columns=columns)
    df.insert(0, "patient_id", [r["patient_id"] for r in rows])
    return df
