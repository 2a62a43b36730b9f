"""Optimizers against textbook reference updates; schedules against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scratchnn.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop, get_optimizer
from scratchnn.schedules import CosineDecay, ExponentialDecay, StepDecay


def reference_run(name, params, gradients, **hp):
    """Per-element Python loops over the published update rules (an independent oracle)."""
    p = [float(v) for v in params]
    state = {"m": [0.0] * len(p), "v": [0.0] * len(p)}
    lr = hp.get("lr")
    for t, g in enumerate(gradients, start=1):
        for i, gi in enumerate(g):
            gi = float(gi)
            if name == "sgd":
                if hp.get("momentum", 0):
                    state["m"][i] = hp["momentum"] * state["m"][i] + gi
                    step = gi + hp["momentum"] * state["m"][i] if hp["nesterov"] else state["m"][i]
                else:
                    step = gi
                p[i] -= lr * step
            elif name == "rmsprop":
                state["v"][i] = 0.9 * state["v"][i] + 0.1 * gi * gi
                p[i] -= lr * gi / (math.sqrt(state["v"][i]) + 1e-7)
            elif name == "adagrad":
                state["v"][i] += gi * gi
                p[i] -= lr * gi / (math.sqrt(state["v"][i]) + 1e-7)
            elif name in ("adam", "adamw"):
                if name == "adamw":
                    p[i] -= lr * hp["weight_decay"] * p[i]
                state["m"][i] = 0.9 * state["m"][i] + 0.1 * gi
                state["v"][i] = 0.999 * state["v"][i] + 0.001 * gi * gi
                m_hat = state["m"][i] / (1 - 0.9**t)
                v_hat = state["v"][i] / (1 - 0.999**t)
                p[i] -= lr * m_hat / (math.sqrt(v_hat) + 1e-8)
    return np.array(p)


CASES = [
    ("sgd", lambda: SGD(0.1), {"lr": 0.1}),
    ("sgd", lambda: SGD(0.1, momentum=0.9), {"lr": 0.1, "momentum": 0.9, "nesterov": False}),
    (
        "sgd",
        lambda: SGD(0.1, momentum=0.9, nesterov=True),
        {"lr": 0.1, "momentum": 0.9, "nesterov": True},
    ),
    ("rmsprop", lambda: RMSprop(0.01), {"lr": 0.01}),
    ("adagrad", lambda: Adagrad(0.1), {"lr": 0.1}),
    ("adam", lambda: Adam(0.01), {"lr": 0.01}),
    ("adamw", lambda: AdamW(0.01, weight_decay=0.1), {"lr": 0.01, "weight_decay": 0.1}),
]


@pytest.mark.parametrize(("name", "make", "hp"), CASES, ids=[repr(c[1]()) for c in CASES])
def test_optimizer_matches_reference_update(name, make, hp):
    rng = np.random.default_rng(0)
    start = rng.normal(size=7)
    gradients = [rng.normal(size=7) for _ in range(5)]
    params = start.copy()
    optimizer = make()
    for g in gradients:
        optimizer.step(params, g.copy())
    np.testing.assert_allclose(params, reference_run(name, start, gradients, **hp), rtol=1e-12)
    assert optimizer.iterations == 5


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adagrad", "adam", "adamw"])
def test_every_optimizer_minimises_a_quadratic(name):
    target = np.array([3.0, -2.0, 0.5])
    params = np.zeros(3)
    # Adagrad's steps shrink as 1/sqrt(t): it gets a larger rate to arrive in the same budget.
    optimizer = get_optimizer(name, learning_rate=0.5 if name == "adagrad" else 0.1)
    for _ in range(500):
        optimizer.step(params, 2 * (params - target))
    np.testing.assert_allclose(params, target, atol=0.05)


def test_clipnorm_rescales_long_gradients_only():
    params = np.zeros(2)
    SGD(1.0, clipnorm=1.0).step(params, np.array([3.0, 4.0]))
    np.testing.assert_allclose(params, [-0.6, -0.8])
    params = np.zeros(2)
    SGD(1.0, clipnorm=10.0).step(params, np.array([3.0, 4.0]))
    np.testing.assert_allclose(params, [-3.0, -4.0])


def test_schedules_follow_their_formulas():
    step = StepDecay(0.1, step_size=10, gamma=0.5)
    assert [step(t) for t in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    exponential = ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)
    assert exponential(50) == pytest.approx(0.1 * 0.5**0.5)
    cosine = CosineDecay(1.0, decay_steps=100, alpha=0.1)
    assert cosine(0) == pytest.approx(1.0)
    assert cosine(50) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cosine(100) == pytest.approx(0.1)
    assert cosine(1000) == pytest.approx(0.1)


def test_optimizer_uses_its_schedule_per_update():
    optimizer = SGD(StepDecay(1.0, step_size=1, gamma=0.5))
    params = np.zeros(1)
    for _ in range(3):
        optimizer.step(params, np.ones(1))
    np.testing.assert_allclose(params, [-(1.0 + 0.5 + 0.25)])
    assert optimizer.current_learning_rate() == pytest.approx(0.125)


def test_schedule_can_be_given_as_config():
    optimizer = get_optimizer(
        {"name": "adam", "learning_rate": {"name": "cosine", "initial": 0.1, "decay_steps": 10}}
    )
    assert isinstance(optimizer.learning_rate, CosineDecay)


def test_state_round_trip_continues_identically():
    rng = np.random.default_rng(1)
    gradients = [rng.normal(size=4) for _ in range(6)]
    params_a = np.ones(4)
    a = Adam(0.05)
    for g in gradients:
        a.step(params_a, g.copy())
    params_b = np.ones(4)
    b = Adam(0.05)
    for g in gradients[:3]:
        b.step(params_b, g.copy())
    c = Adam(0.05)
    c.set_state(b.get_state())
    for g in gradients[3:]:
        c.step(params_b, g.copy())
    np.testing.assert_array_equal(params_a, params_b)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: SGD(0.0), r"learning_rate must be in \(0, inf\), got 0"),
        (lambda: SGD(-1), "learning_rate must be in"),
        (lambda: SGD("fast"), "learning_rate must be a number"),
        (lambda: SGD(0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (lambda: Adam(beta_1=1.0), r"beta_1 must be in \[0, 1\)"),
        (lambda: get_optimizer("adma"), "did you mean 'adam'"),
    ],
)
def test_bad_hyperparameters_are_rejected(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_optimizer_refuses_a_model_of_another_size():
    optimizer = Adam()
    optimizer.step(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="holds state for 3 parameters, got a model with 4"):
        optimizer.step(np.zeros(4), np.ones(4))


def test_adam_slots_hold_the_moments_without_their_beta_factors():
    rng = np.random.default_rng(3)
    gradients = [rng.normal(size=5) for _ in range(4)]
    optimizer = Adam(0.01, beta_1=0.8, beta_2=0.95)
    params = np.zeros(5)
    m, v = np.zeros(5), np.zeros(5)
    for g in gradients:
        optimizer.step(params, g.copy())
        m = 0.8 * m + 0.2 * g
        v = 0.95 * v + 0.05 * g * g
    state = optimizer.get_state()
    np.testing.assert_allclose(state["slots"]["m"] * 0.2, m, rtol=1e-12)
    np.testing.assert_allclose(state["slots"]["v"] * 0.05, v, rtol=1e-12)
