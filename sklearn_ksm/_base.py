"""Plumbing shared by the package's Hebbian network estimators.

:class:`NetworkEstimatorMixin` turns a network described by a few hooks into
a scikit-learn transformer with ``fit`` (cold start, shuffled epochs,
schedule, early stopping), ``partial_fit`` (continue on a stream, rows in
order), batched ``transform``, device handling, and transactional updates
(an exception leaves the previous fitted state; a divergence leaves the last
finite state). The network's synapses are a tuple of tensors during training
and numpy arrays (fitted attributes) between calls.

A subclass sets ``_state_attributes`` (names of the fitted arrays, in the
order of its state tuple) and implements:

- ``_configure(X)``: set fitted configuration (e.g. the resolved kernel) on a
  cold start;
- ``_initial_state(X, device, generator)``: the synapses before training;
- ``_step_function(step_offset)``: ``step(state, X_batch, rates) -> (state, objective)``
  (``step_offset``: steps the estimator has already run);
- ``_fit_schedule(n_samples)``: ``(Schedule, PlateauMonitor or None)`` for fit;
- ``_stream_schedule(previous)``: the ``Schedule`` of ``partial_fit``
  (``previous``: the counters of the network it continues, or None);
- ``_respond(state, X_block)``: the network output for a block of rows;
- optionally ``_prepare_response(state)``: work shared by all the blocks of
  one transform (e.g. a factorisation), passed to ``_respond`` as its state.

It must have the parameters ``batch_size``, ``max_iter``, ``device``,
``random_state`` and ``verbose``.
"""

import sys
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._device import array_namespace, host_array, numpy_dtype, resolve_device, to_numpy, to_tensor
from ._doc_link import DocLinkMixin
from ._solver import TrainingDivergedError, tensors_of, train
from ._threads import thread_policy

FLOAT_DTYPES = [np.float64, np.float32]

# Rows per block in transform: memory is O(block x n_components) whatever the
# number of rows, and blocks are large enough to keep the device busy.
TRANSFORM_BLOCK = 4096
# Training histories keep at most this many entries: beyond it, the older
# half is thinned to every other entry, so an unbounded stream of
# partial_fit calls costs bounded memory and O(1) amortised time per step.
HISTORY_MAX = 10_000


def _append_history(values, steps, new_values, new_steps):
    """``values``/``steps`` extended by the new entries, thinned to at most ``HISTORY_MAX``."""
    values = np.concatenate([values, new_values])
    steps = np.concatenate([steps, new_steps]).astype(np.int64)
    while len(values) > HISTORY_MAX:
        half = len(values) // 2
        keep = np.r_[np.arange(0, half, 2), np.arange(half, len(values))]
        values, steps = values[keep], steps[keep]
    return values, steps


def _same(a, b):
    """Parameter equality that also holds for arrays (e.g. ``init``)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


# fit, partial_fit and transform run under the package's thread policy, sized
# by the order of the lateral weights (N x N)
_by_network_size = thread_policy(lambda estimator, X: estimator.n_components)


def _major(version):
    """The major version of ``"X.Y.Z"``: pickles load across minor versions."""
    return str(version).split(".")[0]


def _is_dask_array(X):
    # not imported here: an input can only be a Dask array once dask is loaded
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and isinstance(X, dask_array.Array)


def _transform_block(block, estimator):
    """One block of a Dask transform (NumPy in, NumPy out; no set_output wrapping)."""
    return estimator._transform_network(block)


class NetworkEstimatorMixin(DocLinkMixin):
    """fit / partial_fit / transform for networks trained by minibatch steps."""

    _state_attributes = ()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Inputs of any array API namespace (torch tensors on any device);
        # outputs in the input's namespace and on its device. Fitted
        # attributes stay NumPy (picklable on any machine), unlike
        # scikit-learn's convention of following the input's namespace.
        tags.array_api_support = True
        return tags

    # ---------------------------------------------------------- persistence

    def __getstate__(self):
        # BaseEstimator's records scikit-learn's version; add the package's.
        from . import __version__

        return dict(super().__getstate__(), _sklearn_ksm_version=__version__)

    def __setstate__(self, state):
        from . import __version__

        state = dict(state)
        saved = state.pop("_sklearn_ksm_version", None)
        if saved is not None and _major(saved) != _major(__version__):
            raise ValueError(
                f"This {type(self).__name__} was pickled by sklearn-ksm {saved}, whose fitted "
                f"attributes are incompatible with the installed sklearn-ksm {__version__} "
                f"(major versions differ). Load it with sklearn-ksm {_major(saved)}.x and refit, "
                "or refit with this version."
            )
        super().__setstate__(state)

    # ------------------------------------------------------------ training

    @_by_network_size
    def _fit_network(self, X):
        with self._transaction():
            X = validate_data(self, host_array(X), dtype=FLOAT_DTYPES, reset=True)
            self.__dict__.pop("_stream_start", None)  # a stream's first rows (partial_fit)
            self._configure(X)
            device = resolve_device(self.device)
            generator = self._generator()
            state = self._initial_state(X, device, generator)
            schedule, monitor = self._fit_schedule(X.shape[0])
            result = self._run(
                X, state, device, previous=None, max_epochs=self.max_iter,
                schedule=schedule, generator=generator, monitor=monitor,
            )  # fmt: skip
            self._finish_fit(X, device, result)
        return self

    def _finish_fit(self, X, device, result):
        """Hook run at the end of ``fit`` (not ``partial_fit``); no-op here."""

    @_by_network_size
    def _partial_fit_network(self, X):
        first_call = not hasattr(self, self._state_attributes[0])
        with self._transaction():
            X = validate_data(self, host_array(X), dtype=FLOAT_DTYPES, reset=first_call)
            if not first_call:
                self._check_structure()
                X = X.astype(self._fitted_dtype(), copy=False)
            calls = 0 if first_call else self.n_iter_
            X, start = self._stream_rows(X, first_call)
            if start:
                self._configure(X)
                device = resolve_device(self.device)
                state = self._initial_state(X, device, self._generator())
                previous = None
            else:
                device = resolve_device(self.device, fallback=True)
                state = self._fitted_state(device, X.dtype)
                previous = self._counters()
            self._run(
                X, state, device, previous=previous, max_epochs=1,
                schedule=self._stream_schedule(previous), generator=None, monitor=None,
            )  # fmt: skip
            self.n_iter_ = calls + 1  # partial_fit calls, restarts included
            self._finish_partial_fit(X, device)
        return self

    def _finish_partial_fit(self, X, device):
        """Hook run at the end of ``partial_fit``; no-op here."""

    def _stream_start_rows(self):
        """Rows a stream's initial state needs (see :meth:`_stream_rows`); 0: none."""
        return 0

    def _stream_rows(self, X, first_call):
        """The rows ``partial_fit`` trains on, and whether it starts the network on them.

        An initial state fitted to the first rows of a stream is only as good
        as those rows: landmarks seeded from one row are all that row, and
        gains and lateral weights fitted to it are absurd. So while a stream
        has delivered fewer than :meth:`_stream_start_rows` rows, they are
        kept, and each time their number has doubled since the last start
        the network starts again from all of them, as one call on them
        would: it is then the network that one call on those first rows
        and the same calls after them give. (At most twice those rows are
        trained on again in all.)
        """
        needed = self._stream_start_rows()
        kept = self.__dict__.pop("_stream_start", None)
        if first_call:  # kept as a copy: a stream may refill the caller's array
            rows, size, start = np.array(X, copy=True) if len(X) < needed else X, 0, True
        elif kept is None:
            return X, False
        else:
            rows, size = np.concatenate([kept[0], X]), kept[1]
            start = len(rows) >= min(2 * size, needed)
        if len(rows) < needed:
            self._stream_start = (rows, len(rows) if start else size)
        return (rows if start else X), start

    def _check_structure(self):
        """Raise if a parameter that shapes the fitted state changed since it was made.

        ``partial_fit`` continues the fitted network; after ``set_params``
        that changes its structure (e.g. ``n_components`` or the kernel) it
        cannot, as scikit-learn's ``IncrementalPCA`` refuses a changed
        ``n_components``.
        """
        fitted = getattr(self, "_structure", None)
        if fitted is None:
            return
        # the parameters' attributes, without get_params' signature inspection
        # (a third of a one-row call's overhead)
        params = {name: getattr(self, name) for name in fitted}
        changed = [name for name, value in fitted.items() if not _same(params[name], value)]
        if changed:
            listing = ", ".join(f"{name}={params[name]!r} (fitted with {fitted[name]!r})"
                                for name in changed)  # fmt: skip
            raise ValueError(
                f"partial_fit cannot continue this {type(self).__name__}: {listing} changed "
                "since it was fitted. Call fit to start a new network with these parameters, "
                "or set them back."
            )

    # parameters recorded at initialisation and checked by partial_fit
    _structural_parameters = ()

    def _record_structure(self):
        self._structure = {name: getattr(self, name) for name in self._structural_parameters}

    def _run(self, X, state, device, *, previous, **loop_options):
        offset = previous["n_steps_"] if previous is not None else 0
        # what the transaction restores if nothing of this call is kept
        kept_before = "the previous fit" if hasattr(self, self._state_attributes[0]) else (
            "no fitted state")  # fmt: skip
        try:
            result = train(
                self._step_function(), state, to_tensor(X, device),
                batch_size=self.batch_size, step_offset=offset, verbose=self.verbose,
                name=type(self).__name__,
                diagnose=self._diagnostic(X, previous, stream=loop_options["generator"] is None),
                inspect=self._inspector(X), **loop_options,
            )  # fmt: skip
        except TrainingDivergedError as error:
            message = self._explain_divergence(error, X)
            if error.result.n_steps == 0:
                # no sane state was checked: the transaction restores the
                # model as it was before this call (also before a refit)
                raise TrainingDivergedError(
                    f"{message} No step passed a check, so the estimator keeps {kept_before}.",
                    error.step,
                    error.result,
                    error.reason,
                ) from None
            # Keep the last sane state (it transforms), unless its output is
            # no approximation at all; then, as above, the transaction restores.
            self._publish(error.result, previous)
            useless = self._useless_output(X)
            if useless is not None:
                raise TrainingDivergedError(
                    f"{message} The last state that passed the checks (step "
                    f"{offset + error.result.n_steps}) is useless ({useless}), so the "
                    f"estimator keeps {kept_before}.",
                    error.step,
                    error.result._replace(n_steps=0),
                    error.reason,
                ) from None
            raise TrainingDivergedError(
                f"{message} The estimator keeps its last sane state, from step "
                f"{offset + error.result.n_steps}.",
                error.step,
                error.result,
                error.reason,
            ) from None
        self._publish(result, previous)
        return result

    def _explain_divergence(self, error, X):
        """The message of a divergence; estimators may name likelier causes."""
        return str(error)

    def _useless_output(self, X):
        """Why the published state's output is useless (a string), or None."""
        return None

    def _inspector(self, X):
        """``inspect(state) -> str or None``, a sanity check at every check; or None."""
        return None

    def _diagnostic(self, X, previous, stream=False):
        """``diagnose(state, step, final) -> float or None`` at every check of training
        and at its end (``final``), or None; ``stream``: a ``partial_fit`` call."""
        return None

    # fitted attributes of the diagnostic and of its step numbers
    _diagnostic_attributes = ()

    def _counters(self):
        names = ("n_iter_", "n_steps_", "n_samples_seen_", "objective_history_",
                 "objective_steps_")  # fmt: skip
        return {name: getattr(self, name) for name in names + self._diagnostic_attributes}

    def _state_arrays(self, state):
        """The fitted attributes of a training state, by name (numpy)."""
        return dict(zip(self._state_attributes, (to_numpy(t) for t in state), strict=True))

    def _publish(self, result, previous):
        """Store a training result as the fitted numpy attributes, all at once.

        ``previous`` holds the counters of the model continued by
        ``partial_fit`` (extended here), or is None for a cold start. The
        histories are bounded (:data:`HISTORY_MAX`) however long the stream.
        """
        offset = previous["n_steps_"] if previous is not None else 0
        steps = offset + np.arange(1, len(result.objective) + 1)
        counters = {
            "n_iter_": result.n_epochs,
            "n_steps_": result.n_steps,
            "n_samples_seen_": result.n_samples,
        }
        histories = {"objective": (result.objective, steps)}
        if self._diagnostic_attributes:
            histories["diagnostic"] = (result.diagnostic, result.diagnostic_steps)
        if previous is not None:
            counters["n_iter_"] = previous["n_iter_"] + 1
            counters["n_steps_"] += previous["n_steps_"]
            counters["n_samples_seen_"] += previous["n_samples_seen_"]
            old = {"objective": ("objective_history_", "objective_steps_")}
            if self._diagnostic_attributes:
                old["diagnostic"] = self._diagnostic_attributes
            for key, (values_name, steps_name) in old.items():
                histories[key] = _append_history(
                    previous[values_name], previous[steps_name], *histories[key]
                )
        else:
            histories = {key: _append_history(np.zeros(0), np.zeros(0), *value)
                         for key, value in histories.items()}  # fmt: skip
        counters["objective_history_"], counters["objective_steps_"] = histories["objective"]
        if self._diagnostic_attributes:
            values, steps = self._diagnostic_attributes
            counters[values], counters[steps] = histories["diagnostic"]
        self.__dict__.update(self._state_arrays(result.state))
        self.__dict__.update(counters)

    @contextmanager
    def _transaction(self):
        """Restore every attribute if the body raises (bad input, interrupt).

        A divergence after a sane step is the exception: it deliberately
        stores the last sane state before raising.
        """
        saved = self.__dict__.copy()
        try:
            yield
        except TrainingDivergedError as error:
            if error.result is not None and error.result.n_steps > 0:
                raise
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _generator(self):
        """A local torch generator seeded from ``random_state`` (no global state)."""
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return torch.Generator().manual_seed(int(seed))

    def _fitted_dtype(self):
        return getattr(self, self._state_attributes[0]).dtype

    # state attributes kept in float64 whatever the dtype of X
    _float64_attributes = ()

    def _fitted_state(self, device, dtype):
        return tuple(
            to_tensor(
                np.asarray(
                    getattr(self, name),
                    dtype=np.float64 if name in self._float64_attributes else dtype,
                ),
                device,
            )
            for name in self._state_attributes
        )

    # ----------------------------------------------------------- predicting

    def _transform_network(self, X):
        """Validate ``X`` and respond, returning the output in the input's kind.

        With scikit-learn's array API dispatch on, a torch tensor is read
        where it lies and the output is a tensor on the same device (no host
        copy); other namespaces go through NumPy and come back converted.
        Otherwise the output is a NumPy array, in the float dtype of ``X``.
        """
        check_is_fitted(self)
        if _is_dask_array(X):
            return self._transform_dask(X)
        namespace = array_namespace(X)
        if namespace is not None and isinstance(X, torch.Tensor):
            xp = namespace[0]
            X = validate_data(self, X.detach(), dtype=[xp.float64, xp.float32], reset=False)
            return self._transform_validated(X)
        X = validate_data(self, host_array(X), dtype=FLOAT_DTYPES, reset=False)
        Y = self._transform_validated(X)
        if namespace is not None:
            xp, device = namespace
            return xp.asarray(Y, device=device)
        return Y

    def _transform_dask(self, X):
        """A lazy Dask array of the output, with its true shape, chunks and dtype.

        Each block of rows is transformed where it lies when computed.
        (``dask_ml.wrappers.ParallelPostFit.transform`` cannot do this: it
        declares the output's chunks equal to the input's.)
        """
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has shape {X.shape}, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        dtype = X.dtype if X.dtype in FLOAT_DTYPES else np.dtype(np.float64)
        X = X.rechunk({1: -1})  # every block holds whole rows
        n_out = self._n_features_out
        return X.map_blocks(
            _transform_block, self, dtype=dtype, chunks=(X.chunks[0], (n_out,)),
            meta=np.empty((0, n_out), dtype=dtype),
        )  # fmt: skip

    def _prepare_response(self, state):
        return state

    @_by_network_size
    def _transform_validated(self, X):
        """The network output for validated rows: a NumPy array, or a tensor for a tensor.

        A tensor is computed on its own device, whatever ``device`` says
        (with array API dispatch, computation follows the data).
        """
        tensor_input = isinstance(X, torch.Tensor)
        if tensor_input:
            device, dtype = X.device, numpy_dtype(X.dtype)
            Y = torch.empty((X.shape[0], self._n_features_out), dtype=X.dtype, device=device)
        else:
            device, dtype = resolve_device(self.device, fallback=True), X.dtype
            Y = np.empty((X.shape[0], self._n_features_out), dtype=X.dtype)
        state = self._prepare_response(self._fitted_state(device, dtype))
        if not all(bool(torch.isfinite(t).all()) for t in tensors_of(state)):
            # e.g. lateral weights indefinite beyond rounding (a NaN response operator)
            raise ValueError(
                f"This {type(self).__name__} cannot respond: its lateral weights are not "
                "finite or not positive semi-definite (beyond rounding), so the network has "
                "no steady state. Refit it, e.g. with smaller learning rates or standardised "
                "inputs."
            )
        finite = True
        for start in range(0, X.shape[0], TRANSFORM_BLOCK):
            rows = X[start : start + TRANSFORM_BLOCK]
            block = self._respond(state, rows if tensor_input else to_tensor(rows, device))
            # checked per block: a whole-output isfinite would cost n x N bytes
            finite = finite and bool(torch.isfinite(block).all())
            Y[start : start + TRANSFORM_BLOCK] = block if tensor_input else block.cpu().numpy()
        if not finite:
            largest = float(abs(X).max())
            raise ValueError(
                "The network output is not finite: the inputs are out of the range "
                f"this model can represent in {dtype} (largest |x| = "
                f"{largest:.3g}). Rescale the inputs or use float64."
            )
        return Y
