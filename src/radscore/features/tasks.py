"""The extraction runner's tasks, as they run in a worker (a local process or a Dask worker).

- :class:`Prepare`: load and prepare one scan (:func:`radscore.imaging.preprocess.prepare_scan`),
  write its images and VOIs to a scratch folder (:func:`save_prepared`), cache its metadata;
- :class:`Part`: the features of one image's run of image types (or the shape) for the
  scan's VOIs, each (image, part, VOI) result cached the moment it is computed.

:func:`work` is the one function the runner's pool calls. Keys: :func:`entry_key` (an image
part and VOI, by their content hashes) and :func:`shape_key`; :func:`split_image_types`
cuts the image types into parts of similar cost.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import SimpleITK as sitk

from radscore.catalog import IMAGE_TYPES
from radscore.config import ScanSettings
from radscore.features.settings import FeatureSpec
from radscore.imaging.preprocess import PreparedScan, prepare_scan
from radscore.io.scan import ScanRef
from radscore.runtime.cache import ResultCache, make_key

SHAPE = "__shape__"
#: Cost of the shape task, as a fraction of one image's parts (:func:`part_cost`): measured on
#: the benchmark patient at 1 mm with the seed's protocol, 1.5 s for its 4 VOIs against 5.5 s
#: for one image's three parts. Orders the tasks only, never changes a value.
SHAPE_COST_FRACTION = 0.28


def part_cost(part: dict[str, dict[str, Any]]) -> float:
    """Relative CPU cost of a run of image types (:data:`radscore.catalog.IMAGE_TYPES` costs)."""
    return sum(IMAGE_TYPES[name].cost * IMAGE_TYPES[name].instances(custom) for name, custom in part.items())


def split_image_types(image_types: dict[str, dict[str, Any]], parts: int = 3) -> list[dict[str, dict[str, Any]]]:
    """Cut the (canonical, ordered) image types into at most ``parts`` runs of similar cost.

    An image type goes to the part its cost's midpoint falls in, so the runs are contiguous
    and keep PyRadiomics' column order when joined. With the seed's protocol: original +
    wavelet | LoG (5 sigmas) | square ... LBP-3D. Costs: :data:`radscore.catalog.IMAGE_TYPES`.
    """
    costs = [part_cost({name: custom}) for name, custom in image_types.items()]
    total = sum(costs)
    out: list[dict[str, dict[str, Any]]] = [{} for _ in range(parts)]
    done = 0.0
    for (name, custom), cost in zip(image_types.items(), costs):
        out[min(parts - 1, int((done + cost / 2) / total * parts))][name] = custom
        done += cost
    return [p for p in out if p]


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


def shape_key(voi_name: str, voi_digest: str, spacing: Sequence[float], fingerprint: str) -> str:
    """Cache key of one VOI's shape features (mask and spacing only)."""
    return make_key("shape", voi_digest, voi_name, [float(x) for x in spacing], fingerprint)


# ------------------------------------------------------------------ prepared scans on disk
def save_prepared(folder: Path, images: dict[str, sitk.Image], vois: dict[str, np.ndarray]) -> dict[str, Any]:
    """Write images and VOIs for the part tasks; returns the metadata that names them.

    Written to a temporary sibling and renamed, so a folder that exists is complete.
    """
    first = next(iter(images.values()))
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.tmp")
    tmp.mkdir(parents=True)
    for name, img in images.items():
        np.save(tmp / f"image_{name}.npy", sitk.GetArrayViewFromImage(img))
    for name, voi in vois.items():
        np.save(tmp / f"voi_{name}.npy", np.asarray(voi, bool))
    geometry = {"spacing": list(first.GetSpacing()), "origin": list(first.GetOrigin()),
                "direction": list(first.GetDirection())}
    (tmp / "geometry.json").write_text(json.dumps(geometry))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return {"images": {n: image_hash(img) for n, img in images.items()},
            "vois": {n: voi_hash(v) for n, v in vois.items()}, "spacing": geometry["spacing"]}


def load_image(folder: Path, name: str) -> sitk.Image:
    geometry = json.loads((folder / "geometry.json").read_text())
    img = sitk.GetImageFromArray(np.load(folder / f"image_{name}.npy"))
    img.SetSpacing(geometry["spacing"])
    img.SetOrigin(geometry["origin"])
    img.SetDirection(geometry["direction"])
    return img


def load_vois(folder: Path, names: Iterable[str]) -> dict[str, np.ndarray]:
    return {n: np.load(folder / f"voi_{n}.npy") for n in names}


# ------------------------------------------------------------------ tasks (run in workers)
@dataclass(frozen=True)
class Prepare:
    """Load and prepare one scan; write it for its part tasks."""

    ref: ScanRef
    settings: ScanSettings
    spec: FeatureSpec
    hashes: dict[str, str]
    folder: str
    scan_key: str
    cache_dir: str | None
    perturbation: str | None = None
    crop_size: int | None = None
    threads: int | None = None


@dataclass(frozen=True)
class Part:
    """Features of one image's part of the image types (or the shape) for some VOIs."""

    scan: str
    patient: str
    folder: str
    image_name: str
    part: int
    image_types: dict[str, dict[str, Any]] | None
    keys: dict[str, str]  # VOI -> cache key, the VOIs this task computes
    spec: FeatureSpec
    cache_dir: str | None
    threads: int | None = None


@contextlib.contextmanager
def limited_threads(n: int | None):
    """ITK's and the BLAS/OpenMP pools' threads limited to ``n`` while a task runs (None: as they are).

    A worker is one core: with a process per core, threaded filters would oversubscribe;
    ``--workers 1`` runs the tasks in the calling process, also on one core. ITK's setting
    is process-wide, so it is restored afterwards (the page runs tasks in its own process).
    """
    if n is None:
        yield
        return
    from radscore.runtime.threads import limit_blas_threads

    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(n)
    try:
        with limit_blas_threads(n):
            yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)


def cached(cache: ResultCache | None, key: str) -> dict[str, float] | None:
    """One cached (image, part, VOI) result in PyRadiomics' column order, or None."""
    hit = cache.get_json(key) if cache is not None else None
    return None if hit is None else dict(zip(hit["names"], hit["values"]))


def run_prepare(task: Prepare) -> dict[str, Any]:
    prepared = prepare_scan(task.ref, task.settings, perturbation=task.perturbation, crop_size=task.crop_size,
                            hashes=task.hashes)
    return store(prepared, task.spec, Path(task.folder), task.scan_key, task.cache_dir, task.crop_size)


def store(prepared: PreparedScan, spec: FeatureSpec, folder: Path, scan_key: str | None, cache_dir: str | None,
           crop_size: int | None) -> dict[str, Any]:
    """Save a prepared scan for its part tasks; cache its metadata (and crops)."""
    images, vois = _stored(prepared, spec)
    meta = save_prepared(folder, images, vois)
    meta.update(folder=str(folder), provenance=prepared.provenance.to_dict(), pet_measures=prepared.pet_measures)
    cache = ResultCache(cache_dir) if cache_dir is not None and scan_key is not None else None
    if cache is not None:
        cache.put_json(scan_key, {k: v for k, v in meta.items() if k != "folder"})
        if crop_size is not None and prepared.crops is not None:
            cache.put_arrays(make_key("crops", scan_key), prepared.crops)
    meta["crops"] = prepared.crops
    return meta


def _stored(prepared: PreparedScan, spec: FeatureSpec) -> tuple[dict[str, sitk.Image], dict[str, np.ndarray]]:
    """The images and VOIs of a prepared scan that :func:`store` writes: those the spec uses."""
    images = {n: prepared.images[n] for n in spec.images if n in prepared.images}
    vois = {n: v for n, v in prepared.vois.items() if spec.vois is None or n in spec.vois}
    return images, vois


def stored_bytes(prepared: PreparedScan, spec: FeatureSpec) -> int:
    """At least the bytes :func:`store` writes to disk for ``prepared`` (the page reserves them first)."""
    images, vois = _stored(prepared, spec)
    arrays = sum(sitk.GetArrayViewFromImage(img).nbytes for img in images.values())
    arrays += sum(np.asarray(v).size for v in vois.values())  # saved as bool: a byte a voxel
    return arrays + 4096 * (len(images) + len(vois) + 1)  # .npy headers (128 bytes) and geometry.json


def run_part(task: Part) -> tuple[str, str, int, dict[str, dict[str, float]]]:
    from radscore.features import engine

    cache = ResultCache(task.cache_dir) if task.cache_dir else None
    out: dict[str, dict[str, float]] = {}
    for v, key in task.keys.items():  # cached since the run was planned, e.g. by a scan with the same VOI
        hit = cached(cache, key)
        if hit is not None:
            out[v] = hit
    todo = [v for v in task.keys if v not in out]
    if todo:
        folder = Path(task.folder)
        masks = engine.check_vois(load_vois(folder, todo), task.patient)
        if task.image_name == SHAPE:
            spacing = json.loads((folder / "geometry.json").read_text())["spacing"]
            per_voi = engine.shape_features(masks, tuple(spacing))
        else:
            per_voi = engine.extract_image(load_image(folder, task.image_name), masks, task.image_types or {},
                                           task.spec.texture_classes, task.spec.settings_for(task.image_name),
                                           patient=task.patient, image_name=task.image_name)
        for v in masks:
            values = per_voi[v]
            if cache is not None:  # lists keep PyRadiomics' column order (JSON objects get sorted)
                cache.put_json(task.keys[v], {"names": list(values), "values": list(values.values())})
            out[v] = values
    return task.scan, task.image_name, task.part, out


def work(task: Prepare | Part) -> Any:
    """The one function the pool runs: a prepare or a part task."""
    with limited_threads(task.threads):
        return run_prepare(task) if isinstance(task, Prepare) else run_part(task)
