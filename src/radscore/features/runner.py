"""Cohort extraction: parallel (local processes or Dask), resumable, one row per patient.

The unit of work is one (patient, image): its filters are shared by all of that image's
VOIs, and the three images of a patient run in parallel. Each finished (image, VOI) is
cached at once under a key made of the image's content hash, the VOI's content hash and
:func:`~radscore.features.extract.settings_fingerprint`, written atomically; a killed run
restarted later recomputes only what has no complete entry.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

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


@dataclass(frozen=True)
class _Task:
    """One image's features for some VOIs, or (``image_name == SHAPE_TASK``) the VOIs' shape."""

    patient: str
    image_name: str
    image: sitk.Image | None
    vois: dict[str, np.ndarray]
    settings: FeatureSettings
    cache_dir: str | None
    keys: dict[str, str]
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


def entry_key(image_digest: str, voi_name: str, voi_digest: str, fingerprint: str) -> str:
    """Cache key of one (image, VOI) result."""
    return make_key("features", image_digest, voi_name, voi_digest, fingerprint)


def _run_task(task: _Task) -> tuple[str, str, dict[str, dict[str, float]]]:
    """Worker: features of one image for the VOIs not yet cached; caches each VOI at once."""
    from radscore.features import engine
    from radscore.features.extract import pyradiomics_settings

    if task.single_thread:
        # one process per core already: threaded ITK filters and BLAS would oversubscribe
        from threadpoolctl import threadpool_limits

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        threadpool_limits(1)
    cache = ResultCache(task.cache_dir) if task.cache_dir else None
    todo = {v: m for v, m in task.vois.items() if cache is None or not cache.has(task.keys[v])}
    out: dict[str, dict[str, float]] = {}
    if todo:
        st = task.settings
        masks = engine._check_vois(todo, task.patient)
        if task.image_name == SHAPE_TASK:  # shape depends on mask and spacing only: once per VOI
            per_voi = engine.shape_features(masks, task.spacing)
        else:
            from radscore.features import pyrad

            classes = [c for c in st.feature_classes if c in engine.TEXTURE_CLASSES]
            per_voi = engine.extract_image(
                task.image, masks, pyrad.canonical_image_types(st.image_types), classes,
                pyradiomics_settings(task.image_name, st), patient=task.patient, image_name=task.image_name,
            )
        for v in masks:
            values = per_voi[v]
            if cache is not None:  # lists keep PyRadiomics' column order (JSON objects get sorted)
                cache.put_json(task.keys[v], {"names": list(values), "values": list(values.values())})
            out[v] = values
    return task.patient, task.image_name, out


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
        Result cache; a rerun after an interruption computes only missing (image, VOI) pairs.
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
    from radscore.features.extract import _check_inputs, settings_fingerprint

    fingerprint = settings_fingerprint(settings)
    cache = ResultCache(cache_dir) if cache_dir is not None else None
    tasks: list[_Task] = []
    cached: dict[tuple[str, str, str], dict[str, float]] = {}
    order: list[PatientImages] = []
    for p in patients:
        _check_inputs(p.images, p.vois, p.patient)
        p = replace(p, vois={v: m for v, m in p.vois.items() if v in settings.vois})
        order.append(p)
        vhash = {v: voi_hash(m) for v, m in p.vois.items()}
        present = [n for n in settings.images if n in p.images]
        jobs: list[tuple[str, sitk.Image | None, dict[str, str]]] = []
        for image_name in present:
            ihash = image_hash(p.images[image_name])
            jobs.append((image_name, p.images[image_name],
                         {v: entry_key(ihash, v, vhash[v], fingerprint) for v in p.vois}))
        if present and "shape" in settings.feature_classes:  # the short task last: it fills the pool's gaps
            spacing = p.images[present[0]].GetSpacing()
            jobs.append((SHAPE_TASK, None, {
                v: make_key("shape", vhash[v], v, [float(x) for x in spacing], fingerprint) for v in p.vois}))
        for image_name, image, keys in jobs:
            missing = {}
            for v, m in p.vois.items():
                hit = cache.get_json(keys[v]) if cache is not None else None
                if hit is None:
                    missing[v] = m
                else:
                    cached[(p.patient, image_name, v)] = dict(zip(hit["names"], hit["values"]))
            if missing:
                tasks.append(_Task(
                    p.patient, image_name, image, missing, settings,
                    str(cache_dir) if cache_dir is not None else None, keys,
                    spacing=tuple(p.images[present[0]].GetSpacing()),
                ))
    n_workers = workers or default_workers()
    if tasks and scheduler is None:
        # once here, so forked workers start with PyRadiomics and the numba kernels loaded
        from radscore.features import engine

        engine.warm_up()
    if scheduler is not None or (n_workers > 1 and len(tasks) > 1):  # tasks run in other processes
        tasks = [replace(t, single_thread=True) for t in tasks]
    log.info("features: %d (patient, image) tasks to run, %d (image, VOI) results cached", len(tasks), len(cached))
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
            patient, image_name, per_voi = res.value
            for v, values in per_voi.items():
                results[(patient, image_name, v)] = values
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
                row.update({prefix + k: x for k, x in results.get((p.patient, SHAPE_TASK, v), {}).items()})
                row.update({prefix + k: x for k, x in results.get((p.patient, image_name, v), {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)
