"""The local worker pool: a dead or out-of-memory worker costs only its own item."""

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from radscore.runtime.executor import TaskPool, WorkerError, map_tasks, run_tasks


def square(x):
    return x * x


def die_on_three(x):
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return x * x


def raise_on_two(x):
    if x == 2:
        raise ValueError("bad item two")
    return x


def allocate(gb):
    a = np.ones(int(gb * 1024**3 // 8))  # touches every page
    return float(a.sum())


def _vm_size_gb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) / 1024**2
    pytest.skip("no /proc/self/status: cannot size the memory limit")


def _collect(results):
    return {r.index: r for r in results}


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_every_item_once_with_its_value(workers):
    out = _collect(run_tasks(square, list(range(9)), workers=workers))
    assert sorted(out) == list(range(9))
    assert all(out[i].value == i * i and out[i].error is None for i in out)


class NotPicklable:
    """An item that cannot be sent through a pipe: only a forked worker can hold it."""

    def __init__(self, x):
        self.x = x

    def __reduce__(self):
        raise TypeError("this item was pickled")


def unwrap(item):
    return item.x * 10


def test_forked_workers_inherit_items_instead_of_receiving_them():
    import multiprocessing as mp

    if mp.get_start_method() != "fork":
        pytest.skip("items are inherited only by forked workers (the default on Linux)")
    out = _collect(run_tasks(unwrap, [NotPicklable(i) for i in range(5)], workers=2))
    assert [out[i].error for i in range(5)] == [None] * 5
    assert [out[i].value for i in range(5)] == [0, 10, 20, 30, 40]


def test_exception_reported_for_its_item_with_location():
    out = _collect(run_tasks(raise_on_two, list(range(5)), workers=2))
    assert isinstance(out[2].error, ValueError) and "bad item two" in str(out[2].error)
    assert out[2].error.where.startswith("test_executor.py:")  # innermost frame survives the process hop
    assert [out[i].value for i in (0, 1, 3, 4)] == [0, 1, 3, 4]


def test_killed_worker_costs_only_its_item():
    t0 = time.perf_counter()
    out = _collect(run_tasks(die_on_three, list(range(8)), workers=2))
    assert sorted(out) == list(range(8))
    err = out[3].error
    assert isinstance(err, WorkerError) and "SIGKILL" in err.message and "rerun" in err.message
    for i in set(range(8)) - {3}:
        assert out[i].error is None and out[i].value == i * i
    assert time.perf_counter() - t0 < 30


def test_worker_over_memory_limit_is_reported_not_hung():
    limit = _vm_size_gb() + 0.5  # the fork inherits this process's address space
    t0 = time.perf_counter()
    out = _collect(run_tasks(allocate, [0.01, 4.0, 0.01], workers=2, memory_limit_gb=limit))
    assert time.perf_counter() - t0 < 60
    assert out[0].error is None and out[2].error is None
    err = out[1].error
    assert isinstance(err, WorkerError) and "memory" in err.message and "memory_limit_gb" in err.message


def test_abandoned_run_leaves_no_worker_behind():
    import multiprocessing as mp

    before = set(mp.active_children())  # e.g. joblib's pool from other tests: not ours
    gen = run_tasks(die_on_three, list(range(6)), workers=2)
    first = next(gen)
    assert first.index in range(6)
    children = [c for c in mp.active_children() if c not in before]
    assert children
    gen.close()  # the caller stopped (error or Ctrl-C): workers are killed, not orphaned
    time.sleep(0.2)
    assert not any(c.is_alive() for c in children)


def itk_allocate(n):
    import SimpleITK as sitk

    return sitk.Image([n, n, n], sitk.sitkFloat32).GetSize()


def test_itk_allocation_over_the_limit_is_a_memory_error():
    limit = _vm_size_gb() + 0.5
    out = _collect(run_tasks(itk_allocate, [8, 1500], workers=2, memory_limit_gb=limit))  # 1500^3 float = 13 GB
    assert out[0].value == (8, 8, 8)
    err = out[1].error
    assert isinstance(err, WorkerError) and "ran out of memory" in err.message, err


def test_cache_keeps_temporary_files_out_and_sweeps_old_ones(tmp_path, monkeypatch):
    from radscore.runtime import files as files_mod
    from radscore.runtime.cache import ResultCache, make_key

    root = tmp_path / "cache"
    cache = ResultCache(root)
    key = make_key("x")
    seen = []
    real = files_mod._temp_file

    def spy(folder, name):
        seen.append(Path(folder))
        return real(folder, name)

    monkeypatch.setattr(files_mod, "_temp_file", spy)
    cache.put_json(key, {"a": 1})
    assert seen == [cache.tmp_dir] and root not in cache.tmp_dir.parents  # never inside the cache
    left = cache.tmp_dir / f".{make_key('y')}.json.abc.tmp"  # what kill -9 mid-write leaves
    left.write_text('{"a": ')
    assert not ResultCache(root).has(make_key("y")) and left.exists()  # young: may be a live writer's
    os.utime(left, (time.time() - 7200, time.time() - 7200))
    assert ResultCache(root).get_json(key) == {"a": 1} and not left.exists()
    assert [p.name for p in root.rglob("*") if p.is_file()] == [f"{key}.json"]


def test_dask_scheduler_without_a_default_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        out = _collect(run_tasks(raise_on_two, list(range(4)), scheduler=cl.scheduler_address))
    assert [out[i].value for i in (0, 1, 3)] == [0, 1, 3]
    assert isinstance(out[2].error, ValueError)


def tagged(item):
    """(tag, value): the pool's items in the follow-up tests."""
    time.sleep(0.02)
    return item


@pytest.mark.parametrize("workers", [1, 2])
def test_follow_up_items_submitted_while_results_arrive_run_first(workers):
    # the runner's pattern: each "prepare" result queues its "part" items, which go ahead of
    # the prepare items still waiting
    order = []
    with TaskPool(tagged, workers=workers) as pool:
        for i in range(4):
            pool.submit(("prepare", i))
        for res in pool.results():
            assert res.error is None
            tag, i = res.value
            order.append(res.value)
            if tag == "prepare":
                for k in range(2):
                    pool.submit(("part", i * 10 + k), priority=1)
    assert sorted(order) == sorted([("prepare", i) for i in range(4)] + [("part", i * 10 + k) for i in range(4)
                                                                           for k in range(2)])
    if workers == 1:  # in process: strictly by priority, then submission order
        assert order[:3] == [("prepare", 0), ("part", 0), ("part", 1)]
    first_parts = order.index(("part", 0))
    assert order.index(("prepare", 3)) > first_parts  # a started scan's parts before the last prepare


def slow_first(x):
    time.sleep(0.3 if x == 0 else 0.0)  # item 0 finishes last on 2 workers
    return x * 10


def test_map_tasks_returns_results_in_item_order_and_raises_the_failure():
    assert map_tasks(slow_first, [0, 1, 2, 3], workers=2) == [0, 10, 20, 30]
    assert map_tasks(slow_first, [0, 1, 2, 3], workers=1) == [0, 10, 20, 30]
    with pytest.raises(ValueError):
        map_tasks(raise_on_two, [0, 1, 2, 3], workers=2)
