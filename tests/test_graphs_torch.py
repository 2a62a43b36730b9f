"""A graph model against PyTorch's autograd, an independent implementation (bench extra).

The same residual, two-input, two-output network with shared weights, written once with
scratchnn's layers and once with plain torch operations on the same weights: the outputs, the
loss and every parameter's gradient must agree in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import Add, Concatenate, Dense, Input, LayerNormalization, Model, Multiply
from scratchnn.losses import get_loss
from scratchnn.training import TrainingStep

torch = pytest.importorskip("torch")


def test_a_graph_with_forks_shared_weights_and_two_heads_matches_torch_autograd():
    rng = np.random.default_rng(0)
    a, b = Input(shape=(5, 3), name="a"), Input(shape=(5, 4), name="b")  # sequences of 5
    shared = Dense(6, "tanh", name="shared")
    left = shared(Dense(6, name="lift")(a))
    right = shared(Dense(6, "gelu", name="side")(b))
    mixed = LayerNormalization(name="norm")(
        Add(name="skip")([left, Multiply(name="gate")([left, right])])
    )
    cls = Dense(3, "softmax", name="cls")(Concatenate(name="join")([mixed, right]))
    reg = Dense(1, name="reg")(mixed)
    model = Model([a, b], [cls, reg], seed=0, dtype="float64")
    A, B = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5, 4))
    labels, targets = rng.integers(0, 3, (4, 5)), rng.normal(size=(4, 5, 1))

    step = TrainingStep(model, [get_loss("categorical_crossentropy"), get_loss("mse")],
                        loss_weights=[1.0, 0.3])  # fmt: skip
    result = step.loss_and_gradients([A, B], [labels, targets])

    weights = {
        f"{layer.name}.{key}": torch.tensor(value.copy(), requires_grad=True)
        for layer in model.layers
        for key, value in layer.params.items()
    }

    def dense(x, name, act=None):
        z = x @ weights[f"{name}.W"] + weights[f"{name}.b"]
        return act(z) if act else z

    def gelu(z):  # the tanh form scratchnn uses
        return 0.5 * z * (1 + torch.tanh((2 / np.pi) ** 0.5 * (z + 0.044715 * z**3)))

    ta, tb = torch.tensor(A), torch.tensor(B)
    t_left = dense(dense(ta, "lift"), "shared", torch.tanh)
    t_right = dense(dense(tb, "side", gelu), "shared", torch.tanh)
    t_sum = t_left + t_left * t_right
    mean = t_sum.mean(-1, keepdim=True)
    var = ((t_sum - mean) ** 2).mean(-1, keepdim=True)
    t_mixed = (t_sum - mean) / torch.sqrt(var + 1e-3) * weights["norm.gamma"] + weights["norm.beta"]
    logits = dense(torch.cat([t_mixed, t_right], -1), "cls")
    t_reg = dense(t_mixed, "reg")
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), torch.tensor(labels).reshape(-1))
    mse = ((t_reg - torch.tensor(targets)) ** 2).mean()
    loss = ce + 0.3 * mse
    loss.backward()

    assert result.loss == pytest.approx(loss.item(), rel=1e-12)
    probabilities, regression = model.predict([A, B])
    np.testing.assert_allclose(
        probabilities, torch.softmax(logits, -1).detach().numpy(), rtol=1e-10
    )
    np.testing.assert_allclose(regression, t_reg.detach().numpy(), rtol=1e-10, atol=1e-12)
    for layer in model.layers:
        for key, grad in layer.grads.items():
            expected = weights[f"{layer.name}.{key}"].grad.numpy()
            np.testing.assert_allclose(
                grad, expected, rtol=1e-9, atol=1e-12, err_msg=f"{layer.name}.{key}"
            )
