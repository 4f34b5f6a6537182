"""The thread policy: limits inside the package's calls, the caller's settings after them."""

import math
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from sklearn_ksm import HebbianKernelSimilarityMatching, _threads
from sklearn_ksm.baselines import KernelNystroem, UncenteredKernelPCA

# Thread counts seen from inside a fit, recorded by the callable kernel below.
SEEN = []


def recording_rbf(X, W):
    """An rbf kernel (gamma 1) that records the thread limits in force when called."""
    SEEN.append(_threads.allowed_threads())
    return torch.exp(-(torch.cdist(X, W) ** 2))


def failing_rbf(X, W):
    SEEN.append(_threads.allowed_threads())
    if len(SEEN) > 20:  # past the kernel's validation (a few calls): fails in training
        raise RuntimeError("kernel failed")
    return torch.exp(-(torch.cdist(X, W) ** 2))


def _settings():
    """What a caller can see of the process's thread settings."""
    mkl = _threads._torch_mkl_local()
    local = None
    if mkl is not None:
        local = mkl(0)  # reads by setting; put it back at once
        mkl(local)
    return torch.get_num_threads(), threadpool_info(), local


@pytest.fixture
def seen():
    SEEN.clear()
    yield SEEN
    SEEN.clear()


def _network(n_jobs=None, kernel=recording_rbf, n_components=4):
    return HebbianKernelSimilarityMatching(
        n_components, kernel=kernel, n_jobs=n_jobs, max_iter=2, batch_size=32, random_state=0
    )


def test_small_network_runs_on_one_thread_and_restores_the_callers_settings(seen, moons):
    X = moons[0][:200]
    before = _settings()
    network = _network().fit(X)
    network.partial_fit(X[:64])
    network.transform(X)
    network.score(X)
    assert seen and set(seen) == {1}
    assert _settings() == before


@pytest.mark.parametrize("n_jobs", [1, 2, -1])
def test_n_jobs_sets_the_thread_count(seen, moons, n_jobs):
    allowed = _threads.allowed_threads()
    expected = min(_threads.usable_cores() if n_jobs == -1 else n_jobs, allowed)
    before = _settings()
    _network(n_jobs).fit(moons[0][:200])
    assert set(seen) == {expected}
    assert _settings() == before


def test_an_enclosing_threadpool_limit_caps_the_threads(seen, moons):
    before = _settings()
    with threadpool_limits(limits=1):
        inside = _settings()
        _network(n_jobs=-1).fit(moons[0][:200])
        assert _settings() == inside
    assert set(seen) == {1}
    assert _settings() == before


def test_settings_are_restored_when_the_call_raises(seen, moons):
    before = _settings()
    with pytest.raises(RuntimeError, match="kernel failed"):
        _network(n_jobs=1, kernel=failing_rbf).fit(moons[0][:200])
    assert _settings() == before
    with pytest.raises(ValueError):
        _network(n_jobs=1).fit(np.full((10, 2), np.nan))
    assert _settings() == before


@pytest.mark.skipif(_threads._torch_mkl_local() is None, reason="torch build without MKL")
def test_torch_mkl_thread_local_setting_is_restored(seen, moons):
    # torch.set_num_threads leaves MKL's thread-local count set; a call must
    # neither clear it nor leave its own count behind.
    mkl = _threads._torch_mkl_local()
    original = mkl(2)
    try:
        _network(n_jobs=1).fit(moons[0][:200])
        assert mkl(2) == 2
    finally:
        mkl(original)


def test_baselines_run_under_the_policy_and_restore(moons):
    X = moons[0][:300]
    before = _settings()
    UncenteredKernelPCA(4, gamma=5.0).fit(X).transform(X[:10])
    KernelNystroem(4, gamma=5.0, landmarks="kmeans", random_state=0).fit(X).transform(X)
    assert _settings() == before


@pytest.fixture
def machine(monkeypatch):
    """A 4-core machine whose runnable-thread count the test sets."""
    state = {"runnable": 0}
    monkeypatch.setattr(_threads, "allowed_threads", lambda: 4)
    monkeypatch.setattr(_threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(_threads, "_runnable_elsewhere", lambda: state["runnable"])
    return state


def test_policy_one_thread_below_the_crossover_idle_cores_above(machine):
    small, large = _threads.THREADS_MIN_SIZE - 1, _threads.THREADS_MIN_SIZE
    assert _threads.n_threads(size=small) == 1
    assert _threads.n_threads(size=large) == 4
    machine["runnable"] = 1
    assert _threads.n_threads(size=large) == 3
    machine["runnable"] = 10
    assert _threads.n_threads(size=large) == 1


def test_policy_explicit_n_jobs(machine):
    machine["runnable"] = 10  # an explicit count ignores the load
    assert _threads.n_threads(2, size=1) == 2
    assert _threads.n_threads(8, size=1) == 4  # capped by what the caller allows
    assert _threads.n_threads(-1, size=1) == 4
    assert _threads.n_threads(-2, size=1) == 3
    assert _threads.n_threads(-9, size=1) == 1
    with pytest.raises(ValueError, match="n_jobs == 0"):
        _threads.n_threads(0, size=1)


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2"])
def test_invalid_n_jobs_is_rejected(moons, n_jobs):
    with pytest.raises(ValueError, match="n_jobs"):
        HebbianKernelSimilarityMatching(4, n_jobs=n_jobs).fit(moons[0][:50])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_runnable_threads_of_other_processes_are_counted():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # started and spinning
        counts = [_threads._runnable_elsewhere() for _ in range(20)]
    finally:
        busy.kill()
        busy.wait()
    # the spinning process is runnable at every instant
    assert min(counts) >= 1
    _threads._busy_verdict.update(time=-math.inf, count=0)  # forget it for the next tests


@pytest.fixture
def readings(monkeypatch):
    """Run-queue readings the test scripts, on a clock it moves (no real sleeping)."""
    state = {"queue": [], "read": 0, "now": 100.0}

    def now():
        state["read"] += 1
        return state["queue"].pop(0)

    monkeypatch.setattr(_threads, "_runnable_now", now)
    monkeypatch.setattr(_threads, "_sleep", lambda seconds: None)
    monkeypatch.setattr(_threads, "_clock", lambda: state["now"])
    monkeypatch.setattr(_threads, "_busy_verdict", {"time": -math.inf, "count": 0})
    return state


def test_a_transient_runnable_thread_is_not_a_competitor(readings):
    # a thread seen in the first reading only (a kernel thread, an OpenMP
    # worker going to sleep) is not counted; an idle machine costs one reading
    readings["queue"] = [1, 0]
    assert _threads._runnable_elsewhere() == 0 and readings["read"] == 2
    readings.update(queue=[0], read=0)
    assert _threads._runnable_elsewhere() == 0 and readings["read"] == 1


def test_a_competitor_seen_in_every_reading_is_counted_and_remembered(readings):
    readings["queue"] = [2, 1, 3, 1, 2]
    assert _threads._runnable_elsewhere() == 1  # the least of the readings
    assert readings["read"] == _threads.RUNNABLE_READINGS
    # the busy verdict holds for RUNNABLE_KEEP seconds without new readings
    readings["now"] += 0.9 * _threads.RUNNABLE_KEEP
    assert _threads._runnable_elsewhere() == 1 and readings["read"] == 5
    # then the run queue is read again
    readings["now"] += 0.2 * _threads.RUNNABLE_KEEP
    readings["queue"] = [0]
    assert _threads._runnable_elsewhere() == 0 and readings["read"] == 6


PROBE = """
import os, time, torch
from threadpoolctl import threadpool_limits
from sklearn_ksm._threads import thread_limit

def busy_threads(operation, seconds=1.0):
    def cpu():
        out = {}
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            out[task] = int(fields[11]) + int(fields[12])
        return out
    operation()
    before, start = cpu(), time.perf_counter()
    while time.perf_counter() - start < seconds:
        operation()
    after = cpu()
    used = [after[t] - before.get(t, 0) for t in after]
    return sum(u >= 0.2 * max(used) for u in used)

S = torch.randn(600, 600, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
S = S @ S.T + 600 * torch.eye(600, dtype=torch.float64)
factorise = lambda: torch.linalg.cholesky(S)
torch.set_num_threads(torch.get_num_threads())  # as any torch user may have done
with threadpool_limits(limits=1):
    print(busy_threads(factorise))
with thread_limit(1):
    print(busy_threads(factorise))
print(busy_threads(factorise))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.skipif(_threads.allowed_threads() < 2, reason="needs two threads to tell apart")
def test_limit_holds_for_torch_mkl_after_set_num_threads():
    # After torch.set_num_threads, torch's MKL keeps its own thread-local
    # count, which threadpoolctl's limit does not reach; thread_limit does.
    completed = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    under_threadpoolctl, under_package, after = map(int, completed.stdout.split())
    if after < 2:
        pytest.skip("this torch build factorises on one thread even without a limit")
    assert under_package == 1
    # (with torch 2.13's MKL build, under_threadpoolctl is 2: the reason for thread_limit)
