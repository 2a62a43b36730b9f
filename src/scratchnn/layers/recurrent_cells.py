"""One time step of each recurrent layer, forward and backward (Keras's cells), as plain math.

The loop over time (:mod:`scratchnn.layers.recurrent`) computes the two products of a step for
every gate at once and hands them to a cell:

* ``xw_t = x_t W + b_in``: ``(N, G u)``, precomputed for every step in one product;
* ``hu_t = h_{t-1} U + b_rec``: ``(N, G u)``, one product per step (``h_{t-1}`` after the
  recurrent dropout mask, when there is one);

where ``G`` is the number of gates and ``u`` the units. ``step`` returns the new states
(``[h]``, or ``[h, c]`` for the LSTM) and a record for ``step_backward``, which takes
``dL/d(states)`` and returns ``dL/d(xw_t)``, ``dL/d(hu_t)`` and the part of ``dL/d(states_{t-1})``
that does not pass through ``U`` (the loop adds ``dL/d(hu_t) U^T`` itself). Every array is
``(N, u)`` unless said otherwise.

The layer's loop goes through :class:`Steps`: ``tape(...)`` makes what a sequence's steps keep
for the backward (a list of records; the fused LSTM keeps its gates and cells in ``(T, N, .)``
arrays made once per sequence, so a step allocates nothing), ``run_step`` takes the whole
``xw (N, T, G u)`` and the step ``t``, and ``run_step_backward`` writes ``dL/d(xw_t)`` and
``dL/d(hu_t)`` into the loop's ``(N, T, G u)`` and ``(T, N, G u)`` arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from ..activations import Activation, Sigmoid, Tanh


class Steps:
    """The loop's side of a cell: records kept in a list, one :meth:`step` per time step."""

    def tape(
        self, batch: int, steps: int, dtype: Any, training: bool, array: Any, bias: Any = None
    ) -> Any:
        """What the steps of one sequence keep for the backward (``None`` in inference);
        ``array(name, shape)`` gives the layer's work arrays, ``bias`` is ``b_in`` for a cell
        that :meth:`adds_input_bias`."""
        return [] if training else None

    def adds_input_bias(self) -> bool:
        """Whether steps add ``b_in`` to ``x_t W`` themselves (else the loop adds it first)."""
        return False

    def attach(self, tape: Any, U: np.ndarray, state_mask: np.ndarray | None) -> Any:
        """The tape, given ``U`` and the recurrent dropout mask for a cell that applies part of
        ``U`` itself (the reset-before GRU); the others keep the tape as it is."""
        return tape

    def add_recurrent_grads(self, tape: Any, d_xw: np.ndarray, grad_U: np.ndarray) -> None:
        """Add to ``dL/dU`` what the cell's own products contribute (nothing for most cells)."""

    def run_step(self, xw: np.ndarray, t: int, hu: np.ndarray, states: list, tape: Any) -> list:
        """Step ``t`` of ``xw (N, T, G u)``: the new states, its record kept on ``tape``."""
        stepped, record = self.step(xw[:, t], hu, states)  # type: ignore[attr-defined]
        if tape is not None:
            tape.append(record)
        return stepped

    def run_step_backward(
        self, d_states: list, tape: Any, t: int, d_xw: np.ndarray, d_hu: np.ndarray
    ) -> list:
        """Step ``t``'s backward into ``d_xw[:, t]`` and ``d_hu[t]``; returns ``d_prev``."""
        d_xw[:, t], d_hu[t], d_prev = self.step_backward(d_states, tape[t])  # type: ignore[attr-defined]
        return d_prev


class SimpleRNNCell(Steps):
    """``h_t = f(x_t W + h_{t-1} U + b)``: ``W (in, u)``, ``U (u, u)``, ``b (u,)``.

    Backward: ``dz = f'(z) * dh_t`` (``(N, u)``); ``dL/d(xw_t) = dL/d(hu_t) = dz``; nothing reaches
    ``h_{t-1}`` except through ``U``.
    """

    n_gates = 1
    n_states = 1

    def __init__(self, units: int, activation: Activation) -> None:
        self.units, self.activation = units, activation

    def bias_shape(self) -> tuple[int, ...]:
        return (self.units,)

    def bias_initializer(self, initializer: Any) -> Any:
        return initializer

    def split_bias(self, b: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(b_in, b_rec)``: the parts added to ``x W`` and to ``h U``."""
        return b, None

    def join_bias_grads(self, grad_in: np.ndarray, grad_rec: np.ndarray | None) -> np.ndarray:
        return grad_in

    def step(self, xw: np.ndarray, hu: np.ndarray, states: list) -> tuple[list, Any]:
        z = xw + hu
        h = self.activation.forward(z)
        return [h], (z, h)

    def step_backward(self, d_states: list, record: Any) -> tuple[np.ndarray, np.ndarray, list]:
        z, h = record
        dz = self.activation.backward(d_states[0], z, h)
        return dz, dz, [None]


class LSTMCell(Steps):
    """Long short-term memory, gates in Keras's order i, f, c, o (PyTorch's i, f, g, o).

    With ``z = x_t W + h_{t-1} U + b`` (``(N, 4u)``) split in four ``(N, u)`` blocks,
    ``sigma`` the recurrent activation (sigmoid) and ``phi`` the activation (tanh)::

        i = sigma(z_i)   f = sigma(z_f)   g = phi(z_c)   o = sigma(z_o)
        c_t = f * c_{t-1} + i * g
        h_t = o * phi(c_t)

    Backward, given ``dh_t`` and ``dc_t`` (what the next step and the outputs send back)::

        dc   = dc_t + phi'(c_t) * o * dh_t    (the cell's total gradient)
        do   = phi(c_t) * dh_t                dz_o = sigma'(z_o) * do
        di   = g * dc                         dz_i = sigma'(z_i) * di
        df   = c_{t-1} * dc                   dz_f = sigma'(z_f) * df
        dg   = i * dc                         dz_c = phi'(z_c) * dg
        dc_{t-1} = f * dc                     (no matrix product: the cell's gradient highway)

    ``dz = [dz_i, dz_f, dz_c, dz_o]`` is both ``dL/d(xw_t)`` and ``dL/d(hu_t)``.
    """

    n_gates = 4
    n_states = 2

    def __init__(
        self, units: int, activation: Activation, recurrent_activation: Activation,
        unit_forget_bias: bool,
    ) -> None:  # fmt: skip
        self.units, self.activation = units, activation
        self.recurrent_activation, self.unit_forget_bias = recurrent_activation, unit_forget_bias
        # Sigmoid gates and tanh have a fused step in scratchnn.kernels (here: 18 passes forward).
        self.fused = type(recurrent_activation) is Sigmoid and type(activation) is Tanh

    def bias_shape(self) -> tuple[int, ...]:
        return (4 * self.units,)

    def bias_initializer(self, initializer: Any) -> Any:
        """With ``unit_forget_bias``, the forget block starts at 1 (Jozefowicz et al. 2015)."""
        if not self.unit_forget_bias:
            return initializer
        units = self.units

        def with_forget_bias_one(shape: tuple[int, ...], rng: Any = None) -> np.ndarray:
            bias = np.asarray(initializer(shape, rng), dtype=np.float64)
            bias[units : 2 * units] = 1.0
            return bias

        return with_forget_bias_one

    def split_bias(self, b: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        return b, None

    def join_bias_grads(self, grad_in: np.ndarray, grad_rec: np.ndarray | None) -> np.ndarray:
        return grad_in

    def step(self, xw: np.ndarray, hu: np.ndarray, states: list) -> tuple[list, Any]:
        if self.fused:
            h, c, record = kernels.current(xw.dtype).lstm_step(xw, hu, states[1], self.units)
            return [h, c], record
        u = self.units
        z = xw + hu
        sigma, phi = self.recurrent_activation, self.activation
        i, f = sigma.forward(z[:, :u]), sigma.forward(z[:, u : 2 * u])
        g, o = phi.forward(z[:, 2 * u : 3 * u]), sigma.forward(z[:, 3 * u :])
        c_prev = states[1]
        c = f * c_prev + i * g
        phi_c = phi.forward(c)
        h = o * phi_c
        return [h, c], (z, i, f, g, o, c_prev, c, phi_c)

    def step_backward(self, d_states: list, record: Any) -> tuple[np.ndarray, np.ndarray, list]:
        if self.fused:
            dz, dc_prev = kernels.current(d_states[0].dtype).lstm_step_backward(
                *d_states, record, self.units
            )
            return dz, dz, [None, dc_prev]
        z, i, f, g, o, c_prev, c, phi_c = record
        u = self.units
        dh, dc_next = d_states
        sigma, phi = self.recurrent_activation, self.activation
        dc = phi.backward(dh * o, c, phi_c)
        if dc_next is not None:
            dc += dc_next
        dz = np.empty_like(z)
        dz[:, :u] = sigma.backward(g * dc, z[:, :u], i)
        dz[:, u : 2 * u] = sigma.backward(c_prev * dc, z[:, u : 2 * u], f)
        dz[:, 2 * u : 3 * u] = phi.backward(i * dc, z[:, 2 * u : 3 * u], g)
        dz[:, 3 * u :] = sigma.backward(phi_c * dh, z[:, 3 * u :], o)
        return dz, dz, [None, f * dc]

    def tape(
        self, batch: int, steps: int, dtype: Any, training: bool, array: Any, bias: Any = None
    ) -> Any:
        """Fused: ``(T, N, .)`` arrays for every step in training, two alternating slots in
        inference (a step reads only the one before it)."""
        if not self.fused:
            return super().tape(batch, steps, dtype, training, array)
        tape = _LSTMTape(batch, steps if training else 2, self.units, training, array)
        tape.bias = bias
        return tape

    def adds_input_bias(self) -> bool:
        """Fused: the step adds ``b_in`` as it reads ``x_t W`` (one pass over it saved)."""
        return self.fused

    def run_step(self, xw: np.ndarray, t: int, hu: np.ndarray, states: list, tape: Any) -> list:
        if not self.fused:
            return super().run_step(xw, t, hu, states, tape)
        slot = t if tape.training else t % 2
        c_prev = states[1]
        if tape.training:
            tape.c_prev.append(c_prev)  # the cell before step t, whatever array holds it
        gates, c, phi_c, h = tape.gates[slot], tape.c[slot], tape.phi_c[slot], tape.h[slot]
        kernels.current(xw.dtype).lstm_forward(xw, t, tape.bias, hu, c_prev, gates, c, phi_c, h)
        return [h, c]

    def run_step_backward(
        self, d_states: list, tape: Any, t: int, d_xw: np.ndarray, d_hu: np.ndarray
    ) -> list:
        if not self.fused:
            return super().run_step_backward(d_states, tape, t, d_xw, d_hu)
        dh, dc_next = d_states
        dc_prev = np.empty_like(dh)
        kernels.current(dh.dtype).lstm_backward(
            dh, dc_next, tape.gates[t], tape.c_prev[t], tape.phi_c[t], d_xw, t, d_hu[t], dc_prev
        )
        return [None, dc_prev]


class _LSTMTape:
    """The fused LSTM's record of a sequence: gates ``[i, f, g, o]`` ``(S, N, 4u)``, ``c``,
    ``tanh(c)`` and ``h`` ``(S, N, u)`` per slot, and the cell each step started from."""

    def __init__(self, batch: int, slots: int, units: int, training: bool, array: Any) -> None:
        self.training = training
        self.gates = array("gates", (slots, batch, 4 * units))
        self.c, self.phi_c, self.h = (array(name, (slots, batch, units))
                                      for name in ("c", "phi_c", "h"))  # fmt: skip
        self.c_prev: list[np.ndarray] = []
        self.bias: np.ndarray | None = None  # b_in, added by the step


class GRUCell(Steps):
    """Gated recurrent unit, ``reset_after=True`` (Keras's default, PyTorch's ``nn.GRU``).

    ``W (in, 3u)``, ``U (u, 3u)``, ``b (2, 3u)`` (row 0 added to ``x W``, row 1 to ``h U``); gates
    in the order z, r, h. With ``a = x_t W + b_0`` and ``m = h_{t-1} U + b_1`` (``(N, 3u)`` each)::

        z  = sigma(a_z + m_z)                 update gate
        r  = sigma(a_r + m_r)                 reset gate
        hh = phi(a_h + r * m_h)               candidate
        h_t = z * h_{t-1} + (1 - z) * hh

    Backward, given ``dh_t``::

        dz_pre  = sigma'(.) * (h_{t-1} - hh) * dh_t
        dhh_pre = phi'(.) * (1 - z) * dh_t
        dr_pre  = sigma'(.) * m_h * dhh_pre
        dL/da   = [dz_pre, dr_pre, dhh_pre]
        dL/dm   = [dz_pre, dr_pre, r * dhh_pre]
        dh_{t-1} = z * dh_t   (+ dL/dm U^T, added by the loop)
    """

    n_gates = 3
    n_states = 1

    def __init__(
        self, units: int, activation: Activation, recurrent_activation: Activation
    ) -> None:
        self.units, self.activation = units, activation
        self.recurrent_activation = recurrent_activation
        # Sigmoid gates and tanh have a fused step in scratchnn.kernels (here: 16 passes forward).
        self.fused = type(recurrent_activation) is Sigmoid and type(activation) is Tanh

    def bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units)

    def bias_initializer(self, initializer: Any) -> Any:
        return initializer

    def split_bias(self, b: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        return (None, None) if b is None else (b[0], b[1])

    def join_bias_grads(self, grad_in: np.ndarray, grad_rec: np.ndarray | None) -> np.ndarray:
        return np.stack([grad_in, grad_rec])

    def step(self, xw: np.ndarray, hu: np.ndarray, states: list) -> tuple[list, Any]:
        if self.fused:
            h, record = kernels.current(xw.dtype).gru_step(xw, hu, states[0], self.units)
            return [h], record
        u = self.units
        sigma, phi = self.recurrent_activation, self.activation
        pre_z = xw[:, :u] + hu[:, :u]
        pre_r = xw[:, u : 2 * u] + hu[:, u : 2 * u]
        z, r = sigma.forward(pre_z), sigma.forward(pre_r)
        m_h = hu[:, 2 * u :]
        pre_h = xw[:, 2 * u :] + r * m_h
        hh = phi.forward(pre_h)
        h_prev = states[0]
        h = hh + z * (h_prev - hh)  # z h_prev + (1 - z) hh
        return [h], (pre_z, pre_r, pre_h, z, r, hh, m_h, h_prev)

    def step_backward(self, d_states: list, record: Any) -> tuple[np.ndarray, np.ndarray, list]:
        if self.fused:
            d_xw, d_hu, dh_prev = kernels.current(d_states[0].dtype).gru_step_backward(
                *d_states, record, self.units
            )
            return d_xw, d_hu, [dh_prev]
        pre_z, pre_r, pre_h, z, r, hh, m_h, h_prev = record
        u = self.units
        (dh,) = d_states
        sigma, phi = self.recurrent_activation, self.activation
        d_xw = np.empty((len(dh), 3 * u), dtype=dh.dtype)
        d_xw[:, :u] = sigma.backward(dh * (h_prev - hh), pre_z, z)
        d_pre_h = phi.backward(dh * (1 - z), pre_h, hh)
        d_xw[:, u : 2 * u] = sigma.backward(d_pre_h * m_h, pre_r, r)
        d_xw[:, 2 * u :] = d_pre_h
        d_hu = d_xw.copy()
        d_hu[:, 2 * u :] *= r
        return d_xw, d_hu, [dh * z]


class GRUResetBeforeCell(Steps):
    """Gated recurrent unit, ``reset_after=False`` (Keras's other form, Cho et al.'s original).

    ``W (in, 3u)``, ``U (u, 3u)``, ``b (3u,)`` (one row, added to ``x W``); gates z, r, h. The
    reset gate scales the state *before* the recurrent product of the candidate, so ``U_h`` is
    applied to ``r * h_{t-1}`` here, not by the loop. With ``a = x_t W + b`` (``(N, 3u)``),
    ``m = h_{t-1} U`` (only its z and r columns are used) and ``h_{t-1}`` after the recurrent
    dropout mask ``d`` (when there is one) in the products::

        z  = sigma(a_z + m_z)                        update gate
        r  = sigma(a_r + m_r)                        reset gate
        hh = phi(a_h + (r * d * h_{t-1}) U_h)        candidate
        h_t = z * h_{t-1} + (1 - z) * hh

    Backward, given ``dh_t`` (``g = dhh_pre U_h^T``, ``(N, u)``)::

        dz_pre  = sigma'(.) * (h_{t-1} - hh) * dh_t
        dhh_pre = phi'(.) * (1 - z) * dh_t
        dr_pre  = sigma'(.) * (d * h_{t-1}) * g
        dL/da   = [dz_pre, dr_pre, dhh_pre]
        dL/dm   = [dz_pre, dr_pre, 0]
        dh_{t-1} = z * dh_t + d * r * g   (+ dL/dm U^T, added by the loop)
        dL/dU_h = sum_t (r * d * h_{t-1})^T dhh_pre   (added by :meth:`add_recurrent_grads`)

    The step is plain NumPy on every backend (no compiled kernel), so both backends give the
    same bits.
    """

    n_gates = 3
    n_states = 1

    def __init__(
        self, units: int, activation: Activation, recurrent_activation: Activation
    ) -> None:
        self.units, self.activation = units, activation
        self.recurrent_activation = recurrent_activation

    def bias_shape(self) -> tuple[int, ...]:
        return (3 * self.units,)

    def bias_initializer(self, initializer: Any) -> Any:
        return initializer

    def split_bias(self, b: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        return b, None

    def join_bias_grads(self, grad_in: np.ndarray, grad_rec: np.ndarray | None) -> np.ndarray:
        return grad_in

    def tape(
        self, batch: int, steps: int, dtype: Any, training: bool, array: Any, bias: Any = None
    ) -> Any:
        """Always a :class:`_ResetBeforeTape` (the step needs ``U_h`` in inference too)."""
        return _ResetBeforeTape(training)

    def attach(self, tape: Any, U: np.ndarray, state_mask: np.ndarray | None) -> Any:
        """Give the tape ``U_h`` (``U``'s candidate columns) and the recurrent dropout mask."""
        u = self.units
        tape.U_h = np.ascontiguousarray(U[:, 2 * u :])
        tape.U_h_t = np.ascontiguousarray(tape.U_h.T)
        tape.state_mask = state_mask
        return tape

    def run_step(self, xw: np.ndarray, t: int, hu: np.ndarray, states: list, tape: Any) -> list:
        u = self.units
        sigma, phi = self.recurrent_activation, self.activation
        a = xw[:, t]
        h_prev = states[0]
        h_used = h_prev if tape.state_mask is None else h_prev * tape.state_mask
        pre_z = a[:, :u] + hu[:, :u]
        pre_r = a[:, u : 2 * u] + hu[:, u : 2 * u]
        z, r = sigma.forward(pre_z), sigma.forward(pre_r)
        rh = r * h_used
        pre_h = a[:, 2 * u :] + rh @ tape.U_h
        hh = phi.forward(pre_h)
        h = hh + z * (h_prev - hh)  # z h_prev + (1 - z) hh
        if tape.training:
            tape.records.append((pre_z, pre_r, pre_h, z, r, hh, h_prev, h_used, rh))
        return [h]

    def run_step_backward(
        self, d_states: list, tape: Any, t: int, d_xw: np.ndarray, d_hu: np.ndarray
    ) -> list:
        pre_z, pre_r, pre_h, z, r, hh, h_prev, h_used, _ = tape.records[t]
        u = self.units
        (dh,) = d_states
        sigma, phi = self.recurrent_activation, self.activation
        dz_pre = sigma.backward(dh * (h_prev - hh), pre_z, z)
        dhh_pre = phi.backward(dh * (1 - z), pre_h, hh)
        g = dhh_pre @ tape.U_h_t
        dr_pre = sigma.backward(g * h_used, pre_r, r)
        d_xw[:, t, :u] = dz_pre
        d_xw[:, t, u : 2 * u] = dr_pre
        d_xw[:, t, 2 * u :] = dhh_pre
        d_hu[t][:, :u] = dz_pre
        d_hu[t][:, u : 2 * u] = dr_pre
        d_hu[t][:, 2 * u :] = 0.0
        through_h = r * g
        if tape.state_mask is not None:
            through_h *= tape.state_mask
        return [dh * z + through_h]

    def add_recurrent_grads(self, tape: Any, d_xw: np.ndarray, grad_U: np.ndarray) -> None:
        """``dL/dU_h += sum_t (r * h_used)^T dhh_pre``, ``dhh_pre`` read from ``d_xw`` (where
        the loop zeroed the padded steps)."""
        u = self.units
        rh_all = np.stack([record[-1] for record in tape.records], axis=1)  # (N, T, u)
        grad_U[:, 2 * u :] += rh_all.reshape(-1, u).T @ d_xw[:, :, 2 * u :].reshape(-1, u)


class _ResetBeforeTape:
    """The reset-before GRU's record: ``U_h``, the recurrent dropout mask and each step's values."""

    def __init__(self, training: bool) -> None:
        self.training = training
        self.records: list[tuple] = []
        self.U_h: np.ndarray | None = None
        self.U_h_t: np.ndarray | None = None
        self.state_mask: np.ndarray | None = None
