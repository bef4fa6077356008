"""Scale out: a study run on a real ``dask scheduler`` and two ``dask worker`` processes on loopback.

Not a LocalCluster inside the test process: the scheduler and the workers are separate
programs started from the command line, as on a cluster, so the tasks (scan preparation,
image parts, the robustness repeats) really travel to other processes by the scheduler.
The tables must equal a local run's byte for byte.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from radscore.pipeline.run import run_study
from radscore.simulate import write_study

pytestmark = pytest.mark.slow

DASK = Path(sys.executable).with_name("dask")
CHEAP = {"model": {"cv_folds": 3, "nested_cv_folds": None, "models": ["comb"],
                   "grid": {"max_depth": [2], "n_estimators": [30], "learning_rate": [0.1]}},
         "features": {"feature_classes": ["shape", "firstorder", "glcm"]},
         "analyses": {"deep": {"enabled": False}},
         "tables": {"clinical": "clinical.csv", "expression": None, "cells": None}}


def _cheap(folder: Path) -> None:
    path = folder / "study.yaml"
    data = yaml.safe_load(path.read_text())
    for k, v in CHEAP.items():
        data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) else v
    path.write_text(yaml.safe_dump(data))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``tcp://127.0.0.1:PORT`` of a scheduler with two single-threaded worker processes."""
    if not DASK.exists():
        pytest.fail(f"the dask command line is not installed beside {sys.executable}")
    folder = tmp_path_factory.mktemp("dask")
    sched_file = folder / "scheduler.json"
    common = ["--no-dashboard"]
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--scheduler-file", str(sched_file), *common],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sched_file.exists(), "the dask scheduler did not start"
        address = json.loads(sched_file.read_text())["address"]
        for i in range(2):
            procs.append(subprocess.Popen(
                [str(DASK), "worker", address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
                 "--name", f"w{i}", "--local-directory", str(folder / f"w{i}"), *common],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from dask.distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
        yield address, [p.pid for p in procs[1:]]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def test_study_on_a_dask_cluster_equals_the_local_run(cluster, tmp_path):
    address, _ = cluster
    local = tmp_path / "local"
    write_study(local, 20, seed=4, protocol="quick")
    _cheap(local)
    remote = tmp_path / "remote"
    shutil.copytree(local, remote)
    run_study(local, workers=2)
    run_study(remote, scheduler=address)
    for name in ("features.parquet", "scores.csv", "metrics.json", "qc.csv"):
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name
    robustness = json.loads((remote / "provenance.json").read_text())
    step = next(s for s in robustness["stages"] if s["name"] == "robustness")
    assert step["result"]["skipped"] is None and step["result"]["source"] == "mask_2"
    # the work really ran on the cluster: its workers wrote the cache entries, the scratch is clean
    assert len(list((remote / ".radscore" / "cache").rglob("*.json"))) > 14
    assert not list((remote / ".radscore" / "prepared").iterdir())
