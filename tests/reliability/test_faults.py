"""Faults: a killed run, a killed worker, a read-only or full disk. No finished work is lost.

The reference is the shared study's uninterrupted run (``base_study``); every run here
starts from a copy of its inputs only, so each compares its final tables with it byte
for byte.
"""

from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radscore.features import tasks as tasks_mod
from radscore.runtime import files as files_mod
from reliability_helpers import copy_study, file_hashes, patch_config, run_cli

pytestmark = pytest.mark.slow


def _entries(folder: Path) -> dict[str, tuple[int, int]]:
    """Finished cache entries: path -> (inode, mtime), to prove none is rewritten."""
    cache = folder / ".radscore" / "cache"
    return {str(p.relative_to(cache)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(cache.rglob("*.json"))} if cache.exists() else {}


def _assert_cache_sound(folder: Path) -> None:
    """Every file in the cache is a complete entry."""
    cache = folder / ".radscore" / "cache"
    for p in cache.rglob("*"):
        if p.is_file():
            assert p.suffix == ".json" and not p.name.startswith("."), f"stray file in the cache: {p}"
            json.loads(p.read_text())


def _as_from_a_terminal() -> None:
    # A job started in the background by a non-interactive shell (`bash .ci/run &`) inherits
    # SIGINT ignored, and Python then installs no Ctrl-C handler: restore a terminal's default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_run(folder: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "radscore", "-q", "run", str(folder), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=_as_from_a_terminal)


def _prepared(folder: Path) -> set[str]:
    """Cache entries of prepared scans (their metadata: hashes and provenance), by file."""
    cache = folder / ".radscore" / "cache"
    out = set()
    for p in cache.rglob("*.json") if cache.exists() else []:
        try:
            if "provenance" in json.loads(p.read_text()):
                out.add(str(p.relative_to(cache)))
        except (OSError, ValueError):  # being renamed into place right now
            pass
    return out


def _wait_for_entries(folder: Path, proc: subprocess.Popen, n: int, timeout: float = 300) -> None:
    """Until ``n`` scans are prepared (their parts follow at once: part tasks go first)."""
    t0 = time.monotonic()
    while len(_prepared(folder)) < n:
        assert proc.poll() is None, f"the run ended before {n} scans were cached: {proc.stderr.read().decode()}"
        assert time.monotonic() - t0 < timeout, "extraction too slow"
        time.sleep(0.2)


def _counting(monkeypatch, counter: Path) -> None:
    """Count scans loaded and prepared, across worker processes, by appending to a file."""
    real = tasks_mod.prepare_scan

    def counted(ref, settings, *, perturbation=None, **kw):
        if perturbation is None and "mask_2" not in str(ref.mask):  # main extraction only
            with open(counter, "a") as fh:
                fh.write(f"{ref.key}\n")
        return real(ref, settings, perturbation=perturbation, **kw)

    monkeypatch.setattr(tasks_mod, "prepare_scan", counted)


def _computed(counter: Path) -> list[str]:
    return counter.read_text().split() if counter.exists() else []


def _n_scans(folder: Path) -> int:
    return len(pd.read_csv(folder / "manifest.csv"))


def test_kill_9_of_the_run_then_rerun_loses_nothing(base_study, tmp_path, monkeypatch):
    folder = copy_study(base_study, tmp_path / "study", with_outputs=False)
    proc = _start_run(folder)
    try:
        _wait_for_entries(folder, proc, 5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers, as `kill -9 -PGID` would
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.5)
    before = _entries(folder)
    prepared = _prepared(folder)
    assert 5 <= len(prepared) < _n_scans(folder), "kill came too late to test anything"
    _assert_cache_sound(folder)  # temporary files are written beside the cache, never in it

    counter = tmp_path / "computed.txt"
    _counting(monkeypatch, counter)
    assert run_cli("run", str(folder), "--workers", "2") == 0
    assert len(_computed(counter)) == _n_scans(folder) - len(prepared)  # prepared scans not loaded again
    after = _entries(folder)
    assert all(after[k] == v for k, v in before.items())  # and not rewritten
    assert file_hashes(folder) == file_hashes(base_study)  # identical to the uninterrupted run


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to find the worker processes")
def test_kill_9_of_one_worker_reports_its_scan_and_finishes(base_study, tmp_path, monkeypatch):
    folder = copy_study(base_study, tmp_path / "study", with_outputs=False)
    proc = _start_run(folder)
    try:
        _wait_for_entries(folder, proc, 3)
        workers = _children(proc.pid)
        assert workers, "no worker processes found"
        os.kill(workers[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err.decode()
    qc = pd.read_csv(folder / "qc.csv", dtype={"patient_id": str})
    killed = qc[qc["problem"].str.contains("SIGKILL")]
    assert len(killed) == 1 and killed["severity"].iloc[0] == "excluded", qc
    assert "rerun" in killed["problem"].iloc[0]
    features = pd.read_parquet(folder / "features.parquet")
    assert len(features) == _n_scans(folder) - 1  # the rest of the cohort completed

    counter = tmp_path / "computed.txt"
    _counting(monkeypatch, counter)
    assert run_cli("run", str(folder), "--workers", "2") == 0
    row = killed.iloc[0]
    assert _computed(counter) == [f"{row['patient_id']}/{row['timepoint']}/{row['lesion_id']}"]
    assert file_hashes(folder) == file_hashes(base_study)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores file permissions; test_read_only_file_system covers the EROFS path")
def test_read_only_output_folder(base_study, tmp_path, capsys):
    folder = copy_study(base_study, tmp_path / "study", with_outputs=False)
    folder.chmod(0o555)
    try:
        assert run_cli("run", str(folder), "--workers", "2") == 4
    finally:
        folder.chmod(0o755)
    err = capsys.readouterr().err
    assert "permission denied" in err and "Fix:" in err and str(folder) in err
    assert not (folder / ".radscore").exists()


def test_read_only_file_system(base_study, tmp_path, capsys, monkeypatch):
    folder = copy_study(base_study, tmp_path / "study", with_outputs=False)

    def erofs(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files_mod, "_temp_file", erofs)
    t0 = time.perf_counter()
    assert run_cli("run", str(folder), "--workers", "2") == 4
    assert time.perf_counter() - t0 < 20  # found before extraction, not after hours of it
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "read-only" in err[0] and "Fix:" in err[0] and str(folder) in err[0]
    assert _entries(folder) == {}


def test_disk_full_mid_extraction_leaves_only_complete_entries(base_study, tmp_path, capsys, monkeypatch):
    folder = copy_study(base_study, tmp_path / "study", with_outputs=False)
    real_fsync, calls = os.fsync, tmp_path / "fsync_calls"

    def fsync(fd):
        # counted across the worker processes (they write the cache entries): one byte per call
        with open(calls, "ab") as fh:
            fh.write(b".")
        if calls.stat().st_size > 2 + 3:  # two write probes, then three cache entries fit
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(files_mod.os, "fsync", fsync)
    assert run_cli("run", str(folder), "--workers", "2") == 4
    err = capsys.readouterr().err
    assert "the disk is full" in err and "Fix:" in err
    assert len(_entries(folder)) == 3
    _assert_cache_sound(folder)  # no half-written entry, no temporary file left behind
    # Our workers stopped with the run (joblib's loky pool from earlier model fits may linger; not ours).
    assert not [c for c in mp.active_children() if c.is_alive() and not type(c).__name__.startswith("Loky")]


def test_scan_over_the_memory_limit_is_reported_and_the_run_completes(base_study, tmp_path, monkeypatch):
    """One scan (a test-only hog, 6 GB) exceeds runtime.memory_limit_gb: it is listed in qc.csv, the rest finish."""
    folder = copy_study(base_study, tmp_path / "study")
    man = pd.read_csv(folder / "manifest.csv", dtype={"patient_id": str, "lesion_id": str})
    row = man.iloc[0].to_dict()
    for col in ("ct", "pet", "mask", "mask_2"):
        new = f"images/{row['patient_id']}_baseline_Lhog_{col}.nii.gz"
        shutil.copy(folder / row[col], folder / new)
        row[col] = new
    # Same image, other bytes (uncompressed), so the content-addressed cache does not answer for it.
    sitk.WriteImage(sitk.ReadImage(str(folder / row["ct"])), str(folder / "images" / "hog_ct.nii"))
    row.update(lesion_id="hog", site="lymph_node", ct="images/hog_ct.nii")
    pd.concat([man, pd.DataFrame([row])]).to_csv(folder / "manifest.csv", index=False)
    with open("/proc/self/status") as fh:
        vm_gb = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmSize:")) / 1024**2
    limit = round(vm_gb + 1.5, 2)  # workers are forked: they start with this process's address space
    patch_config(folder, {"runtime": {"workers": 2, "memory_limit_gb": limit}})
    real = tasks_mod.prepare_scan

    def hog(ref, settings, **kw):
        if ref.lesion_id == "hog":
            np.ones(6 * 1024**3 // 8)
        return real(ref, settings, **kw)

    monkeypatch.setattr(tasks_mod, "prepare_scan", hog)
    t0 = time.perf_counter()
    assert run_cli("run", str(folder)) == 0
    assert time.perf_counter() - t0 < 300
    qc = pd.read_csv(folder / "qc.csv", dtype={"lesion_id": str})
    bad = qc[qc["lesion_id"] == "hog"]
    assert list(bad["severity"]) == ["excluded"]
    assert "ran out of memory" in bad["problem"].iloc[0] and f"{limit} GB" in bad["problem"].iloc[0]
    assert len(pd.read_parquet(folder / "features.parquet")) == len(man)  # every other scan


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to find the worker processes")
def test_ctrl_c_stops_the_run_and_its_workers_keeping_finished_scans(base_study, tmp_path):
    folder = copy_study(base_study, tmp_path / "study", with_outputs=False)
    proc = _start_run(folder)
    try:
        _wait_for_entries(folder, proc, 3)
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGINT)  # Ctrl-C reaches the main process only
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, f"exit {proc.returncode}; stderr: {err.decode()[-2000:]}"
    assert "finished work is cached" in err.decode() and "Traceback" not in err.decode()
    assert workers and not any(Path(f"/proc/{w}").exists() for w in workers)  # no orphan keeps computing
    assert len(_entries(folder)) >= 3
    _assert_cache_sound(folder)
