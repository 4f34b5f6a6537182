"""Entry points of the MKL that torch's CPU build links in, where it has one.

torch's x86-64 Linux wheels carry MKL inside ``libtorch_cpu.so`` and export
its symbols. Two are used here: the calling thread's MKL thread count
(:mod:`sklearn_ksm._threads`) and the Cholesky factorisation ``?potrf``,
called in place on a torch tensor's buffer (:func:`potrf_in_place`). Builds
without MKL (macOS, ARM) and other platforms get None, and callers fall back
to torch or scipy.
"""

import ctypes
import functools
import os

import torch


@functools.cache
def torch_mkl():
    """The loaded ``libtorch_cpu.so`` if it holds MKL, else None."""
    path = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    try:
        library = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)  # only if torch loaded it
        library.MKL_Get_Max_Threads  # noqa: B018 (a real MKL, not a lookalike symbol)
    except (OSError, AttributeError):
        return None  # no MKL in this torch build (e.g. macOS, ARM) or not Linux
    return library


@functools.cache
def _potrf(dtype):
    """MKL's Fortran ``spotrf_`` / ``dpotrf_`` (LP64: 32-bit integers), or None."""
    library = torch_mkl()
    name = {torch.float32: "spotrf_", torch.float64: "dpotrf_"}.get(dtype)
    if library is None or name is None:
        return None
    try:
        function = getattr(library, name)
    except AttributeError:
        return None
    function.restype = None
    return function


def potrf_in_place(A):
    """Factor a symmetric, C-contiguous CPU tensor in place; None where MKL can't.

    A symmetric matrix in row-major order is its own transpose in MKL's
    column-major order, so ``?potrf`` with ``uplo = 'L'`` factors the buffer
    as it is: afterwards ``A.mT`` holds the lower Cholesky factor in its
    lower triangle (its strictly upper triangle is the input's, unspecified
    as a factor). MKL runs on the calling thread's MKL thread count, which
    :func:`sklearn_ksm._threads.thread_limit` sets.

    Returns
    -------
    factored : bool or None
        Whether ``A`` was positive definite (LAPACK's ``info == 0``); None
        when MKL is not available for this tensor (then ``A`` is untouched).
    """
    function = _potrf(A.dtype)
    if (function is None or A.device.type != "cpu" or A.requires_grad
            or A.ndim != 2 or A.shape[0] != A.shape[1] or not A.is_contiguous()):  # fmt: skip
        return None
    n, info = ctypes.c_int(A.shape[0]), ctypes.c_int(0)
    function(ctypes.byref(ctypes.c_char(b"L")), ctypes.byref(n), ctypes.c_void_p(A.data_ptr()),
             ctypes.byref(n), ctypes.byref(info))  # fmt: skip
    return info.value == 0
