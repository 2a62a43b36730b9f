"""Diagnostics on graph models: shared layers, several inputs and outputs, open-length sequences.

Each statistic is checked against a NumPy computation of the same graph, and the gradient of a
shared layer (the sum over its calls) against finite differences of the loss.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn import Add, Concatenate, Dense, Diagnostics, Input, Model, diagnose

LOSSES = {"kind": "categorical_crossentropy", "size": "mse"}


def two_headed(seed: int = 0) -> Model:
    """``shared`` is called twice (on x, then on its own output); two heads read their sum."""
    x = Input(shape=(3,), name="x")
    shared = Dense(3, "tanh", name="shared")
    first = shared(x)
    joined = Add(name="skip")([first, shared(first)])
    kind = Dense(2, "softmax", name="kind")(joined)
    size = Dense(1, name="size")(joined)
    return Model(x, [kind, size], seed=seed, dtype="float64")


def data(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, {"kind": (X[:, 0] > 0).astype(int), "size": X.sum(axis=1)}


def numpy_loss(params: dict, X: np.ndarray, y: dict) -> tuple[float, np.ndarray, np.ndarray]:
    """The two heads' summed loss, and the shared layer's outputs of both calls, by hand."""
    h1 = np.tanh(X @ params["W"] + params["b"])
    h2 = np.tanh(h1 @ params["W"] + params["b"])
    s = h1 + h2
    z = s @ params["Wk"] + params["bk"]
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    cross_entropy = -np.mean(log_p[np.arange(len(X)), y["kind"]])
    size = (s @ params["Ws"] + params["bs"])[:, 0]
    return cross_entropy + np.mean((size - y["size"]) ** 2), h1, h2


def parameters(model: Model) -> dict:
    shared, kind, size = (model.get_layer(n) for n in ("shared", "kind", "size"))
    return {"W": shared.W.copy(), "b": shared.b.copy(), "Wk": kind.W.copy(), "bk": kind.b.copy(),
            "Ws": size.W.copy(), "bs": size.b.copy()}  # fmt: skip


def test_diagnose_a_shared_layer_sums_its_calls_gradients_and_activations():
    model = two_headed()
    X, y = data()
    before = model.get_state()
    report = diagnose(model, X, y, loss=LOSSES)
    value = {key: values[0] for key, values in report.series.items()}
    params = parameters(model)
    _, h1, h2 = numpy_loss(params, X, y)
    both = np.concatenate([h1, h2])  # layer 0 is observed at each of its two calls
    assert value["layer0/act/mean"] == pytest.approx(both.mean(), rel=1e-9)
    assert value["layer0/act/std"] == pytest.approx(both.std(), rel=1e-9)
    assert value["layer0/act/saturated_fraction"] == np.mean(np.abs(both) > 0.99)
    assert value["layer1/act/mean"] == pytest.approx((h1 + h2).mean(), rel=1e-9)
    # The shared kernel's gradient is the sum over both calls: finite differences of the loss.
    step, numeric = 1e-6, np.zeros_like(params["W"])
    for index in np.ndindex(params["W"].shape):
        for sign in (1, -1):
            moved = {**params, "W": params["W"].copy()}
            moved["W"][index] += sign * step
            numeric[index] += sign * numpy_loss(moved, X, y)[0] / (2 * step)
    assert value["layer0/grad_norm/W"] == pytest.approx(np.linalg.norm(numeric), rel=1e-6)
    np.testing.assert_array_equal(model.get_state()["params"], before["params"])
    assert diagnose(model, X, y).series == report.series  # the losses the two heads imply
    labels = [layer["label"] for layer in report.layers]
    assert labels == ["layer 0 'shared'", "layer 1 'skip'", "layer 2 'kind'", "layer 3 'size'"]
    assert [layer["is_output"] for layer in report.layers] == [False, False, True, True]


def test_diagnostics_callback_on_a_graph_records_what_diagnose_measures():
    model, X, y = two_headed(), *data()
    expected = diagnose(model.copy(), X, y, loss=LOSSES).series
    diagnostics = Diagnostics()
    history = model.fit(X, y, loss=LOSSES, epochs=1, batch_size=len(X), optimizer="sgd",
                        callbacks=[diagnostics], verbose=0)  # fmt: skip
    assert history.diagnostics is diagnostics.report
    for key in ("layer0/grad_norm/W", "layer2/grad_norm/W", "layer3/grad_norm", "layer0/act/mean"):
        assert diagnostics.series[key][0] == pytest.approx(expected[key][0], rel=1e-9), key
    assert diagnostics.series["layer0/update_ratio/W"][0] > 0
    assert "of 4 layers" in str(diagnostics.report)


def test_a_finding_in_a_graph_names_the_layer():
    x = Input(shape=(4,), name="x")
    dead = Dense(8, "relu", name="hidden", bias_initializer=lambda s, rng: np.full(s, -20.0))
    joined = Concatenate(name="join")([dead(x), Dense(4, "tanh", name="side")(x)])
    model = Model(x, Dense(2, "softmax", name="out")(joined), seed=0)
    X = np.random.default_rng(0).normal(size=(64, 4))
    report = diagnose(model, X, (X[:, 0] > 0).astype(int))
    (finding,) = [f for f in report.findings if f.kind == "dead_units"]
    assert finding.layer == 0
    assert "layer 0 'hidden' (Dense 8, relu): 100% of units dead" in str(report)


def test_open_length_sequences_count_dead_units_per_feature_over_every_position():
    steps = Input(shape=(None, 2))
    hidden = Dense(16, "relu", name="hidden")
    model = Model(steps, Dense(2, "softmax")(hidden(steps)), seed=0)
    hidden.b = np.r_[np.full(4, -50.0), np.zeros(12)]  # four units that never fire
    rng = np.random.default_rng(0)
    S = rng.normal(size=(30, 7, 2))
    tags = (S[..., 0] > 0).astype(int)
    value = {k: v[0] for k, v in diagnose(model, S, tags).series.items()}
    a = np.maximum(S @ hidden.W + hidden.b, 0).reshape(-1, 16)
    assert value["layer0/act/dead_fraction"] == np.mean(np.all(a == 0, axis=0)) == 4 / 16
    assert value["layer0/act/mean"] == pytest.approx(a.mean(), rel=1e-5)
    diagnostics = Diagnostics()
    model.fit(S, tags, epochs=2, batch_size=10, verbose=0, callbacks=[diagnostics])
    assert diagnostics.series["layer0/act/dead_fraction"][-1] >= 4 / 16


def test_diagnose_takes_several_inputs_by_list_or_name():
    a, b = Input(shape=(4,), name="a"), Input(shape=(2,), name="b")
    model = Model([a, b], Dense(1, "sigmoid", name="p")(Concatenate(name="ab")([a, b])), seed=0)
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(32, 4)), rng.normal(size=(32, 2))
    y = (A[:, 0] > B[:, 0]).astype(float)
    by_list = diagnose(model, [A, B], y).series
    by_name = diagnose(model, {"b": B, "a": A}, y).series
    assert by_list == by_name
    assert by_list["layer0/act/mean"][0] == pytest.approx(np.hstack([A, B]).mean(), rel=1e-6)


def test_diagnose_on_a_graph_refuses_targets_and_losses_by_output_name():
    model, X, y = two_headed(), *data()
    before = model.get_state()
    with pytest.raises(ValueError, match=r"y must be keyed by the model's output names \['kind'"):
        diagnose(model, X, {"kind": y["kind"]}, loss=LOSSES)
    with pytest.raises(ValueError, match=r"loss must be keyed by the model's output names"):
        diagnose(model, X, y, loss={"kind": "mse", "volume": "mse"})
    with pytest.raises(
        ValueError, match=r"y\['size'\] must have one target per sample \(40\), got 5"
    ):
        diagnose(model, X, {**y, "size": y["size"][:5]}, loss=LOSSES)
    with pytest.raises(ValueError, match=r"y\['kind'\] does not fit the loss"):
        diagnose(model, X, {**y, "kind": np.full(40, 7)}, loss=LOSSES)
    np.testing.assert_array_equal(model.get_state()["params"], before["params"])
