"""The extraction runner: same values for one scan or a cohort, from files or prepared in
process; resumable after a kill; one scan spread over workers; runs on Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from featutil import extract_row as extract_features
from radscore.config import FeatureSettings
from radscore.errors import RadscoreError
from radscore.features import engine, runner, tasks
from radscore.features.runner import extract_prepared
from radscore.features.settings import canonical_image_types
from radscore.imaging.preprocess import PreparedScan

SETTINGS = FeatureSettings(image_types={"original": {}, "LoG": {"sigma": [1.0]}}, images=["ct", "pet"])


def extract_cohort(patients, settings, **kw):
    """The runner's table of prepared scans, raising the first scan's error (as a cohort of one would)."""
    result = extract_prepared(patients, settings, **kw)
    for s in result.scans:
        if s.error is not None:
            raise RadscoreError(s.error)
    return result.table(sort_columns=False).drop(columns=["timepoint", "lesion_id", "site"])


def make_patient(i: int, shape=(20, 28, 30)) -> PreparedScan:
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
    return PreparedScan.from_images(f"P{i}", {"ct": ct, "pet": pet}, {"tumor": tumor, "ring": ring})


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
    assert tasks.voi_hash(a.vois["tumor"]) == tasks.voi_hash(b.vois["tumor"])
    df = extract_cohort([a, b], SETTINGS, cache_dir=tmp_path, workers=1)
    shape_cols = [c for c in df.columns if "_shape_" in c]
    assert shape_cols and not df[shape_cols].isna().any().any()
    assert df[shape_cols].iloc[0].equals(df[shape_cols].iloc[1])


_CHILD = """
import sys, time
sys.path.insert(0, {tests!r})
from test_runner import make_patient, SETTINGS, extract_cohort
from radscore.features import engine
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
    n_parts = len(tasks.split_image_types(canonical_image_types(SETTINGS.image_types)))
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
    h = tasks.image_hash(img)
    moved = sitk.Image(img)
    moved.SetOrigin((1.0, 0.0, 0.0))
    assert tasks.image_hash(moved) != h
    assert tasks.voi_hash(p.vois["tumor"]) != tasks.voi_hash(p.vois["ring"])


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A 3-patient simulated study on disk (files, as a user's manifest points to them)."""
    from radscore.pipeline.context import Study
    from radscore.simulate import write_study

    folder = tmp_path_factory.mktemp("runner_study")
    write_study(folder, 3, seed=11, workers=1, protocol="quick")
    return Study.open(folder)


def _scan_settings(study):
    return study.config.scan.model_copy(update={"features": SETTINGS})


def test_scans_from_files_equal_the_same_scans_prepared_in_process(study):
    from radscore.imaging.preprocess import prepare_scan
    from radscore.io.scan import scan_refs

    refs = scan_refs(study.manifest())[:3]
    settings = _scan_settings(study)
    from_files = runner.extract_scans(refs, settings, workers=2)
    in_process = extract_prepared([prepare_scan(r, settings) for r in refs], settings.features, workers=1)
    assert not [s.error for s in from_files.scans if s.error]
    pd.testing.assert_frame_equal(from_files.table(), in_process.table())
    steps = [s.name for s in from_files.scans[0].provenance.steps]
    assert steps[:3] == ["load_ct", "load_pet", "load_mask"] and steps[-1] == "features"
    assert {"resample", "fuse", "vois"} <= set(steps)


def test_a_finished_scan_is_assembled_from_the_cache_without_loading_it(study, tmp_path, monkeypatch):
    from radscore.io.scan import scan_refs

    refs = scan_refs(study.manifest())[:2]
    settings = _scan_settings(study)
    first = runner.extract_scans(refs, settings, cache_dir=tmp_path / "cache", workers=1)

    def boom(*a, **k):
        raise AssertionError("prepared or extracted a cached scan")

    monkeypatch.setattr(tasks, "prepare_scan", boom)
    monkeypatch.setattr(engine, "extract_image", boom)
    again = runner.extract_scans(refs, settings, cache_dir=tmp_path / "cache", workers=1)
    pd.testing.assert_frame_equal(again.table(), first.table())
    assert [s.provenance for s in again.scans] == [s.provenance for s in first.scans]
    assert not list((tmp_path / "prepared").iterdir())  # scratch images removed once a scan is done


def test_one_scan_is_spread_over_the_workers(study, tmp_path, monkeypatch):
    from radscore.io.scan import scan_refs

    log_file = tmp_path / "pids.txt"
    real = tasks.run_part

    def logged(task):
        with open(log_file, "a") as fh:
            fh.write(f"{os.getpid()} {task.image_name} {task.part}\n")
        time.sleep(0.3)  # so that a second worker gets work before the first is free again
        return real(task)

    monkeypatch.setattr(tasks, "run_part", logged)
    ref = scan_refs(study.manifest())[0]
    result = runner.extract_scans([ref], _scan_settings(study), workers=2)
    assert result.scans[0].error is None
    rows = [line.split() for line in log_file.read_text().splitlines()]
    n_parts = len(tasks.split_image_types(canonical_image_types(SETTINGS.image_types)))
    assert len(rows) == 2 * n_parts + 1  # ct and pet parts, and the shape task
    assert len({pid for pid, *_ in rows}) == 2 and str(os.getpid()) not in {pid for pid, *_ in rows}


def test_a_failing_scan_is_reported_and_the_others_finish(study, tmp_path):
    import shutil

    from radscore.io.scan import scan_refs

    refs = scan_refs(study.manifest())[:3]
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not an image")
    refs[1] = refs[1].with_mask(str(broken))
    result = runner.extract_scans(refs, _scan_settings(study), workers=2)
    assert [s.error is None for s in result.scans] == [True, False, True]
    assert refs[1].patient_id in result.scans[1].error and "cannot read" in result.scans[1].error
    qc = result.qc()
    assert list(qc.loc[qc.severity == "excluded", "patient_id"]) == [refs[1].patient_id]
    assert len(result.table()) == 2
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.slow
def test_the_background_compile_fills_the_kernel_cache_the_warm_up_then_loads(tmp_path):
    """A fresh install (empty numba cache): the background process compiles every kernel a scan
    needs, so a later process's warm-up and extraction compile nothing."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    code = """
from numba.core.dispatcher import Dispatcher
from radscore.runtime import jit
jit.compile_in_background()
jit.await_background_compile()
seen = set()
original = Dispatcher.compile
def spy(self, sig):
    seen.add(self)
    return original(self, sig)
Dispatcher.compile = spy
from radscore.features.runner import warm_up
warm_up()
print("MISSES", sum(sum(d.stats.cache_misses.values()) for d in seen))
print("HITS", sum(sum(d.stats.cache_hits.values()) for d in seen))
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    counts = dict(line.split() for line in out.stdout.splitlines() if line.startswith(("MISSES", "HITS")))
    assert int(counts["MISSES"]) == 0, out.stdout
    assert int(counts["HITS"]) > 10, out.stdout
    assert any((tmp_path / "numba").rglob("*_mcc_tridiagonal*.nbi"))
