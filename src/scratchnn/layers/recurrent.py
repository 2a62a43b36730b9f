"""Recurrent layers: SimpleRNN, LSTM and GRU, the loop over time and its backward (BPTT).

Each layer runs one cell (:mod:`scratchnn.layers.recurrent_cells`) over the time axis of
``x: (N, T, F)``. The input products of every step are one matrix product before the loop
(``x W + b_in: (N, T, G u)``), so the loop does only what must be sequential: ``h_{t-1} U`` and the
cell's element-wise gates. Backpropagation through time runs the same loop backwards, carrying
``dL/dh`` (and ``dL/dc``) from step ``t`` to step ``t - 1``, and ends with one product each for
``dL/dW``, ``dL/dU`` and ``dL/dx`` over all steps::

    dL/dW = sum_t x_t^T dL/d(xw_t)       (F, G u)
    dL/dU = sum_t h_{t-1}^T dL/d(hu_t)   (u, G u)
    dL/dx_t = dL/d(xw_t) W^T             (N, F)
    dL/dh_{t-1} = dL/d(hu_t) U^T + (the cell's direct part)

For speed (the LSTM benchmark, ``benchmarks/bench_rnn.py``): the cell keeps what backward needs
on a tape (:meth:`~scratchnn.layers.recurrent_cells.Steps.tape`; the fused LSTM's is ``(T, N, .)``
arrays, and its step adds ``b_in`` as it reads ``x_t W``, in the same order), training reuses
its large arrays from batch to batch (fresh ones cost a page fault every 4 KB), and the
backward's per-step product uses a contiguous copy of ``U^T``. None of this changes a bit.

Initial states are extra inputs: a layer called on a list, ``LSTM(8)([x, h0, c0])``, takes them
(``takes_list`` becomes ``True`` at that first call, and every later call must pass the same
list); called on one tensor it starts from zeros. See ``docs/how/recurrent.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_number, check_positive_int, describe
from ..activations import get_activation
from ..initializers import get_initializer, initializer_config
from ..regularizers import get_regularizer
from .base import Layer, Weight, format_shape
from .dense import _named_or_object
from .recurrent_cells import GRUCell, GRUResetBeforeCell, LSTMCell, SimpleRNNCell


def _config_of(thing: Any) -> Any:
    return None if thing is None else thing.get_config()


class _Recurrent(Layer):
    """The loop over time every recurrent layer shares; subclasses choose the cell."""

    def _set_recurrent_settings(
        self,
        units: int,
        use_bias: bool,
        kernel_initializer: Any,
        recurrent_initializer: Any,
        bias_initializer: Any,
        kernel_regularizer: Any,
        recurrent_regularizer: Any,
        bias_regularizer: Any,
        dropout: float,
        recurrent_dropout: float,
        return_sequences: bool,
        return_state: bool,
        go_backwards: bool,
        input_shape: Any,
    ) -> None:
        """Check and keep the settings every recurrent layer takes (a bad one fails here)."""
        super().__init__(None, None)
        if input_shape is not None:  # the time axis may be open (None)
            self.input_shape = tuple(None if s is None else int(s) for s in input_shape)
        self.units = check_positive_int(units, "units")
        flags = {"use_bias": use_bias, "return_sequences": return_sequences,
                 "return_state": return_state, "go_backwards": go_backwards}  # fmt: skip
        for flag, value in flags.items():
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be True or False, got {describe(value)}")
        self.use_bias, self.return_sequences = use_bias, return_sequences
        self.return_state, self.go_backwards = return_state, go_backwards
        self.kernel_initializer = _named_or_object(kernel_initializer)
        self.recurrent_initializer = _named_or_object(recurrent_initializer)
        self.bias_initializer = _named_or_object(bias_initializer)
        self.kernel_regularizer = get_regularizer(kernel_regularizer)
        self.recurrent_regularizer = get_regularizer(recurrent_regularizer)
        self.bias_regularizer = get_regularizer(bias_regularizer)
        self.dropout = check_number(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        self.recurrent_dropout = check_number(
            recurrent_dropout, "recurrent_dropout", low=0.0, high=1.0, high_inclusive=False
        )

    # -- work arrays ----------------------------------------------------------------------------
    MAX_WORKSPACES = 32  # more shapes than this: drop the old arrays and start over

    def _array(self, name: str, shape: tuple[int, ...], dtype: Any, buffers: Any) -> np.ndarray:
        """An uninitialised array; in training (``buffers``: a dict) one reused by every batch
        of that shape.

        A sequence's record is tens of MB (``(T, N, 4u)`` gates, ``dL/d(xw)``): fresh arrays
        each batch would cost the page faults of that much new memory. The dict travels in the
        training record, so a graph that calls the layer twice keeps one per call.
        """
        if buffers is None:
            return np.empty(shape, dtype)
        key = (name, shape, np.dtype(dtype))
        buffer = buffers.get(key)
        if buffer is None:
            if len(buffers) > self.MAX_WORKSPACES:
                buffers.clear()
            buffer = buffers[key] = np.empty(shape, dtype)
        return buffer

    # -- shapes and weights ---------------------------------------------------------------------
    def __call__(self, inputs: Any) -> Any:
        """On a tensor: start from zero states; on ``[x, h0]`` (``[x, h0, c0]``): from those."""
        if not self.calls:
            self.takes_list = isinstance(inputs, (list, tuple)) and len(inputs) > 1
        return super().__call__(inputs)

    def build(self, input_shape: Any, rng: Any = None, dtype: type = np.float32) -> None:
        """As :meth:`Layer.build`; a list of shapes (``[x, h0, ...]``) means initial states."""
        if isinstance(input_shape, list) and all(isinstance(s, (list, tuple)) for s in input_shape):
            self.takes_list = len(input_shape) > 1
            if not self.takes_list:
                input_shape = input_shape[0]
        super().build(input_shape, rng, dtype)

    def _sequence_shape(self, input_shape: Any) -> tuple:
        """The shape of ``x`` (checked), from ``input_shape`` or ``[x, states...]``'s shapes."""
        if self.takes_list:
            shapes = [tuple(s) for s in input_shape]
            expected = 1 + self.cell.n_states
            if len(shapes) != expected:
                raise ValueError(
                    f"{type(self).__name__} takes x and {self.cell.n_states} initial state(s), "
                    f"{expected} inputs, got {len(shapes)}"
                )
            for index, shape in enumerate(shapes[1:], start=1):
                if shape != (self.units,):
                    raise ValueError(
                        f"initial state {index} must have shape {format_shape((self.units,))}, "
                        f"got {format_shape(shape)}"
                    )
            input_shape = shapes[0]
        shape = tuple(input_shape)
        if len(shape) != 2 or shape[1] is None:
            raise ValueError(
                f"{type(self).__name__} takes sequences of shape (batch, time, features) with "
                f"the features' size known, got inputs of shape {format_shape(shape)}"
            )
        return shape

    def output_shape(self, input_shape: Any) -> Any:
        steps, _ = self._sequence_shape(input_shape)
        output = (steps, self.units) if self.return_sequences else (self.units,)
        if self.return_state:
            return [output] + [(self.units,)] * self.cell.n_states
        return output

    def working_memory(self, input_shape: Any, itemsize: int) -> int:
        """Bytes per row in inference: ``x``, every step's ``x W`` (``T G u``), a returned
        sequence and a few states per step (so ``predict`` cuts long inputs into batches that
        fit: ``x W`` alone is 25,600 numbers a row for 50 steps of an LSTM(128))."""
        steps, features = self._sequence_shape(input_shape)
        steps = 1 if steps is None else steps
        width = self.cell.n_gates * self.units
        sequence = self.units if self.return_sequences else 0
        return (steps * (features + width + sequence) + 3 * width + 8 * self.units) * itemsize

    def weights_for(self, input_shape: Any) -> list[Weight]:
        """``W (in, G u)``, ``U (u, G u)`` and, with ``use_bias``, ``b`` (the cell's shape)."""
        features = self._sequence_shape(input_shape)[1]
        width = self.cell.n_gates * self.units
        weights = [
            Weight("W", (features, width), get_initializer(self.kernel_initializer),
                   self.kernel_regularizer, kernel=True),
            Weight("U", (self.units, width), get_initializer(self.recurrent_initializer),
                   self.recurrent_regularizer, kernel=True),
        ]  # fmt: skip
        if self.use_bias:
            init = self.cell.bias_initializer(get_initializer(self.bias_initializer))
            weights.append(Weight("b", self.cell.bias_shape(), init, self.bias_regularizer))
        return weights

    # -- the loop over time ---------------------------------------------------------------------
    def _dropout_mask(self, rate: float, shape: tuple[int, int], dtype: Any) -> np.ndarray | None:
        """Inverted dropout, one mask per sequence (the same at every step, as in Keras)."""
        if rate == 0.0:
            return None
        keep = self.rng.random(shape) >= rate
        return keep.astype(dtype) / dtype.type(1.0 - rate)

    uses_mask = True

    def compute_mask(self, inputs: Any, mask: Any) -> Any:
        """A sequence out keeps the input's mask; the last state (and the states) have no steps."""
        steps = mask[0] if isinstance(mask, list) else mask
        out = steps if self.return_sequences else None
        return [out] + [None] * self.cell.n_states if self.return_state else out

    def forward(self, inputs: Any, training: bool = False, mask: Any = None) -> Any:
        """Run the cell over time; returns the last ``h`` (``(N, u)``) or every ``h``
        (``(N, T, u)``, with ``return_sequences``), then the final states with ``return_state``.

        ``mask`` ``(N, T)`` (from ``Embedding(mask_zero=True)``): at a padded step (``False``)
        the states pass through unchanged, ``s_t = s_{t-1}``, and a returned sequence repeats
        the last real output there (Keras's rule); its backward sends the gradient straight
        through to ``s_{t-1}``, so padding adds nothing to any gradient.
        """
        if isinstance(mask, list):
            mask = mask[0]
        x, initial = (inputs[0], list(inputs[1:])) if self.takes_list else (inputs, [])
        if not training and len(x) > self.INFERENCE_ROWS:
            return self._forward_in_blocks(x, initial, mask)
        W, U = self.params["W"], self.params["U"]
        b_in, b_rec = self.cell.split_bias(self.params.get("b"))
        dtype = W.dtype
        batch, steps, features = x.shape
        states = [np.asarray(s, dtype=dtype) for s in initial] or [
            np.zeros((batch, self.units), dtype) for _ in range(self.cell.n_states)
        ]
        input_mask = (
            self._dropout_mask(self.dropout, (batch, features), dtype) if training else None
        )
        state_mask = (
            self._dropout_mask(self.recurrent_dropout, (batch, self.units), dtype)
            if training else None
        )  # fmt: skip
        x_used = x if input_mask is None else x * input_mask[:, None, :]
        steps_real = None if mask is None else np.asarray(mask, dtype=bool)
        if self.go_backwards:
            x_used = x_used[:, ::-1]
            steps_real = None if steps_real is None else steps_real[:, ::-1]
        width = self.cell.n_gates * self.units

        previous = getattr(self, "_cache", None)
        buffers = (previous[-1] if previous is not None else {}) if training else None

        def array(name: str, shape: tuple[int, ...]) -> np.ndarray:
            return self._array(name, shape, dtype, buffers)

        # every step's input product at once: (N, T, G u)
        xw = np.matmul(x_used, W, out=array("xw", (batch, steps, width)))
        tape = self.cell.attach(
            self.cell.tape(batch, steps, dtype, training, array, b_in), U, state_mask
        )
        if b_in is not None and not self.cell.adds_input_bias():
            xw += b_in
        sequence = array("sequence", (batch, steps, self.units)) if self.return_sequences else None
        h_used_all = array("h_used", (steps, batch, self.units)) if training else None
        for t in range(steps):
            h_used = states[0] if state_mask is None else states[0] * state_mask
            hu = h_used @ U
            if b_rec is not None:
                hu += b_rec
            stepped = self.cell.run_step(xw, t, hu, states, tape)
            if steps_real is None:
                states = stepped
            else:  # a padded step keeps the states it was given
                real = steps_real[:, t, None]
                states = [
                    np.where(real, new, old) for new, old in zip(stepped, states, strict=True)
                ]
            if training:
                h_used_all[t] = h_used
            if sequence is not None:
                sequence[:, t] = states[0]
        if training:
            self._cache = (
                x_used, input_mask, state_mask, tape, h_used_all, len(initial), steps_real,
                buffers,
            )  # fmt: skip
        output = sequence if self.return_sequences else states[0]
        return [output, *states] if self.return_state else output

    INFERENCE_ROWS = 256  # inference over more rows runs in blocks of at most this many

    def _forward_in_blocks(self, x: np.ndarray, initial: list, mask: Any) -> Any:
        """Inference in blocks of rows (each row's arithmetic unchanged): ``x W`` for every
        step of thousands of rows is hundreds of MB, slow to allocate and out of cache, where
        a block's steps stay in cache. Blocks are of equal size, so none has a single row (a
        one-row product goes through another BLAS routine)."""
        count = -(-len(x) // self.INFERENCE_ROWS)
        size = -(-len(x) // count)
        parts = []
        for start in range(0, len(x), size):
            rows = slice(start, start + size)
            inputs = [x[rows], *[s[rows] for s in initial]] if self.takes_list else x[rows]
            parts.append(self.forward(inputs, False, None if mask is None else mask[rows]))
        if not self.return_state:
            return np.concatenate(parts)
        return [np.concatenate(arrays) for arrays in zip(*parts, strict=True)]

    def forward_step(self, x_t: np.ndarray, states: list | None = None) -> list:
        """One step of inference: input ``x_t (N, F)`` and the states before it (zeros when
        ``None``) give the states after it, ``[h_t]`` (``[h_t, c_t]`` for the LSTM), each
        ``(N, u)``: the same arithmetic as one step of :meth:`forward`, without dropout.

        Nothing is written on the layer: the caller keeps the states, so threads can step one
        layer with states of their own (``scratchnn.text.Stepper`` does, for generation).
        """
        W, U = self.params["W"], self.params["U"]
        b_in, b_rec = self.cell.split_bias(self.params.get("b"))
        if states is None:
            states = [np.zeros((len(x_t), self.units), W.dtype)] * self.cell.n_states
        xw = np.asarray(x_t, W.dtype) @ W
        hu = states[0] @ U
        if b_in is not None:
            xw += b_in
        if b_rec is not None:
            hu += b_rec
        tape = self.cell.attach(
            self.cell.tape(
                len(xw), 1, W.dtype, False, lambda name, shape: np.empty(shape, W.dtype)
            ),
            U,
            None,
        )
        return self.cell.run_step(xw[:, None], 0, hu, states, tape)  # xw as (N, T=1, G u)

    def backward(self, grad_output: Any) -> Any:
        """Backpropagation through time: fills ``grads`` and returns ``dL/dx`` (and
        ``dL/d(initial states)`` for a layer given them)."""
        x_used, input_mask, state_mask, tape, h_used_all, n_initial, steps_real, buffers = (
            self._recorded()
        )
        batch, steps, _ = x_used.shape
        W, U = self.params["W"], self.params["U"]
        dtype = W.dtype
        grad_seq, grad_states = (
            (grad_output[0], list(grad_output[1:])) if self.return_state else (grad_output, [])
        )
        zero = np.zeros((batch, self.units), dtype)
        d_states = [zero if g is None else np.asarray(g, dtype) for g in grad_states] or [
            None
        ] * self.cell.n_states
        if not self.return_sequences and grad_seq is not None:
            d_states[0] = grad_seq if d_states[0] is None else d_states[0] + grad_seq
        width = self.cell.n_gates * self.units
        U_t = np.ascontiguousarray(U.T)  # a contiguous copy: the per-step products run faster
        d_xw = self._array("d_xw", (batch, steps, width), dtype, buffers)
        d_hu = self._array("d_hu", (steps, batch, width), dtype, buffers)
        for t in range(steps - 1, -1, -1):
            if self.return_sequences and grad_seq is not None:
                step_grad = grad_seq[:, t]
                d_states[0] = step_grad if d_states[0] is None else d_states[0] + step_grad
            d_states = [zero if d is None else d for d in d_states]
            d_prev = self.cell.run_step_backward(d_states, tape, t, d_xw, d_hu)
            if steps_real is not None:  # a padded step: its gradient passes straight through
                padded = ~steps_real[:, t]
                d_xw[padded, t] = 0.0
                d_hu[t][padded] = 0.0
            through_u = d_hu[t] @ U_t
            if state_mask is not None:
                through_u *= state_mask
            d_prev[0] = through_u if d_prev[0] is None else d_prev[0] + through_u
            if steps_real is not None:
                real = steps_real[:, t, None]
                d_prev = [
                    np.where(real, zero if dp is None else dp, carried)
                    for dp, carried in zip(d_prev, d_states, strict=True)
                ]
            d_states = d_prev
        flat_d_xw = d_xw.reshape(-1, width)
        np.matmul(x_used.reshape(-1, x_used.shape[-1]).T, flat_d_xw, out=self.grads["W"])
        np.matmul(h_used_all.reshape(-1, self.units).T, d_hu.reshape(-1, width),
                  out=self.grads["U"])  # fmt: skip
        self.cell.add_recurrent_grads(tape, d_xw, self.grads["U"])
        if self.use_bias:
            has_rec = self.cell.split_bias(self.params["b"])[1] is not None
            self.grads["b"][...] = self.cell.join_bias_grads(
                flat_d_xw.sum(axis=0), d_hu.reshape(-1, width).sum(axis=0) if has_rec else None
            )
        grad_x = None
        if self.needs_input_grad or n_initial:
            grad_x = d_xw @ np.ascontiguousarray(W.T)
            if self.go_backwards:
                grad_x = grad_x[:, ::-1]
            if input_mask is not None:
                grad_x *= input_mask[:, None, :]
        if n_initial:
            return [grad_x, *[zero if d is None else d for d in d_states]]
        return grad_x

    # -- description ----------------------------------------------------------------------------
    def _recurrent_config(self) -> dict[str, Any]:
        return {
            "use_bias": self.use_bias,
            "kernel_initializer": initializer_config(self.kernel_initializer),
            "recurrent_initializer": initializer_config(self.recurrent_initializer),
            "bias_initializer": initializer_config(self.bias_initializer),
            "kernel_regularizer": _config_of(self.kernel_regularizer),
            "recurrent_regularizer": _config_of(self.recurrent_regularizer),
            "bias_regularizer": _config_of(self.bias_regularizer),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            # with initial states the graph's call gives the shapes again
            "input_shape": None
            if self.input_shape is None or self.takes_list
            else list(self.input_shape),
        }

    def __repr__(self) -> str:
        flags = [f"{k}=True" for k in ("return_sequences", "return_state", "go_backwards")
                 if getattr(self, k)]  # fmt: skip
        return f"{type(self).__name__}({', '.join([str(self.units), *flags])})"


_COMMON_DOC = """
    Parameters
    ----------
    units : int
        The size of the state ``h``.
    return_sequences : bool
        Return every step's ``h`` ``(N, T, units)``, not only the last ``(N, units)``.
    return_state : bool
        Also return the final states: ``[output, h]`` (``[output, h, c]`` for the LSTM).
    go_backwards : bool
        Read the sequence from its end (a returned sequence comes out in that order, as in Keras).
    dropout, recurrent_dropout : float
        Fractions of the inputs ``x_t`` and of the state ``h_{t-1}`` (before ``U``) dropped in
        training; each mask is drawn once per sequence from the model's generator.
    kernel_initializer, recurrent_initializer, bias_initializer : str or callable
        For ``W`` (Glorot uniform), ``U`` (orthogonal) and ``b`` (zeros).
    kernel_regularizer, recurrent_regularizer, bias_regularizer : str, Regularizer or None
        Penalties on ``W``, ``U`` and ``b``.
"""


def _with_common_parameters(doc: str | None) -> str:
    """The class's docstring with the shared parameters inserted before its examples."""
    return (doc or "").replace("\n    Examples\n", _COMMON_DOC + "\n    Examples\n", 1)


class SimpleRNN(_Recurrent):
    """Elman network: ``h_t = f(x_t W + h_{t-1} U + b)``; ``x: (N, T, in)``.

    ``W (in, units)``, ``U (units, units)``, ``b (units,)``; the step's equations and backward are
    in :class:`~scratchnn.layers.recurrent_cells.SimpleRNNCell`.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import SimpleRNN
    >>> layer = SimpleRNN(4, return_sequences=True)
    >>> layer.build((5, 3), np.random.default_rng(0))
    >>> layer.forward(np.ones((2, 5, 3))).shape
    (2, 5, 4)
    """

    __doc__ = _with_common_parameters(__doc__)

    def __init__(
        self, units: int, activation: Any = "tanh", use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros", kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None, bias_regularizer: Any = None, dropout: float = 0.0,
        recurrent_dropout: float = 0.0, return_sequences: bool = False,
        return_state: bool = False, go_backwards: bool = False, input_shape: Any = None,
    ) -> None:  # fmt: skip
        self._set_recurrent_settings(
            units, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
            kernel_regularizer, recurrent_regularizer, bias_regularizer, dropout,
            recurrent_dropout, return_sequences, return_state, go_backwards, input_shape,
        )  # fmt: skip
        self.activation = get_activation(activation)
        self.cell = SimpleRNNCell(self.units, self.activation)

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "activation": self.activation.get_config(),
                **self._recurrent_config()}  # fmt: skip


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997); ``x: (N, T, in)``.

    ``W (in, 4 units)``, ``U (units, 4 units)``, ``b (4 units,)``, gates in the order i, f, c, o;
    with ``unit_forget_bias`` the forget gate's bias starts at 1, so the cell keeps its memory
    from the first step of training. The equations and their backward are in
    :class:`~scratchnn.layers.recurrent_cells.LSTMCell`.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import LSTM
    >>> layer = LSTM(4)
    >>> layer.build((5, 3), np.random.default_rng(0))
    >>> layer.forward(np.ones((2, 5, 3))).shape, layer.params["b"][4:8]
    ((2, 4), array([1., 1., 1., 1.], dtype=float32))
    """

    __doc__ = _with_common_parameters(__doc__)

    def __init__(
        self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
        use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True, kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None, bias_regularizer: Any = None, dropout: float = 0.0,
        recurrent_dropout: float = 0.0, return_sequences: bool = False,
        return_state: bool = False, go_backwards: bool = False, input_shape: Any = None,
    ) -> None:  # fmt: skip
        self._set_recurrent_settings(
            units, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
            kernel_regularizer, recurrent_regularizer, bias_regularizer, dropout,
            recurrent_dropout, return_sequences, return_state, go_backwards, input_shape,
        )  # fmt: skip
        if not isinstance(unit_forget_bias, bool):
            raise TypeError(f"unit_forget_bias must be True or False, got {unit_forget_bias!r}")
        self.activation = get_activation(activation)
        self.recurrent_activation = get_activation(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias
        self.cell = LSTMCell(
            self.units, self.activation, self.recurrent_activation, unit_forget_bias
        )

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "activation": self.activation.get_config(),
                "recurrent_activation": self.recurrent_activation.get_config(),
                "unit_forget_bias": self.unit_forget_bias, **self._recurrent_config()}  # fmt: skip


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014); ``x: (N, T, in)``.

    ``W (in, 3 units)``, ``U (units, 3 units)``, gates z, r, h, ``h = z * h_prev + (1 - z) * hh``.
    With ``reset_after=True`` (Keras's default and PyTorch's ``nn.GRU``): ``b (2, 3 units)`` (row 0
    the input bias, row 1 the recurrent bias), ``hh = tanh(x W_h + b0_h + r * (h U_h + b1_h))``
    (:class:`~scratchnn.layers.recurrent_cells.GRUCell`). With ``reset_after=False``: ``b (3
    units,)``, ``hh = tanh(x W_h + (r * h) U_h + b_h)``, the reset applied before the recurrent
    product (:class:`~scratchnn.layers.recurrent_cells.GRUResetBeforeCell`). Each cell's docstring
    has its equations and their backward.

    Examples
    --------
    >>> import numpy as np
    >>> from scratchnn.layers import GRU
    >>> layer = GRU(4)
    >>> layer.build((5, 3), np.random.default_rng(0))
    >>> layer.forward(np.ones((2, 5, 3))).shape, layer.params["b"].shape
    ((2, 4), (2, 12))
    """

    __doc__ = _with_common_parameters(__doc__)

    def __init__(
        self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
        use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
        bias_regularizer: Any = None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
        return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
        reset_after: bool = True, input_shape: Any = None,
    ) -> None:  # fmt: skip
        self._set_recurrent_settings(
            units, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
            kernel_regularizer, recurrent_regularizer, bias_regularizer, dropout,
            recurrent_dropout, return_sequences, return_state, go_backwards, input_shape,
        )  # fmt: skip
        if not isinstance(reset_after, bool):
            raise TypeError(f"reset_after must be True or False, got {describe(reset_after)}")
        self.reset_after = reset_after
        self.activation = get_activation(activation)
        self.recurrent_activation = get_activation(recurrent_activation)
        cell = GRUCell if reset_after else GRUResetBeforeCell
        self.cell = cell(self.units, self.activation, self.recurrent_activation)

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "activation": self.activation.get_config(),
                "recurrent_activation": self.recurrent_activation.get_config(),
                "reset_after": self.reset_after, **self._recurrent_config()}  # fmt: skip
