"""Parameter constraints that scikit-learn's validation does not provide."""

import os
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval


class IntegerInterval(Interval):
    """``Interval(Integral, ...)`` that rejects booleans.

    ``bool`` is an ``Integral`` in Python, so scikit-learn's interval accepts
    ``n_components=True`` as 1; a count given as a boolean is a mistake
    (often a flag passed in the wrong position).

    Examples
    --------
    >>> from sklearn_ksm._validation import IntegerInterval
    >>> positive = IntegerInterval(1, None, closed="left")
    >>> positive.is_satisfied_by(3), positive.is_satisfied_by(True)
    (True, False)
    """

    def __init__(self, left, right, *, closed):
        super().__init__(Integral, left, right, closed=closed)

    def is_satisfied_by(self, val):
        return not isinstance(val, bool | np.bool_) and super().is_satisfied_by(val)


def available_memory(device):
    """Bytes that an allocation on ``device`` can still use, or None if unknown.

    CUDA: the free device memory. CPU: the available memory according to
    psutil when it is installed (it counts reclaimable caches), else the
    physical memory of a POSIX system (a bound that only rules out
    allocations that could never fit), else None.
    """
    if device.type == "cuda":
        import torch

        return torch.cuda.mem_get_info(device)[0]
    try:
        import psutil
    except ImportError:
        pass
    else:
        return psutil.virtual_memory().available
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def format_bytes(n_bytes):
    """``n_bytes`` in the largest binary unit that keeps the value >= 1, e.g. ``"2.3 GiB"``.

    Examples
    --------
    >>> from sklearn_ksm._validation import format_bytes
    >>> format_bytes(2.5 * 2**30), format_bytes(512)
    ('2.5 GiB', '512 B')
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n_bytes < 1024 or unit == "TiB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1024
