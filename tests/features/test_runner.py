"""Cohort runner: same values as one-patient extraction, resumable after a kill, runs on Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from radscore.config import FeatureSettings
from radscore.errors import RadscoreError
from radscore.features import engine, pyrad, runner
from radscore.features.extract import extract_features
from radscore.features.runner import PatientImages, extract_cohort

SETTINGS = FeatureSettings(image_types={"original": {}, "LoG": {"sigma": [1.0]}}, images=["ct", "pet"])


def make_patient(i: int, shape=(20, 28, 30)) -> PatientImages:
    rng = np.random.default_rng(i)
    ct = sitk.GetImageFromArray(rng.normal(0, 80, shape).astype(np.float32))
    ct.SetSpacing((1.0, 1.0, 2.0))
    pet = sitk.GetImageFromArray(np.abs(rng.normal(2, 1, shape)))
    pet.CopyInformation(ct)
    tumor = np.zeros(shape, bool)
    tumor[6:14, 8:20, 9 + i % 3:21] = True
    ring = np.zeros(shape, bool)
    ring[4:16, 6:22, 7:25] = True
    ring &= ~tumor
    return PatientImages(f"P{i}", {"ct": ct, "pet": pet}, {"tumor": tumor, "ring": ring})


def test_cohort_equals_single_patient_extraction():
    pats = [make_patient(i) for i in range(2)]
    df = extract_cohort(pats, SETTINGS, workers=1)
    assert list(df["patient_id"]) == ["P0", "P1"]
    for p, (_, row) in zip(pats, df.iterrows()):
        single = extract_features(p.images, p.vois, SETTINGS)
        assert set(single) == set(df.columns) - {"patient_id"}
        for k, v in single.items():
            assert row[k] == v


def test_cache_hit_recomputes_nothing(tmp_path, monkeypatch):
    pats = [make_patient(i) for i in range(2)]
    first = extract_cohort(pats, SETTINGS, cache_dir=tmp_path, workers=1)

    def boom(*a, **k):
        raise AssertionError("recomputed a cached result")

    monkeypatch.setattr(engine, "extract_image", boom)
    again = extract_cohort(pats, SETTINGS, cache_dir=tmp_path, workers=1)
    assert again.equals(first)
    # a changed setting is a different key: it must recompute
    with pytest.raises(RadscoreError, match="recomputed"):
        extract_cohort(pats, SETTINGS.model_copy(update={"bin_width_ct": 10.0}), cache_dir=tmp_path, workers=1)


def test_patients_with_identical_vois_both_get_shape_features(tmp_path):
    # the second patient's shape entry is written by the first one's task after the run was
    # planned: the task must return it, not drop it
    a, b = make_patient(0), make_patient(3)  # same VOIs (i % 3), different images
    assert runner.voi_hash(a.vois["tumor"]) == runner.voi_hash(b.vois["tumor"])
    df = extract_cohort([a, b], SETTINGS, cache_dir=tmp_path, workers=1)
    shape_cols = [c for c in df.columns if "_shape_" in c]
    assert shape_cols and not df[shape_cols].isna().any().any()
    assert df[shape_cols].iloc[0].equals(df[shape_cols].iloc[1])


_CHILD = """
import sys, time
sys.path.insert(0, {tests!r})
from test_runner import make_patient, SETTINGS
from radscore.features import engine
from radscore.features.runner import extract_cohort
orig = engine.extract_image
def slow(*a, **k):
    out = orig(*a, **k)
    time.sleep(0.4)  # widen the window so the kill lands mid-run
    return out
engine.extract_image = slow
extract_cohort([make_patient(i) for i in range(4)], SETTINGS, cache_dir={cache!r}, workers=1)
"""


def test_killed_run_resumes_without_recomputing(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    code = _CHILD.format(tests=str(Path(__file__).parent), cache=str(cache))
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "RADSCORE_QUIET": "1"})
    deadline = time.time() + 60
    while time.time() < deadline and len(list(cache.rglob("*.json"))) < 6:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = list(cache.rglob("*.json"))
    entries = [json.loads(f.read_text()) for f in done]  # every entry complete: atomic writes
    n_image_entries = sum(not e["names"][0].startswith("original_shape_") for e in entries)
    n_parts = len(runner.split_image_types(pyrad.canonical_image_types(SETTINGS.image_types)))
    assert n_parts == 2  # original | LoG: two tasks per image
    total = 4 * 2 * n_parts * 2  # patients x images x parts x VOIs
    assert 1 <= n_image_entries < total, "the kill should land mid-run"
    assert not [f for f in cache.rglob("*") if f.is_file() and f.suffix != ".json"]

    calls = []
    orig = engine.extract_image

    def counting(image, masks, *a, **k):
        calls.append(len(masks))
        return orig(image, masks, *a, **k)

    monkeypatch.setattr(engine, "extract_image", counting)
    pats = [make_patient(i) for i in range(4)]
    resumed = extract_cohort(pats, SETTINGS, cache_dir=cache, workers=1)
    assert sum(calls) == total - n_image_entries  # only the (image, part, VOI) results without an entry
    fresh = extract_cohort(pats, SETTINGS, workers=1)
    assert list(resumed.columns) == list(fresh.columns)
    assert resumed.equals(fresh)


def test_process_pool_and_dask_local_cluster_give_same_table():
    distributed = pytest.importorskip("distributed")
    pats = [make_patient(i) for i in range(3)]
    local = extract_cohort(pats, SETTINGS, workers=1)
    pool = extract_cohort(pats, SETTINGS, workers=2)
    assert pool.equals(local)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        # A default client in this process: runtime.executor._run_dask calls dask's
        # as_completed without loop=, which then needs one (reported; one-line fix there).
        with distributed.Client(cl):
            on_dask = extract_cohort(pats, SETTINGS, scheduler=cl.scheduler_address)
    assert on_dask.equals(local)


def test_hashes_follow_content():
    p = make_patient(0)
    img = p.images["ct"]
    h = runner.image_hash(img)
    moved = sitk.Image(img)
    moved.SetOrigin((1.0, 0.0, 0.0))
    assert runner.image_hash(moved) != h
    assert runner.voi_hash(p.vois["tumor"]) != runner.voi_hash(p.vois["ring"])
