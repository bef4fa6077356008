"""Bounded load on loopback: 200 concurrent requests against a running ``radscore serve``.

Mix: the page, the health and model-info endpoints and a few real predictions. No
response may be an error, and the server's resident memory must come back near its
baseline afterwards. Figures (latency p50/p95, memory) are printed and written to
``build/load_test.json``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

N_REQUESTS = 200
N_PREDICT = 6
OUT = Path(__file__).resolve().parents[2] / "build" / "load_test.json"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(small_study):
    port = _free_port()
    env = {**os.environ, "RADSCORE_QUIET": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "radscore", "-q", "serve", str(small_study / "models" / "comb"),
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    import httpx

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)
    yield url, proc
    proc.terminate()
    proc.wait(timeout=30)


def _upload(study: Path) -> dict:
    man = pd.read_csv(study / "manifest.csv", dtype={"patient_id": str})
    row = man[man["timepoint"] == "baseline"].iloc[0]
    return {k: (Path(row[k]).name, (study / row[k]).read_bytes()) for k in ("ct", "pet", "mask")}


async def _fire(url: str, files: dict, rss_samples: list, pid: int) -> list[tuple[str, int, float]]:
    import httpx
    import psutil

    proc = psutil.Process(pid)
    done = asyncio.Event()

    async def sample():
        while not done.is_set():
            rss_samples.append(proc.memory_info().rss)
            await asyncio.sleep(0.05)

    kinds = ["predict"] * N_PREDICT + [["page", "health", "model"][i % 3] for i in range(N_REQUESTS - N_PREDICT)]
    limits = httpx.Limits(max_connections=N_REQUESTS, max_keepalive_connections=N_REQUESTS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=600) as client:
        async def one(kind: str):
            t0 = time.perf_counter()
            if kind == "predict":
                r = await client.post("/api/predict", files=files)
            else:
                r = await client.get({"page": "/", "health": "/api/health", "model": "/api/model"}[kind])
            return kind, r.status_code, time.perf_counter() - t0

        sampler = asyncio.create_task(sample())
        results = await asyncio.gather(*(one(k) for k in kinds))
        done.set()
        await sampler
    return results


def test_200_concurrent_requests(server, small_study):
    import httpx
    import psutil

    url, proc = server
    files = _upload(small_study)
    warm = httpx.post(url + "/api/predict", files=files, timeout=600)  # imports and caches warmed once
    assert warm.status_code == 200, warm.text
    expected = warm.json()["scans"][0]["radscore"]
    ps = psutil.Process(proc.pid)
    before = ps.memory_info().rss
    samples: list[int] = []
    t0 = time.perf_counter()
    # In a thread of its own: another test's Playwright may leave an event loop running
    # in this thread, where asyncio.run() refuses to start.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        results = pool.submit(asyncio.run, _fire(url, files, samples, proc.pid)).result()
    wall = time.perf_counter() - t0
    time.sleep(2.0)
    after = ps.memory_info().rss
    errors = [(k, s) for k, s, _ in results if s != 200]
    lat = np.array([t for _, _, t in results])
    light = np.array([t for k, _, t in results if k != "predict"])
    pred = np.array([t for k, _, t in results if k == "predict"])
    figures = {
        "requests": len(results), "concurrency": N_REQUESTS, "predictions": N_PREDICT, "errors": len(errors),
        "wall_s": round(wall, 2),
        "latency_all_p50_ms": round(1000 * float(np.percentile(lat, 50)), 1),
        "latency_all_p95_ms": round(1000 * float(np.percentile(lat, 95)), 1),
        "latency_light_p50_ms": round(1000 * float(np.percentile(light, 50)), 1),
        "latency_light_p95_ms": round(1000 * float(np.percentile(light, 95)), 1),
        "latency_predict_p50_s": round(float(np.percentile(pred, 50)), 2),
        "latency_predict_max_s": round(float(pred.max()), 2),
        "rss_before_mb": round(before / 2**20, 1), "rss_peak_mb": round(max(samples + [after]) / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=2))
    print("load test:", json.dumps(figures))
    assert errors == []
    # every prediction under load gives the same Radscore as the quiet one
    assert httpx.post(url + "/api/predict", files=files, timeout=600).json()["scans"][0]["radscore"] == expected
    # memory returns near baseline: at most 150 MB or a third of the peak's rise stays resident
    rise = max(samples) - before
    assert after - before <= max(150 * 2**20, rise / 3), figures
