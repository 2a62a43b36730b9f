"""SimpleRNN, LSTM, GRU and Bidirectional against PyTorch's nn.RNN, nn.LSTM and nn.GRU.

The same weights, mapped between the layouts (PyTorch keeps ``W^T``, two biases, and orders the
GRU's gates r, z, n where Keras has z, r, h), the same inputs and the same upstream gradient:
outputs, ``dL/dx`` and every weight's gradient agree to float64 round-off.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import GRU, LSTM, Bidirectional, SimpleRNN

torch = pytest.importorskip("torch")

BATCH, STEPS, FEATURES, UNITS = 3, 6, 4, 5
TOLERANCE = 1e-10


def _gru_to_torch(block: np.ndarray) -> np.ndarray:
    """Keras's z, r, h blocks (last axis) in PyTorch's order r, z, n."""
    z, r, h = np.split(block, 3, axis=-1)
    return np.concatenate([r, z, h], axis=-1)


def _gru_from_torch(block: np.ndarray) -> np.ndarray:
    r, z, h = np.split(block, 3, axis=-1)
    return np.concatenate([z, r, h], axis=-1)


def _torch_weights(layer_class, params: dict) -> dict:
    """Our ``W``, ``U``, ``b`` as PyTorch's ``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh``."""
    W, U, b = params["W"], params["U"], params["b"]
    if layer_class is GRU:
        return {"weight_ih": _gru_to_torch(W).T, "weight_hh": _gru_to_torch(U).T,
                "bias_ih": _gru_to_torch(b[0]), "bias_hh": _gru_to_torch(b[1])}  # fmt: skip
    return {"weight_ih": W.T, "weight_hh": U.T, "bias_ih": b, "bias_hh": np.zeros_like(b)}


def _our_grads(layer_class, grads: dict) -> dict:
    """PyTorch's gradients in our layout (an RNN's or LSTM's two biases are one sum, so each
    has the gradient of our ``b``)."""
    if layer_class is GRU:
        return {"W": _gru_from_torch(grads["weight_ih"].T),
                "U": _gru_from_torch(grads["weight_hh"].T),
                "b": np.stack([_gru_from_torch(grads["bias_ih"]),
                               _gru_from_torch(grads["bias_hh"])])}  # fmt: skip
    return {"W": grads["weight_ih"].T, "U": grads["weight_hh"].T,
            "b": grads["bias_ih"]}  # fmt: skip


TORCH_CLASS = {SimpleRNN: "RNN", LSTM: "LSTM", GRU: "GRU"}


def _torch_run(layer_class, directions, x, grad_seq):
    """Torch's outputs, dL/dx and weight gradients for ``directions`` = list of our param dicts."""
    module = getattr(torch.nn, TORCH_CLASS[layer_class])(
        FEATURES, UNITS, batch_first=True, bidirectional=len(directions) == 2
    ).double()
    with torch.no_grad():
        for suffix, params in zip(["_l0", "_l0_reverse"], directions, strict=False):
            for name, value in _torch_weights(layer_class, params).items():
                getattr(module, name + suffix).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    x_t = torch.from_numpy(x).requires_grad_(True)
    out, _ = module(x_t)
    out.backward(torch.from_numpy(grad_seq))
    grads = []
    for suffix in ["_l0", "_l0_reverse"][: len(directions)]:
        raw = {n: getattr(module, n + suffix).grad.numpy() for n in
               ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}  # fmt: skip
        grads.append(_our_grads(layer_class, raw))
    return out.detach().numpy(), x_t.grad.numpy(), grads


def _worst(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU], ids=lambda c: c.__name__)
def test_outputs_and_every_gradient_equal_pytorchs(layer_class):
    rng = np.random.default_rng(0)
    layer = layer_class(UNITS, return_sequences=True, bias_initializer="glorot_uniform")
    layer.build((STEPS, FEATURES), np.random.default_rng(1), np.float64)
    x = rng.normal(size=(BATCH, STEPS, FEATURES))
    grad_seq = rng.normal(size=(BATCH, STEPS, UNITS))
    ours = layer.forward(x, training=True)
    grad_x = layer.backward(grad_seq)
    out, torch_grad_x, (torch_grads,) = _torch_run(layer_class, [layer.params], x, grad_seq)
    assert _worst(ours, out) < TOLERANCE
    assert _worst(grad_x, torch_grad_x) < TOLERANCE
    for name in ("W", "U", "b"):
        assert _worst(layer.grads[name], torch_grads[name]) < TOLERANCE, name


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU], ids=lambda c: c.__name__)
def test_bidirectional_concat_equals_pytorchs_bidirectional(layer_class):
    rng = np.random.default_rng(2)
    layer = Bidirectional(
        layer_class(UNITS, return_sequences=True, bias_initializer="glorot_uniform")
    )
    layer.build((STEPS, FEATURES), np.random.default_rng(3), np.float64)
    x = rng.normal(size=(BATCH, STEPS, FEATURES))
    grad_seq = rng.normal(size=(BATCH, STEPS, 2 * UNITS))
    ours = layer.forward(x, training=True)
    grad_x = layer.backward(grad_seq)
    directions = [
        {k: layer.params[f"{prefix}_{k}"] for k in ("W", "U", "b")}
        for prefix in ("forward", "backward")
    ]
    out, torch_grad_x, torch_grads = _torch_run(layer_class, directions, x, grad_seq)
    assert _worst(ours, out) < TOLERANCE
    assert _worst(grad_x, torch_grad_x) < TOLERANCE
    for prefix, grads in zip(("forward", "backward"), torch_grads, strict=True):
        for name in ("W", "U", "b"):
            assert _worst(layer.grads[f"{prefix}_{name}"], grads[name]) < TOLERANCE, name
