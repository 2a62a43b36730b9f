"""Training diagnostics: each statistic against NumPy, each pathology found in the right layer."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from scratchnn import (
    SGD,
    Callback,
    Dense,
    Diagnostics,
    DivergenceWarning,
    ModelCheckpoint,
    Sequential,
    diagnose,
)
from scratchnn.diagnostics import THRESHOLDS, activation_statistics, describe_layers, find_problems
from scratchnn.layers import BatchNorm, Dropout


def blobs(n: int = 256, features: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def train(layers, X, y, optimizer="adam", epochs=4, batch_size=32, **settings):
    model = Sequential(layers, seed=0)
    diagnostics = Diagnostics(**settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        history = model.fit(X, y, loss="sparse_categorical_crossentropy", optimizer=optimizer,
                            epochs=epochs, batch_size=batch_size, verbose=0,
                            callbacks=[diagnostics])  # fmt: skip
    return model, diagnostics, history


def kinds(report) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for finding in report.findings:
        found.setdefault(finding.kind, set()).add(finding.layer)
    return found


def constant(value: float):
    return lambda shape, rng: np.full(shape, value)


# -- each statistic against a direct NumPy computation -------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", None])
def test_activation_statistics_match_numpy(activation):
    rng = np.random.default_rng(1)
    a = (rng.normal(scale=3.0, size=(40, 12)) + 5.0).astype(np.float32)  # mean >> std: no cancel
    if activation == "relu":
        a = np.maximum(a, 0)
        a[:, [2, 5, 7]] = 0.0  # three dead units
    elif activation == "sigmoid":
        a = 1 / (1 + np.exp(-a))
    elif activation == "tanh":
        a = np.tanh(a)
    stats = activation_statistics(a, activation)
    values = a.astype(np.float64)
    # Reduced in the layer's dtype (float32 here): float32 accuracy.
    assert stats["mean"] == pytest.approx(values.mean(), rel=1e-6)
    assert stats["std"] == pytest.approx(values.std(), rel=1e-6)
    assert stats["nonfinite_fraction"] == 0.0
    if activation == "relu":
        assert stats["dead_fraction"] == pytest.approx(np.mean(np.all(a == 0, axis=0)))
        assert stats["dead_fraction"] >= 3 / 12
    else:
        assert "dead_fraction" not in stats
    if activation == "sigmoid":
        assert stats["saturated_fraction"] == pytest.approx(np.mean((a < 0.01) | (a > 0.99)))
    elif activation == "tanh":
        assert stats["saturated_fraction"] == pytest.approx(np.mean(np.abs(a) > 0.99))
    else:
        assert "saturated_fraction" not in stats


def test_activation_sums_merge_batches_without_cancellation():
    from scratchnn.diagnostics import ActivationSums

    rng = np.random.default_rng(2)
    batches = [(0.5 + 1e-3 * rng.normal(size=(n, 6))).astype(np.float32) for n in (7, 30, 1)]
    batches[1][:, 0] = 0.0
    sums = ActivationSums("relu", 6)
    for batch in batches:
        sums.add(batch)
    stats = sums.summary()
    values = np.concatenate(batches).astype(np.float64)
    assert stats["mean"] == pytest.approx(values.mean(), rel=1e-6)
    assert stats["std"] == pytest.approx(values.std(), rel=1e-4)  # std / mean ~ 0.2
    assert stats["dead_fraction"] == 0.0  # column 0 is alive in the other batches


def test_activation_statistics_count_nonfinite_and_average_the_rest():
    a = np.array([[1.0, np.nan], [np.inf, 3.0], [-np.inf, 5.0]])
    stats = activation_statistics(a, None)
    assert stats["nonfinite_fraction"] == pytest.approx(3 / 6)
    assert stats["mean"] == pytest.approx(3.0)
    assert stats["std"] == pytest.approx(np.std([1.0, 3.0, 5.0]))


def numpy_two_layer(X, Y, W1, b1, W2, b2):
    """Forward and backward of Dense(relu) -> Dense(linear) with MSE, by hand."""
    z1 = X @ W1 + b1
    a1 = np.maximum(z1, 0)
    out = a1 @ W2 + b2
    grad_out = 2 * (out - Y) / Y.size  # d mean((out - Y)^2)
    gW2, gb2 = a1.T @ grad_out, grad_out.sum(axis=0)
    delta1 = (grad_out @ W2.T) * (z1 > 0)
    gW1, gb1 = X.T @ delta1, delta1.sum(axis=0)
    return a1, out, {"W": gW1, "b": gb1}, {"W": gW2, "b": gb2}


def small_regression(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(48, 5))
    Y = rng.normal(size=(48, 3))
    model = Sequential([Dense(16, "relu", bias_initializer=constant(0.1)), Dense(3)],
                       seed=seed, dtype="float64")  # fmt: skip
    model.build((5,))
    return model, X, Y


def test_diagnose_matches_a_numpy_forward_and_backward_on_the_same_batch():
    model, X, Y = small_regression()
    p1, p2 = model.layers[0].params, model.layers[1].params
    a1, out, g1, g2 = numpy_two_layer(X, Y, p1["W"], p1["b"], p2["W"], p2["b"])
    series = diagnose(model, X, Y, loss="mse").series
    value = {key: values[0] for key, values in series.items()}
    assert all(len(values) == 1 for values in series.values())
    assert value["layer0/act/mean"] == pytest.approx(a1.mean(), rel=1e-9)
    assert value["layer0/act/std"] == pytest.approx(a1.std(), rel=1e-9)
    assert value["layer0/act/dead_fraction"] == pytest.approx(np.mean(np.all(a1 == 0, axis=0)))
    assert value["layer1/act/mean"] == pytest.approx(out.mean(), rel=1e-9)
    for index, grads in ((0, g1), (1, g2)):
        for name, grad in grads.items():
            assert value[f"layer{index}/grad_norm/{name}"] == pytest.approx(
                np.linalg.norm(grad), rel=1e-9
            )
        total = math.sqrt(sum(np.sum(g**2) for g in grads.values()))
        assert value[f"layer{index}/grad_norm"] == pytest.approx(total, rel=1e-9)
        params = model.layers[index].params
        assert value[f"layer{index}/weight_norm/W"] == pytest.approx(np.linalg.norm(params["W"]))
    layer_norm = [value[f"layer{i}/grad_norm"] for i in (0, 1)]
    assert value["layer1/grad_ratio"] == pytest.approx(layer_norm[1] / layer_norm[0])
    assert not any(key.startswith("layer0/update_ratio") for key in series)  # no step taken


def test_diagnose_without_a_loss_takes_the_fitted_one_or_the_one_the_head_suits():
    X, y = blobs(64)
    classifier = Sequential([Dense(8, "relu"), Dense(2, "softmax")], seed=3)
    by_head = diagnose(classifier, X, y).series  # integer labels: cross-entropy, not mse
    named = diagnose(classifier, X, y, loss="categorical_crossentropy").series
    assert by_head == named
    classifier.fit(X, y, loss="categorical_crossentropy", epochs=1, verbose=0)
    regression = Sequential([Dense(4, "tanh"), Dense(1)], seed=3)
    Y = X[:, :1] * 2.0
    assert diagnose(regression, X, Y).series == diagnose(regression, X, Y, loss="mse").series
    trained = diagnose(classifier, X, y).series  # after fit: the fit's own loss
    assert trained == diagnose(classifier, X, y, loss=classifier.loss).series


def test_diagnose_changes_nothing():
    X, y = blobs(64)
    model = Sequential([Dense(8, "relu"), BatchNorm(), Dropout(0.5), Dense(2, "softmax")], seed=3)
    model.fit(X, y, loss="sparse_categorical_crossentropy", epochs=1, verbose=0)
    before, grads = model.get_state(), model.grads.copy()
    report = diagnose(model, X, y, "sparse_categorical_crossentropy")
    after = model.get_state()
    np.testing.assert_array_equal(after["params"], before["params"])
    np.testing.assert_array_equal(model.grads, grads)
    for saved, now in zip(before["layers"], after["layers"], strict=True):
        for key in saved:
            np.testing.assert_array_equal(now[key], saved[key])
    assert after["rng"] == before["rng"]
    assert report.series["layer1/state/running_var/mean"][0] == pytest.approx(
        float(np.mean(model.layers[1].state["running_var"]))
    )


def test_callback_statistics_match_numpy_for_one_full_batch_step():
    model, X, Y = small_regression()
    initial = [{k: v.copy() for k, v in layer.params.items()} for layer in model.layers]
    lr, sample = 0.05, 20
    diagnostics = Diagnostics(sample=sample)
    model.fit(X, Y, loss="mse", optimizer=SGD(learning_rate=lr), epochs=1, batch_size=len(X),
              shuffle=False, verbose=0, callbacks=[diagnostics])  # fmt: skip
    a1, _, g1, g2 = numpy_two_layer(X, Y, *initial[0].values(), *initial[1].values())
    value = {key: values[0] for key, values in diagnostics.series.items()}
    first = a1[:sample]  # only the sampled rows count for activations
    assert value["layer0/act/mean"] == pytest.approx(first.mean(), rel=1e-9)
    assert value["layer0/act/std"] == pytest.approx(first.std(), rel=1e-9)
    assert value["layer0/act/dead_fraction"] == pytest.approx(np.mean(np.all(first == 0, axis=0)))
    for index, grads in ((0, g1), (1, g2)):
        for name, grad in grads.items():
            norm = np.linalg.norm(grad)
            assert value[f"layer{index}/grad_norm/{name}"] == pytest.approx(norm, rel=1e-9)
            # SGD: update = -lr * grad, so the ratio is lr ||g|| / ||P_before||; NaN for the
            # zero-initialised bias of the output layer.
            weight = np.linalg.norm(initial[index][name])
            expected = lr * norm / weight if weight > 0 else np.nan
            assert value[f"layer{index}/update_ratio/{name}"] == pytest.approx(
                expected, rel=1e-6, nan_ok=True
            )
            assert value[f"layer{index}/weight_norm/{name}"] == pytest.approx(
                np.linalg.norm(model.layers[index].params[name])
            )


class Spy(Callback):
    """Keeps the fit's step and counts the observer calls per batch."""

    def on_train_begin(self, logs=None):
        self.step = self.params["step"]


def test_every_samples_batches_and_the_observer_is_removed_after_fit():
    X, y = blobs(100)
    spy = Spy()
    diagnostics = Diagnostics(every=3)
    model = Sequential([Dense(4, "relu"), Dense(2, "softmax")], seed=0)
    calls = []
    original = diagnostics._observe

    def counting(index, layer, output):
        calls.append(diagnostics._batch)
        original(index, layer, output)

    diagnostics._observe = counting
    model.fit(X, y, loss="sparse_categorical_crossentropy", epochs=1, batch_size=10, verbose=0,
              callbacks=[spy, diagnostics])  # fmt: skip
    sampled = sorted(set(b for b in calls if b % 3 == 0))
    assert sampled == [0, 3, 6, 9]
    assert spy.step.observers == []
    # The histograms' rows: the sampled batches (0, 3, 6, 9) of the last epoch, 10 rows each.
    assert diagnostics.report.activations[0].shape == (40, 4)
    assert diagnostics.report.activations_from == (
        "sampled from every 3rd batch of epoch 1 (up to 64 rows of each), in training mode"
    )


def test_the_kept_activations_stop_at_a_budget_of_values_per_layer(monkeypatch):
    from scratchnn.diagnostics import recorder

    monkeypatch.setattr(recorder, "ACTIVATION_VALUES", 8 * 100)
    X, y = blobs(256)
    _, diagnostics, _ = train([Dense(8, "relu"), Dense(2, "softmax")], X, y, epochs=2)
    kept = diagnostics.report.activations
    assert kept[0].shape == (100, 8)  # 800 values of 8 per row
    assert kept[1].shape == (256, 2)  # 400 rows allowed, 256 seen
    assert "epoch 2" in diagnostics.report.activations_from


def test_fit_without_diagnostics_has_no_observer():
    X, y = blobs(40)
    spy = Spy()
    model = Sequential([Dense(4, "relu"), Dense(2, "softmax")], seed=0)
    model.fit(X, y, loss="sparse_categorical_crossentropy", verbose=0, callbacks=[spy])
    assert spy.step.observers == []


# -- each pathology, found in the right layer ---------------------------------------------------
def test_dead_relus_from_a_large_negative_bias_are_found_in_that_layer():
    X, y = blobs()
    layers = [Dense(16, "relu"), Dense(16, "relu", bias_initializer=constant(-20.0)),
              Dense(2, "softmax")]  # fmt: skip
    _, diagnostics, _ = train(layers, X, y)
    dead = [f for f in diagnostics.report.findings if f.kind == "dead_units"]
    assert [f.layer for f in dead] == [1]
    assert dead[0].value == 1.0 and dead[0].since_epoch == 1
    assert "layer 1 (Dense 16, relu): 100% of units dead" in str(diagnostics.report)
    assert "LeakyReLU" in dead[0].advice


def test_sigmoids_fed_inputs_scaled_by_100_are_found_saturated():
    X, y = blobs()
    _, diagnostics, _ = train([Dense(32, "sigmoid"), Dense(2, "softmax")], X * 100, y)
    found = kinds(diagnostics.report)
    assert found.get("saturation") == {0}
    value = diagnostics.series["layer0/act/saturated_fraction"][-1]
    assert value > 0.8
    assert f"{100 * value:.0f}% of activations saturated" in str(diagnostics.report)


def test_a_ten_layer_sigmoid_stack_has_vanishing_gradients_at_the_first_layer():
    X, y = blobs()
    layers = [Dense(16, "sigmoid") for _ in range(10)] + [Dense(2, "softmax")]
    _, diagnostics, _ = train(layers, X, y, epochs=2)
    vanishing = [f for f in diagnostics.report.findings if f.kind == "vanishing_gradients"]
    assert [f.layer for f in vanishing] == [0]
    first = diagnostics.series["layer0/grad_norm"][-1]
    last = diagnostics.series["layer10/grad_norm"][-1]
    assert vanishing[0].value == pytest.approx(first / last)
    assert first / last < THRESHOLDS["vanishing"]


def test_learning_rate_10_gives_a_large_update_ratio():
    X, y = blobs()
    _, diagnostics, _ = train([Dense(32, "relu"), Dense(2, "softmax")], X, y,
                              optimizer=SGD(learning_rate=10.0), epochs=2)  # fmt: skip
    ratios = [f for f in diagnostics.report.findings if f.kind == "update_ratio"]
    assert 0 in {f.layer for f in ratios}
    assert all(f.value >= THRESHOLDS["update_ratio"] for f in ratios)
    assert "the learning rate is too high for this layer" in str(diagnostics.report)


def test_a_diverging_run_reports_its_unfinished_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4))
    model = Sequential([Dense(8, "relu"), Dense(1)], seed=0)
    diagnostics = Diagnostics()
    with pytest.warns(DivergenceWarning):
        history = model.fit(X, X.sum(axis=1) * 100, loss="mse", optimizer=SGD(learning_rate=1e3),
                            epochs=5, batch_size=8, verbose=0, callbacks=[diagnostics])  # fmt: skip
    completed = len(history.epoch)
    assert diagnostics.report.epochs == completed + 1  # the diverged epoch, as far as it went
    found = kinds(diagnostics.report)
    assert found["non_finite"] == {1}  # the output overflowed first
    assert found["update_ratio"] == {0, 1}
    # the norms of finite weights stay finite however large (issue 27): a ratio of ~1e13
    ratio = max(f.value for f in diagnostics.report.findings if f.kind == "update_ratio")
    assert 1e6 < ratio < math.inf
    assert f"update/weight ratio of W is {ratio:.2g}" in str(diagnostics.report)


def test_a_healthy_network_on_digits_gets_no_finding():
    pytest.importorskip("sklearn")
    from scratchnn.datasets import load_digits

    X, y = load_digits()
    X = X / 16.0
    model = Sequential([Dense(64, "relu"), Dense(32, "relu"), Dense(10, "softmax")], seed=0)
    diagnostics = Diagnostics()
    history = model.fit(X, y, loss="sparse_categorical_crossentropy", epochs=5, batch_size=64,
                        verbose=0, callbacks=[diagnostics], metrics=["accuracy"])  # fmt: skip
    assert history.history["accuracy"][-1] > 0.9
    assert diagnostics.report.findings == []
    assert diagnostics.report.healthy
    assert "no finding" in str(diagnostics.report)
    assert history.diagnostics is diagnostics.report


# -- report, thresholds, checkpoints -------------------------------------------------------------
def test_find_problems_reads_the_series_and_says_since_when():
    model = Sequential([Dense(4, "relu"), Dense(2, "softmax")], seed=0)
    model.build((3,))
    layers = describe_layers(model)
    series = {"layer0/act/dead_fraction": [0.1, 0.6, 0.2, 0.7, float("nan"), 0.8]}
    (finding,) = find_problems(layers, series)
    assert (finding.kind, finding.layer, finding.value, finding.since_epoch) == (
        "dead_units", 0, 0.8, 4,
    )  # fmt: skip
    assert find_problems(layers, series, {"dead_fraction": 0.9}) == []
    assert find_problems(layers, {"layer0/act/dead_fraction": [0.9, 0.1]}) == []


def test_an_update_ratio_too_big_early_is_found_after_it_recovers():
    model = Sequential([Dense(4, "relu"), Dense(2, "softmax")], seed=0)
    model.build((3,))
    layers = describe_layers(model)
    late = {"layer1/update_ratio/W": [0.01, 0.2, 0.3]}
    (finding,) = find_problems(layers, late)
    assert (finding.kind, finding.layer, finding.value, finding.since_epoch) == (
        "update_ratio", 1, 0.3, 2,
    )  # fmt: skip
    assert "update/weight ratio of W is 0.3 (rule of thumb: about 1e-3) since epoch 2" in str(
        finding.message
    )
    early = {"layer0/update_ratio/W": [0.25, 0.5, 0.01, 0.001]}
    (finding,) = find_problems(layers, early)
    assert (finding.value, finding.since_epoch) == (0.5, None)
    assert "reached 0.5 (rule of thumb: about 1e-3) in epochs 1-2 of 4, then lower" in (
        finding.message
    )
    assert find_problems(layers, {"layer0/update_ratio/b": [5.0]}) == []  # biases start at 0


def test_gradients_that_vanish_entirely_say_so():
    model = Sequential([Dense(4, "relu"), Dense(4, "relu"), Dense(2, "softmax")], seed=0)
    model.build((3,))
    series = {"layer0/grad_norm": [0.0, 0.0], "layer2/grad_norm": [1.0, 2.0]}
    (finding,) = find_problems(describe_layers(model), series)
    assert finding.kind == "vanishing_gradients"
    assert "gradients vanish entirely (a norm of 0) from the last layer (2)" in finding.message


def test_report_is_printable_and_a_json_dict():
    X, y = blobs()
    _, diagnostics, _ = train([Dense(32, "sigmoid"), Dense(2, "softmax")], X * 100, y, epochs=2)
    as_dict = diagnostics.report.to_dict()
    text = json.dumps(as_dict, allow_nan=False)
    assert json.loads(text)["findings"][0]["kind"] == "saturation"
    assert as_dict["layers"][0]["description"] == "Dense 32, sigmoid"
    assert set(as_dict["thresholds"]) == set(THRESHOLDS)
    assert len(as_dict["series"]["layer0/act/mean"]) == 2


def test_a_checkpointed_run_with_diagnostics_resumes_with_its_series(tmp_path):
    X, y = blobs(96)

    def fit(epochs, callbacks, resume_from=None):
        model = Sequential([Dense(8, "relu"), BatchNorm(), Dense(2, "softmax")], seed=1)
        return model.fit(X, y, loss="sparse_categorical_crossentropy", epochs=epochs,
                         batch_size=16, verbose=0, callbacks=callbacks,
                         resume_from=resume_from)  # fmt: skip

    whole = Diagnostics()
    fit(4, [whole])
    path = str(tmp_path / "run.npz")
    fit(2, [Diagnostics(), ModelCheckpoint(path)])
    resumed = Diagnostics()
    history = fit(4, [resumed, ModelCheckpoint(str(tmp_path / "again.npz"))], resume_from=path)
    assert len(history.epoch) == 4
    assert resumed.series.keys() == whole.series.keys()
    for key, values in whole.series.items():
        np.testing.assert_allclose(resumed.series[key], values, rtol=1e-6, err_msg=key)
    # Other settings find no saved series of theirs: the first epochs are NaN, the rest recorded.
    other = Diagnostics(sample=8)
    fit(4, [other], resume_from=path)
    values = other.series["layer0/grad_norm"]
    assert len(values) == 4 and np.isnan(values[:2]).all() and np.isfinite(values[2:]).all()


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"every": 0}, ValueError, "every"),
        ({"sample": "all"}, TypeError, "sample"),
        ({"thresholds": {"dead": 0.5}}, ValueError, "unknown names ['dead']"),
        ({"thresholds": {"dead_fraction": -1}}, ValueError, "thresholds['dead_fraction']"),
        ({"thresholds": [0.5]}, TypeError, "thresholds must be a dict"),
    ],
)
def test_bad_settings_are_refused_by_name(settings, error, message):
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        Diagnostics(**settings)


def test_diagnose_refuses_bad_input_by_name():
    model, X, Y = small_regression()
    before = model.get_state()
    with pytest.raises(TypeError, match="model must be a scratchnn Sequential"):
        diagnose("model", X, Y)
    with pytest.raises(ValueError, match="X must have 5 features"):
        diagnose(model, X[:, :4], Y)
    with pytest.raises(ValueError, match="same number|length|samples"):
        diagnose(model, X, Y[:10])
    with pytest.raises(ValueError, match="y does not fit the loss"):
        diagnose(model, X, np.arange(48), loss="sparse_categorical_crossentropy")
    np.testing.assert_array_equal(model.get_state()["params"], before["params"])


# -- pictures -------------------------------------------------------------------------------------
def test_diagnostic_plots_draw_the_recorded_series(tmp_path):
    pytest.importorskip("matplotlib")
    from scratchnn import plot

    X, y = blobs()
    layers = [Dense(8, "relu"), Dense(8, "tanh"), Dense(2, "softmax")]
    _, diagnostics, history = train(layers, X, y, epochs=3)
    fig = plot.plot_gradient_norms(history, tmp_path / "grads.png")
    lines = {line.get_label(): line.get_ydata() for line in fig.axes[0].lines}
    np.testing.assert_allclose(lines["0: Dense 8, relu"], diagnostics.series["layer0/grad_norm"])
    assert len(lines) == 3
    fig = plot.plot_update_ratios(diagnostics.report, tmp_path / "updates.png")
    lines = {line.get_label(): line.get_ydata() for line in fig.axes[0].lines}
    expected = diagnostics.series["layer1/update_ratio/W"]
    np.testing.assert_allclose(lines["1: Dense 8, tanh"], expected)
    assert "rule of thumb 1e-3" in lines
    fig = plot.plot_dead_units(diagnostics, tmp_path / "dead.png")
    dead, saturated = ({line.get_label() for line in ax.lines} for ax in fig.axes)
    assert "0: Dense 8, relu" in dead and "1: Dense 8, tanh" in saturated
    fig = plot.plot_activation_histograms(diagnostics, tmp_path / "acts.png", bins=10)
    assert len(fig.axes) == 3
    counts = [patch.get_height() for patch in fig.axes[1].patches]
    assert sum(counts) == diagnostics.report.activations[1].size
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes] == [
        ("output value", "count (rows x units)")
    ] * 3
    (note,) = fig.texts  # how many rows, and which
    assert len(diagnostics.report.activations[0]) == len(X)  # every row, not the last batch
    assert note.get_text() == (
        f"{len(X)} rows, sampled from the batches of epoch 3 (up to 64 rows of each), in "
        "training mode"
    )
    for name in ("grads", "updates", "dead", "acts"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(TypeError, match="diagnostics must be a Diagnostics callback"):
        plot.plot_gradient_norms({"loss": [1.0]})


# -- command line ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_train_diagnose_prints_findings_and_writes_pictures(tmp_path):
    import subprocess
    import sys

    def train_cli(*options):
        return subprocess.run(
            [sys.executable, "-m", "scratchnn.cli", "train", "blobs", "--n-samples", "120",
             "--layers", "8", "--epochs", "5", "--early-stopping", "off", "--seed", "1",
             "--quiet", "--diagnose", *options],
            capture_output=True, text=True,
        )  # fmt: skip

    healthy = train_cli("--lr", "0.01")
    assert healthy.returncode == 0, healthy.stderr
    assert "Diagnostics over 5 epoch(s) of 2 layers: no finding" in healthy.stdout
    broken = train_cli("--optimizer", "sgd", "--lr", "30", "--plots", str(tmp_path))
    assert broken.returncode == 0, broken.stderr
    assert "layer 0 (Dense 8, relu): " in broken.stdout
    assert "of units dead" in broken.stdout
    for name in ("gradients", "updates", "dead_units", "activations"):
        path = tmp_path / f"diagnostics_{name}.png"
        assert f"wrote {path}" in broken.stdout
        assert path.read_bytes()[:4] == b"\x89PNG"


def test_vanishing_gradients_in_early_epochs_are_reported_as_a_slow_start():
    model = Sequential([Dense(4, "sigmoid"), Dense(4, "sigmoid"), Dense(2, "softmax")], seed=0)
    model.build((3,))
    layers = describe_layers(model)
    series = {"layer0/grad_norm": [1e-6, 1e-5, 1e-2, 0.1], "layer2/grad_norm": [1.0] * 4}
    (finding,) = find_problems(layers, series)
    assert (finding.kind, finding.layer, finding.since_epoch) == ("vanishing_gradients", 0, None)
    assert finding.value == pytest.approx(1e-6)
    assert "gradients shrink by 1.0e-06" in finding.message
    assert "in epochs 1-2 of 4, then recovered" in finding.message
    series["layer0/grad_norm"] = [1.0, 1e4, 1e5, 1e5]
    (finding,) = find_problems(layers, series)
    assert (finding.kind, finding.since_epoch) == ("exploding_gradients", 2)
    assert "gradients grow by 1.0e+05" in finding.message
