"""MultiHeadAttention against PyTorch: plain torch operations on our weights, and
``nn.MultiheadAttention`` with our weights mapped into its ``in_proj`` and ``out_proj``.

The same weights, inputs and upstream gradient: outputs, the inputs' gradients and every
weight's gradient agree to float64 round-off, with and without a causal mask.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import MultiHeadAttention

torch = pytest.importorskip("torch")

TOLERANCE = 1e-10
NAMES = ("Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo")


def _worst(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _close(ours: np.ndarray, theirs: np.ndarray) -> bool:
    """Equal to round-off; ``bk``'s gradient is zero in exact arithmetic (adding ``q . bk`` to a
    whole row of scores leaves its softmax unchanged), so there both are round-off alone."""
    if np.max(np.abs(theirs)) < 1e-12:
        return bool(np.max(np.abs(ours)) < 1e-12)
    return _worst(ours, theirs) < TOLERANCE


def _layer(shapes, seed=1, **settings) -> MultiHeadAttention:
    layer = MultiHeadAttention(bias_initializer="glorot_uniform", **settings)
    layer.build(shapes, np.random.default_rng(seed), np.float64)
    return layer


def _torch_attention(params, x_q, x_v, x_k, allowed, causal):
    """Scaled dot-product attention written in torch operations, from our weights."""
    key_dim = params["Wq"].shape[-1]
    Q = torch.einsum("ntd,dhk->nhtk", x_q, params["Wq"]) + params["bq"][:, None]
    K = torch.einsum("ntd,dhk->nhtk", x_k, params["Wk"]) + params["bk"][:, None]
    V = torch.einsum("ntd,dhk->nhtk", x_v, params["Wv"]) + params["bv"][:, None]
    S = Q @ K.transpose(-1, -2) / key_dim**0.5
    mask = torch.ones(S.shape[-2:], dtype=torch.bool)
    if causal:
        mask = torch.tril(mask)
    if allowed is not None:
        mask = mask & (allowed[:, None] != 0)
    P = torch.softmax(S.masked_fill(~mask, float("-inf")), dim=-1)
    O = P @ V
    return torch.einsum("nhtv,hvd->ntd", O, params["Wo"]) + params["bo"]


CASES = {
    "self, non-causal": (dict(num_heads=3, key_dim=2, value_dim=4), 5, 5, False, False, False),
    "self, causal": (dict(num_heads=2, key_dim=3, use_causal_mask=True), 6, 6, False, False, False),
    "cross with key, Tq != Tk": (
        dict(num_heads=4, key_dim=2, value_dim=3),
        3,
        5,
        True,
        False,
        False,
    ),  # fmt: skip
    "causal with a mask": (
        dict(num_heads=2, key_dim=3, use_causal_mask=True, attention_mask_input=True),
        4,
        4,
        True,
        True,
        True,
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_outputs_and_every_gradient_equal_torch_operations(case):
    settings, steps_q, steps_k, key, mask, _ = case
    rng = np.random.default_rng(0)
    shapes = [(steps_q, 5), (steps_k, 4)] + [(steps_k, 3)] * key + [(steps_q, steps_k)] * mask
    layer = _layer(shapes, **settings)
    inputs = [rng.normal(size=(2, *s)) for s in shapes]
    if mask:
        inputs[-1] = (rng.random(inputs[-1].shape) < 0.7).astype(float)
        inputs[-1][:, :, 0] = 1.0  # every query attends somewhere (torch's softmax gives NaN)
    grad_y = rng.normal(size=(2, steps_q, 5))
    ours = layer.forward(inputs, training=True)
    grads = layer.backward(grad_y)

    tensors = [torch.from_numpy(a).requires_grad_(True) for a in inputs]
    params = {n: torch.from_numpy(layer.params[n].copy()).requires_grad_(True) for n in NAMES}
    x_q, x_v = tensors[0], tensors[1]
    x_k = tensors[2] if key else x_v
    allowed = tensors[-1].detach() if mask else None
    out = _torch_attention(params, x_q, x_v, x_k, allowed, settings.get("use_causal_mask", False))
    out.backward(torch.from_numpy(grad_y))
    assert _worst(ours, out.detach().numpy()) < TOLERANCE
    for index, tensor in enumerate(tensors[: 3 if key else 2]):
        assert _worst(grads[index], tensor.grad.numpy()) < TOLERANCE, index
    for name in NAMES:
        assert _close(layer.grads[name], params[name].grad.numpy()), name


@pytest.mark.parametrize("causal", [False, True])
def test_outputs_and_gradients_equal_nn_multiheadattention(causal):
    heads, width, steps = 4, 8, 6
    rng = np.random.default_rng(3)
    layer = _layer([(steps, width), (steps, width)], num_heads=heads, key_dim=width // heads,
                   use_causal_mask=causal)  # fmt: skip
    x = rng.normal(size=(2, steps, width))
    grad_y = rng.normal(size=(2, steps, width))
    ours = layer.forward([x, x], training=True)
    grad_q, grad_v = layer.backward(grad_y)

    module = torch.nn.MultiheadAttention(width, heads, batch_first=True).double()
    p = layer.params
    in_proj = np.concatenate([p[n].reshape(width, width).T for n in ("Wq", "Wk", "Wv")])
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.from_numpy(in_proj))
        in_bias = np.concatenate([p[n].ravel() for n in ("bq", "bk", "bv")])
        module.in_proj_bias.copy_(torch.from_numpy(in_bias))
        module.out_proj.weight.copy_(torch.from_numpy(p["Wo"].reshape(width, width).T.copy()))
        module.out_proj.bias.copy_(torch.from_numpy(p["bo"]))
    x_t = torch.from_numpy(x).requires_grad_(True)
    blocked = torch.triu(torch.ones(steps, steps, dtype=torch.bool), 1) if causal else None
    out, _ = module(x_t, x_t, x_t, attn_mask=blocked, need_weights=False)
    out.backward(torch.from_numpy(grad_y))
    assert _worst(ours, out.detach().numpy()) < TOLERANCE
    assert _worst(grad_q + grad_v, x_t.grad.numpy()) < TOLERANCE
    torch_in = module.in_proj_weight.grad.numpy()
    torch_bias = module.in_proj_bias.grad.numpy()
    for index, name in enumerate(("q", "k", "v")):
        rows = slice(index * width, (index + 1) * width)
        assert _worst(layer.grads[f"W{name}"].reshape(width, width), torch_in[rows].T) < TOLERANCE
        assert _close(layer.grads[f"b{name}"].ravel(), torch_bias[rows])
    torch_out = module.out_proj.weight.grad.numpy().T
    assert _worst(layer.grads["Wo"].reshape(width, width), torch_out) < TOLERANCE
    assert _worst(layer.grads["bo"], module.out_proj.bias.grad.numpy()) < TOLERANCE
