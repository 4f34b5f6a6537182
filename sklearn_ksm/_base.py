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
- ``_stream_schedule()``: the ``Schedule`` of ``partial_fit``;
- ``_respond(state, X_block)``: the network output for a block of rows;
- optionally ``_prepare_response(state)``: work shared by all the blocks of
  one transform (e.g. a factorisation), passed to ``_respond`` as its state.

It must have the parameters ``batch_size``, ``max_iter``, ``device``,
``random_state`` and ``verbose``.
"""

from contextlib import contextmanager

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._device import resolve_device, to_numpy, to_tensor
from ._solver import TrainingDivergedError, train
from ._threads import thread_policy

FLOAT_DTYPES = [np.float64, np.float32]

# Rows per block in transform: memory is O(block x n_components) whatever the
# number of rows, and blocks are large enough to keep the device busy.
TRANSFORM_BLOCK = 4096

# fit, partial_fit and transform run under the package's thread policy, sized
# by the order of the lateral weights (N x N)
_by_network_size = thread_policy(lambda estimator, X: estimator.n_components)


def _major(version):
    """The major version of ``"X.Y.Z"``: pickles load across minor versions."""
    return str(version).split(".")[0]


class NetworkEstimatorMixin:
    """fit / partial_fit / transform for networks trained by minibatch steps."""

    _state_attributes = ()

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
            X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=True)
            self._configure(X)
            device = resolve_device(self.device)
            generator = self._generator()
            state = self._initial_state(X, device, generator)
            schedule, monitor = self._fit_schedule(X.shape[0])
            self._run(
                X, state, device, previous=None, max_epochs=self.max_iter,
                schedule=schedule, generator=generator, monitor=monitor,
            )  # fmt: skip
            self._finish_fit(X, device)
        return self

    def _finish_fit(self, X, device):
        """Hook run at the end of ``fit`` (not ``partial_fit``); no-op here."""

    @_by_network_size
    def _partial_fit_network(self, X):
        first_call = not hasattr(self, self._state_attributes[0])
        with self._transaction():
            X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=first_call)
            if first_call:
                self._configure(X)
                device = resolve_device(self.device)
                state = self._initial_state(X, device, self._generator())
                previous = None
            else:
                device = resolve_device(self.device, fallback=True)
                X = X.astype(self._fitted_dtype(), copy=False)
                state = self._fitted_state(device, X.dtype)
                previous = self._counters()
            self._run(
                X, state, device, previous=previous, max_epochs=1,
                schedule=self._stream_schedule(), generator=None, monitor=None,
            )  # fmt: skip
        return self

    def _run(self, X, state, device, *, previous, **loop_options):
        offset = previous["n_steps_"] if previous is not None else 0
        try:
            result = train(
                self._step_function(step_offset=offset), state, to_tensor(X, device),
                batch_size=self.batch_size, step_offset=offset, verbose=self.verbose,
                name=type(self).__name__, diagnose=self._diagnostic(), **loop_options,
            )  # fmt: skip
        except TrainingDivergedError as error:
            # Keep the last finite state (never NaNs), then report.
            self._publish(error.result, previous)
            raise
        self._publish(result, previous)

    def _diagnostic(self):
        """``diagnose(state)`` evaluated at every check of training, or None."""
        return None

    # fitted attributes of the diagnostic and of its step numbers
    _diagnostic_attributes = ()

    def _counters(self):
        names = ("n_iter_", "n_steps_", "n_samples_seen_", "objective_history_")
        return {name: getattr(self, name) for name in names + self._diagnostic_attributes}

    def _publish(self, result, previous):
        """Store a training result as the fitted numpy attributes, all at once.

        ``previous`` holds the counters of the model continued by
        ``partial_fit`` (extended here), or is None for a cold start.
        """
        arrays = [to_numpy(t) for t in result.state]
        counters = {
            "n_iter_": result.n_epochs,
            "n_steps_": result.n_steps,
            "n_samples_seen_": result.n_samples,
            "objective_history_": result.objective,
        }
        if self._diagnostic_attributes:
            values, steps = self._diagnostic_attributes
            counters[values], counters[steps] = result.diagnostic, result.diagnostic_steps
        if previous is not None:
            counters["n_iter_"] = previous["n_iter_"] + 1
            counters["n_steps_"] += previous["n_steps_"]
            counters["n_samples_seen_"] += previous["n_samples_seen_"]
            for name in ("objective_history_", *self._diagnostic_attributes):
                counters[name] = np.concatenate([previous[name], counters[name]])
        self.__dict__.update(zip(self._state_attributes, arrays, strict=True))
        self.__dict__.update(counters)

    @contextmanager
    def _transaction(self):
        """Restore every attribute if the body raises (bad input, interrupt).

        A divergence is the exception: it deliberately stores the last finite
        state before raising.
        """
        saved = self.__dict__.copy()
        try:
            yield
        except TrainingDivergedError:
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
        check_is_fitted(self)
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=False)
        return self._transform_validated(X)

    def _prepare_response(self, state):
        return state

    @_by_network_size
    def _transform_validated(self, X):
        device = resolve_device(self.device, fallback=True)
        state = self._prepare_response(self._fitted_state(device, X.dtype))
        Y = np.empty((X.shape[0], self._n_features_out), dtype=X.dtype)
        finite = True
        for start in range(0, X.shape[0], TRANSFORM_BLOCK):
            block = self._respond(state, to_tensor(X[start : start + TRANSFORM_BLOCK], device))
            # checked per block: a whole-output isfinite would cost n x N bytes
            finite = finite and bool(torch.isfinite(block).all())
            Y[start : start + TRANSFORM_BLOCK] = block.cpu().numpy()
        if not finite:
            raise ValueError(
                "The network output is not finite: the inputs are out of the range "
                f"this model can represent in {X.dtype} (largest |x| = "
                f"{np.abs(X).max():.3g}). Rescale the inputs or use float64."
            )
        return Y
