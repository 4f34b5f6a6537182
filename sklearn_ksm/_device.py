"""Device resolution and numpy <-> torch conversion."""

import warnings

import numpy as np
import torch


def resolve_device(device, *, fallback=False):
    """Turn the estimator's ``device`` parameter into a ``torch.device``.

    Parameters
    ----------
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:<index>"``.
    fallback : bool
        If True (used when predicting with an already fitted model, e.g. one
        fitted on a GPU machine and loaded on a CPU-only one), an unavailable
        CUDA device falls back to the CPU with a warning instead of raising.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"Invalid device {device!r}; expected 'auto', 'cpu', 'cuda' or 'cuda:<index>'."
        ) from exc
    if resolved.type == "cpu":
        return resolved
    if resolved.type != "cuda":
        raise ValueError(
            f"Unsupported device {device!r}; expected 'auto', 'cpu', 'cuda' or 'cuda:<index>'."
        )
    available = torch.cuda.is_available() and (
        resolved.index is None or resolved.index < torch.cuda.device_count()
    )
    if available:
        return resolved
    message = f"device={device!r} was requested but that CUDA device is not available"
    if fallback:
        warnings.warn(f"{message}; using the CPU instead.", RuntimeWarning, stacklevel=3)
        return torch.device("cpu")
    raise ValueError(f"{message}. Use device='auto' or device='cpu'.")


def to_tensor(array, device, dtype=None):
    """A torch view of a numpy array (no copy on the CPU when possible).

    Read-only arrays (e.g. memory maps from joblib) are shared rather than
    copied; nothing here writes to them.
    """
    if dtype is not None:
        array = np.asarray(array, dtype=dtype)
    if any(stride < 0 for stride in array.strides):
        array = np.ascontiguousarray(array)  # torch cannot view negative strides
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        tensor = torch.from_numpy(array)
    return tensor.to(device)


def to_numpy(tensor):
    """A numpy copy of a tensor, on the host."""
    return tensor.detach().cpu().numpy().copy()


# ------------------------------------------------- inputs from other libraries
#
# scikit-learn's array API dispatch (``sklearn.set_config(array_api_dispatch=True)``)
# asks estimators to return outputs in the namespace and on the device of
# their input. The networks compute in torch, so a torch tensor is used where
# it lies; inputs of other namespaces (CuPy, array-api-strict) go through
# NumPy. Fitted attributes stay NumPy arrays whatever the input (see
# ``NetworkEstimatorMixin``). scikit-learn has no public API for namespaces:
# its private helpers are used here only.


def array_namespace(X):
    """``(xp, device)`` of ``X`` when array API dispatch is on and ``X`` is not NumPy.

    Returns None when dispatch is off (scikit-learn's default: every input is
    read as NumPy and outputs are NumPy) and for NumPy arrays, lists and
    DataFrames.
    """
    from sklearn.utils._array_api import _is_numpy_namespace, get_namespace_and_device

    xp, is_array_api, device = get_namespace_and_device(X)
    if not is_array_api or _is_numpy_namespace(xp):
        return None
    return xp, device


def host_array(X):
    """``X`` readable by NumPy without a copy where possible.

    A torch tensor is detached (inputs carrying ``requires_grad`` are read,
    never differentiated) and brought to the CPU: a view of its memory when it
    is there already, so float32 stays float32. With array API dispatch on,
    arrays of other namespaces are converted to NumPy. Anything else (NumPy
    arrays, lists, DataFrames) is returned as it is, for ``validate_data``.
    """
    if isinstance(X, torch.Tensor):
        if X.dtype == torch.bfloat16:
            # NumPy has no bfloat16; scikit-learn reads other floats it does
            # not preserve (float16) as float64.
            X = X.to(torch.float64)
        return X.numpy(force=True)  # detach, cpu, resolve conjugate/negative views
    namespace = array_namespace(X)
    if namespace is not None:
        from sklearn.utils._array_api import _convert_to_numpy

        return _convert_to_numpy(X, namespace[0])
    return X


def numpy_dtype(dtype):
    """The NumPy dtype of a torch dtype (e.g. ``torch.float32 -> float32``)."""
    return torch.empty(0, dtype=dtype).numpy().dtype
