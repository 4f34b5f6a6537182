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
