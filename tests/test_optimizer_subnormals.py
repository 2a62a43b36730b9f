"""Optimizer slots below the smallest normal number are flushed to zero; parameters do not change.

A moment whose gradient stays zero decays geometrically into subnormal numbers, where x86 CPUs
take a slow path; every update sets such slot entries to +0 instead, on both kernel backends.
"""

from __future__ import annotations

import numpy as np
import pytest

import scratchnn
from scratchnn import kernels
from scratchnn.optimizers import SGD, Adagrad, Adam, AdamW, RMSprop

BACKENDS = ["numpy"] + (["numba"] if kernels.numba_installed() else [])

# optimizer, and per slot the factor a zero gradient multiplies it by (signed: may be negative)
SLOTTED = {
    "momentum": (lambda: SGD(0.1, momentum=0.9), {"velocity": (0.9, True)}),
    "nesterov": (lambda: SGD(0.1, momentum=0.8, nesterov=True), {"velocity": (0.8, True)}),
    "rmsprop": (lambda: RMSprop(0.01, rho=0.7), {"square_avg": (0.7, False)}),
    "adagrad": (lambda: Adagrad(0.1), {"sum_squares": (1.0, False)}),
    "adam": (lambda: Adam(0.01, beta_1=0.9, beta_2=0.8), {"m": (0.9, True), "v": (0.8, False)}),
    "adamw": (lambda: AdamW(0.01, beta_1=0.6, beta_2=0.7), {"m": (0.6, True), "v": (0.7, False)}),
}


@pytest.fixture
def restore_backend():
    before = kernels.get_backend()
    yield
    kernels.set_backend(before)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()  # tells +0 from -0, NaN from NaN


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(SLOTTED))
def test_slots_below_the_smallest_normal_become_zero(name, dtype, backend, restore_backend):
    kernels.set_backend(backend)
    make, factors = SLOTTED[name]
    tiny = np.finfo(dtype).tiny
    # already subnormal; subnormal after the decay (not for Adagrad's factor 1); normal after it;
    # exactly tiny; ordinary; zero
    magnitudes = np.array([0.5, 1.05, 1.9, 4.0, 1e30, 0.0]) * tiny
    magnitudes[3] = tiny  # an exact tiny stays (it is normal) when the factor is 1
    optimizer, size = make(), 2 * magnitudes.size
    optimizer.step(np.ones(size, dtype), np.zeros(size, dtype))  # builds the slots
    slots = {}
    for slot, (_, signed) in factors.items():
        signs = np.repeat([1.0, -1.0 if signed else 1.0], magnitudes.size)  # -0.0 included
        slots[slot] = (np.tile(magnitudes, 2) * signs).astype(dtype)
    state = optimizer.get_state()
    state["slots"] = {k: v.copy() for k, v in slots.items()}
    optimizer.set_state(state)

    optimizer.step(np.ones(size, dtype), np.zeros(size, dtype))  # zero gradients: slots decay

    flushed_any = False
    for slot, (factor, _) in factors.items():
        unflushed = slots[slot] * dtype(factor) + dtype(0)  # the update before flushing (g = 0)
        subnormal = (np.abs(unflushed) < tiny) & (unflushed != 0)
        expected = np.where(subnormal, dtype(0), unflushed)  # +0; a -0 or 0 stays as it was
        got = optimizer.get_state()["slots"][slot]
        assert same_bits(got, expected), (slot, got, expected)
        assert np.all(got[subnormal] == 0) and not np.signbit(got[subnormal]).any()
        assert np.count_nonzero(got) == np.count_nonzero(unflushed) - subnormal.sum()
        flushed_any |= bool(subnormal.any())
    assert flushed_any  # a real subnormal was flushed


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(SLOTTED))
def test_a_nan_gradient_still_reaches_the_slots(name, backend, restore_backend):
    kernels.set_backend(backend)
    optimizer = SLOTTED[name][0]()
    params = np.ones(3, np.float32)
    optimizer.step(params, np.array([np.nan, 0.0, 1.0], np.float32))
    for slot in optimizer.slots.values():
        assert np.isnan(slot[0]) and slot[1] == 0 and slot[2] > 0


def unflushed(cls):
    """``cls`` with flushing off: a threshold of 0 (nothing lies in (-0, 0) or below 0 there)."""

    class Unflushed(cls):
        def build(self, size, dtype):
            super().build(size, dtype)
            self._tiny = np.dtype(dtype).type(0)

    return Unflushed


LONG_RUNS = {
    "adam": (Adam, {"learning_rate": 0.01, "beta_1": 0.6, "beta_2": 0.7}),
    "adamw": (AdamW, {"learning_rate": 0.01, "beta_1": 0.6, "beta_2": 0.7}),
    "rmsprop": (RMSprop, {"learning_rate": 0.01, "rho": 0.7}),
    "momentum": (SGD, {"learning_rate": 0.05, "momentum": 0.6}),
    "nesterov": (SGD, {"learning_rate": 0.05, "momentum": 0.6, "nesterov": True}),
}


def fit_with_dead_units(optimizer):
    """A small ReLU net; after 3 epochs half its hidden units die, then 80 epochs more.

    The dead units' weights get exactly zero gradients, so (betas 0.6/0.7, 320 steps) their
    moments decay through the subnormal range.
    """
    rng = np.random.default_rng(11)
    x = rng.normal(size=(64, 8)).astype(np.float32)
    y = rng.integers(0, 3, size=64)
    model = scratchnn.Sequential(
        [scratchnn.Dense(16, activation="relu"), scratchnn.Dense(3, activation="softmax")], seed=2
    )
    settings = {"loss": "categorical_crossentropy", "batch_size": 16, "verbose": 0}
    model.fit(x, y, epochs=3, optimizer=optimizer, **settings)
    weights = model.get_weights()
    weights[1][::2] = -100.0  # bias of every second hidden unit: dead for these inputs
    model.set_weights(weights)
    model.fit(x, y, epochs=80, optimizer=optimizer, **settings)
    return model.get_weights(), optimizer.get_state()["slots"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(LONG_RUNS))
def test_flushing_leaves_a_long_fit_bit_identical(name, backend, restore_backend):
    kernels.set_backend(backend)
    cls, settings = LONG_RUNS[name]
    weights, slots = fit_with_dead_units(cls(**settings))
    ref_weights, ref_slots = fit_with_dead_units(unflushed(cls)(**settings))
    tiny = np.finfo(np.float32).tiny
    subnormal = 0
    for key, ref in ref_slots.items():
        below = (ref != 0) & (np.abs(ref) < tiny)
        subnormal += int(below.sum())
        assert np.all(slots[key][below] == 0)  # flushed here
        assert same_bits(slots[key][~below], ref[~below])  # and nothing else differs
    assert subnormal > 0  # the reference did run into subnormal slots
    for got, ref in zip(weights, ref_weights, strict=True):
        assert same_bits(got, ref)
