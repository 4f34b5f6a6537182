"""How many CPU threads each piece of the package's work gets.

Every entry point that computes (``fit``, ``partial_fit``, ``transform`` and
``score`` of the networks, the baselines' ``fit`` and ``transform``) runs
inside :func:`thread_limit`, the way scikit-learn guards its OpenMP and BLAS
sections with threadpoolctl: the limit holds for the call only, and the
caller's settings (``torch.get_num_threads()``, threadpoolctl's
``threadpool_info()``) are as before when the call returns or raises.

The policy (``n_jobs=None``): work on matrices of order below
:data:`THREADS_MIN_SIZE` runs on one thread, since a second thread saves
little on such small products and, when the cores are shared, every parallel
region waits for a descheduled thread (on the project's 2-core machine at
load average 8, a fit at N = 64 took 7.8 s on torch's default two threads
against 0.16 s on one; ``benchmarks/bench_contention.py --quick``). Larger
work gets the cores that are idle at the start of the call, never more than
the caller allows (``OMP_NUM_THREADS``, ``torch.set_num_threads``, an
enclosing ``threadpoolctl.threadpool_limits``, or joblib's limit in the
worker processes of ``GridSearchCV(n_jobs=...)``).

threadpoolctl alone does not govern torch's pool (torch 2.13,
``benchmarks/bench_contention.py --tables probe``): it sets the OpenMP thread
count of torch's libgomp, which torch's parallel loops and, by default, the
MKL inside torch follow; but once anything has called
``torch.set_num_threads``, that MKL follows its own thread-local count, and
matrix products, Cholesky, eigh, exp and cdist kept two busy threads under
``threadpool_limits(1)``. So the limit sets that MKL count too, and restores
it. ``torch.set_num_threads`` itself is never called: it leaves MKL's
thread-local count behind, after which an outer ``threadpool_limits`` no
longer limits torch's MKL.
"""

import contextlib
import ctypes
import functools
import math
import os
import time

import torch
from threadpoolctl import ThreadpoolController

from ._mkl import torch_mkl

# Order of the largest matrix (the number of output neurons N of a network,
# of samples of a dense kernel PCA, of landmarks of a Nystroem map) from which
# the package's default uses more than one thread (the cores idle now).
# Measured with ``python benchmarks/bench_contention.py --tables crossover``
# on the project's 2-core Intel Xeon at load average 0.8 (doc/benchmarks.rst,
# "Threads on a busy machine"): a second idle core made a default fit
# (max_iter=2) 1.08 to 1.88 times as fast at every N from 8 to 800, so speed
# alone would put this threshold at 8. It stays at 256 because below it the
# thread count, and with it the last bits of every fitted attribute, does
# not depend on the machine's load: a fit with the same random_state is
# bitwise reproducible without setting n_jobs (doc/scale_out.rst).
THREADS_MIN_SIZE = 256


def usable_cores():
    """The number of CPUs this process may run on (affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@functools.cache
def _controller():
    """One threadpoolctl controller for the process, as scikit-learn keeps one.

    Built at the first use, after torch and scikit-learn (whose import loads
    their OpenMP and BLAS libraries) were imported by the package.
    """
    return ThreadpoolController()


@functools.cache
def _torch_mkl_local():
    """``MKL_Set_Num_Threads_Local`` of the MKL inside torch, or None.

    Its C entry point (the mixed-case name; the lower-case ones are Fortran
    bindings that take a pointer) sets the calling thread's MKL thread count
    and returns the previous one (0: none, MKL follows the OpenMP setting).
    """
    library = torch_mkl()
    try:
        function = library.MKL_Set_Num_Threads_Local
    except AttributeError:  # also None: no MKL in this torch build (e.g. macOS, ARM)
        return None
    function.restype = ctypes.c_int
    function.argtypes = [ctypes.c_int]
    return function


def allowed_threads():
    """The most threads the caller allows for torch, OpenMP and BLAS right now.

    torch's intra-op count follows ``OMP_NUM_THREADS``,
    ``torch.set_num_threads`` and an enclosing threadpoolctl limit on OpenMP;
    the BLAS libraries' counts follow a limit on BLAS.
    """
    counts = [torch.get_num_threads()]
    counts += [library.num_threads for library in _controller().lib_controllers]
    return max(1, min(counts))


# How "runnable now" is read (benchmarks/bench_contention.py, issue 19). A
# single reading of the run queue is a snapshot: right after parallel work
# (this process's OpenMP workers going to sleep, kernel threads waking) one
# reading in 30 to 130 counted a thread elsewhere on an idle 2-core AMD EPYC,
# and a whole fit at N = 800 then ran on one thread (15.3 s against 9.9 s).
# A competitor that takes a core is runnable at every instant, a transient
# is not: the count is the least of up to RUNNABLE_READINGS readings
# RUNNABLE_GAP seconds apart, stopping at the first 0 (so an idle machine
# costs one reading, 0.1 ms). After 400 bursts of two-thread products, 1, 3
# and 5 readings 0.5 ms apart counted a phantom thread 13, 4 and 1 times;
# 5 readings 1 ms apart, none after 1,000 (doc/benchmarks.rst). A busy
# verdict is kept for RUNNABLE_KEEP seconds, so that calls in a row on a
# busy machine (partial_fit, transform) do not each wait for the readings.
RUNNABLE_READINGS = 5
RUNNABLE_GAP = 0.001
RUNNABLE_KEEP = 0.5
_busy_verdict = {"time": -math.inf, "count": 0}
_clock, _sleep = time.monotonic, time.sleep  # module names, for tests to replace


def _runnable_now():
    """Threads of other processes that are running or ready to run now (Linux).

    ``/proc/loadavg`` counts the runnable threads of the whole system at this
    instant (unlike the load averages, which lag by a minute); this process's
    own runnable threads (this one, OpenMP workers still spinning) are
    subtracted. 0 where ``/proc`` is not available.
    """
    try:
        with open("/proc/loadavg") as f:
            runnable = int(f.read().split()[3].split("/")[0])
        own = 0
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError):  # a thread that just ended
                with open(f"/proc/self/task/{task}/stat") as f:
                    own += f.read().rpartition(")")[2].split()[0] == "R"
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, runnable - own)


def _runnable_elsewhere():
    """Threads of other processes that keep running: the least of a few readings.

    See ``RUNNABLE_READINGS``: one reading of 0 ends the count; a busy
    verdict is reused for ``RUNNABLE_KEEP`` seconds.
    """
    now = _clock()
    if now - _busy_verdict["time"] < RUNNABLE_KEEP:
        return _busy_verdict["count"]
    count = _runnable_now()
    for _ in range(RUNNABLE_READINGS - 1):
        if count == 0:
            return 0
        _sleep(RUNNABLE_GAP)
        count = min(count, _runnable_now())
    if count:
        _busy_verdict.update(time=_clock(), count=count)
    return count


def n_threads(n_jobs=None, *, size):
    """Threads for a piece of work whose largest matrix has order ``size``.

    Parameters
    ----------
    n_jobs : int or None, default=None
        ``None``: the package's choice, one thread below
        :data:`THREADS_MIN_SIZE`, else the cores idle now. A positive int:
        that many threads; ``-1``: all usable cores, ``-2`` all but one, and
        so on. Never more than :func:`allowed_threads`.
    size : int
        Order of the largest matrix of the work.

    Returns
    -------
    n_threads : int
    """
    allowed = allowed_threads()
    if n_jobs is None:
        if size < THREADS_MIN_SIZE or allowed == 1:
            return 1
        return max(1, min(allowed, usable_cores() - _runnable_elsewhere()))
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, a positive int or -1.")
    if n_jobs < 0:
        n_jobs = max(1, usable_cores() + 1 + n_jobs)
    return min(n_jobs, allowed)


@contextlib.contextmanager
def thread_limit(n_threads):
    """Run the body with at most ``n_threads`` threads in torch, OpenMP and BLAS.

    Lowers the OpenMP and BLAS thread counts of every library threadpoolctl
    finds (torch's libgomp among them) and the thread-local count of torch's
    MKL, and restores all of them on exit, also when the body raises. The
    limits apply to the calling thread (OpenMP and MKL keep them per thread).
    """
    with _controller().limit(limits=n_threads):
        set_mkl_local = _torch_mkl_local()
        previous = set_mkl_local(n_threads) if set_mkl_local is not None else None
        try:
            yield
        finally:
            if set_mkl_local is not None:
                set_mkl_local(previous)


def n_rows(X):
    """Rows of an array-like, or 0 when it has none (left for validation to reject)."""
    try:
        return int(X.shape[0]) if hasattr(X, "shape") else len(X)
    except (TypeError, IndexError):
        return 0


def thread_policy(size):
    """Decorator: run ``method(self, X, ...)`` under the package's thread policy.

    ``size(self, X)`` gives the order of the method's largest matrix; the
    estimator's ``n_jobs`` (``None`` when it has none) is passed to
    :func:`n_threads`.
    """

    def decorate(method):
        @functools.wraps(method)
        def guarded(self, X, *args, **kwargs):
            count = n_threads(getattr(self, "n_jobs", None), size=size(self, X))
            with thread_limit(count):
                return method(self, X, *args, **kwargs)

        return guarded

    return decorate
