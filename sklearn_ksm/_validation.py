"""Parameter constraints that scikit-learn's validation does not provide."""

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
