"""Diagnostics of recurrent layers: the gradient's norm against the time step, and findings
when it vanishes or explodes over time."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scratchnn import Dense, Diagnostics, Input, Model, Sequential, diagnose
from scratchnn.diagnostics import THRESHOLDS
from scratchnn.diagnostics.over_time import StepNormSums, first_to_last
from scratchnn.layers import GRU, LSTM, Embedding, SimpleRNN
from scratchnn.losses import get_loss
from scratchnn.training import TrainingStep

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 100, 4))  # standardised features
Y = RNG.normal(size=(64, 1))  # one target per sequence: the loss is at the last step only


def _ratio(layer, steps):
    model = Sequential([layer, Dense(1)], seed=0, dtype="float64")
    report = diagnose(model, X[:, :steps], Y, loss="mse")
    return report, report.series["layer0/time_grad_ratio"][0]


def test_a_simple_rnn_over_100_steps_loses_its_gradient_and_an_lstm_much_less():
    report, simple = _ratio(SimpleRNN(16), 100)
    assert simple < 1e-12  # measured 1.9e-13: about 0.72 kept a step back
    (finding,) = report.findings
    assert finding.kind == "vanishing_over_time" and finding.layer == 0
    assert finding.threshold == THRESHOLDS["time_vanishing"] == 1e-3
    assert finding.value == simple
    assert f"shrinks by {simple:.1e} from its last time steps to its first" in finding.message
    assert "LSTM" in finding.advice and "shorter" in finding.advice
    _, lstm = _ratio(LSTM(16), 100)
    _, without_forget_bias = _ratio(LSTM(16, unit_forget_bias=False), 100)
    assert 1e-9 < lstm < 1e-7  # measured 1.5e-8: five orders more than SimpleRNN keeps
    assert lstm > 1e4 * simple
    assert without_forget_bias < 1e-12 * lstm  # 5.8e-21: the forget bias of 1 is what keeps it


def test_short_sequences_keep_their_gradient_and_raise_no_finding():
    report, ratio = _ratio(SimpleRNN(16), 10)
    assert 0.01 < ratio < 0.2  # measured 0.059
    assert report.healthy
    _, gru = _ratio(GRU(16), 50)  # GRU's update gate starts at 1/2: at 50 steps it has vanished
    assert gru < 1e-6


def test_the_curve_is_the_mean_norm_of_the_input_gradient_per_step():
    model = Sequential([SimpleRNN(8), Dense(1)], seed=3, dtype="float64")
    x = X[:16, :12]
    report = diagnose(model, x, Y[:16], loss="mse")
    layer = model.layers[0]
    assert layer.needs_input_grad is False  # the first layer skips dL/dx again after diagnose
    layer.needs_input_grad = True
    grad = TrainingStep(model, get_loss("mse")).loss_and_gradients(x, Y[:16]).input_gradient
    layer.needs_input_grad = False
    by_hand = np.linalg.norm(grad, axis=-1).mean(axis=0)
    np.testing.assert_allclose(report.time_gradients[0], by_hand, rtol=1e-12)
    expected = by_hand[:1].mean() / by_hand[-1:].mean()  # 12 steps: windows of one step
    assert report.series["layer0/time_grad_ratio"][0] == pytest.approx(expected, rel=1e-12)


def test_a_layer_reading_backwards_is_measured_in_its_reading_order():
    x = X[:16, :20]
    forwards = Sequential([SimpleRNN(8), Dense(1)], seed=4, dtype="float64")
    backwards = Sequential([SimpleRNN(8, go_backwards=True), Dense(1)], seed=4, dtype="float64")
    curve = diagnose(forwards, x[:, ::-1], Y[:16], loss="mse").time_gradients[0]
    np.testing.assert_allclose(
        diagnose(backwards, x, Y[:16], loss="mse").time_gradients[0], curve, rtol=1e-10
    )
    assert curve[0] < curve[-1]  # first read, smallest


def test_padded_steps_are_left_out_of_the_mean_over_rows():
    """Two rows, lengths 6 and 3: at steps 4-6 the curve is the long row's norm alone. Each
    row's share of the mean loss is 1/2, so its gradient is half what it is alone."""
    ids = Input(shape=(None,), dtype="int64")
    h = LSTM(4)(Embedding(10, 3, mask_zero=True)(ids))
    model = Model(ids, Dense(1)(h), seed=0, dtype="float64")
    padded, targets = np.array([[3, 1, 4, 1, 5, 9], [2, 7, 2, 0, 0, 0]]), np.array([[0.5], [-1.0]])
    curve = diagnose(model, padded, targets, loss="mse").time_gradients[1]
    long = diagnose(model, padded[:1], targets[:1], loss="mse").time_gradients[1]
    short = diagnose(model, padded[1:, :3], targets[1:], loss="mse").time_gradients[1]
    np.testing.assert_allclose(curve[3:], long[3:] / 2, rtol=1e-12)
    np.testing.assert_allclose(curve[:3], (long[:3] + short) / 4, rtol=1e-12)


def test_an_exploding_gradient_over_time_is_found_with_the_advice_to_clip():
    model = Sequential([SimpleRNN(8, activation="linear"), Dense(1)], seed=0, dtype="float64")
    model.build((40, 4))
    layer = model.layers[0]
    layer.params["U"][...] *= 1.3  # an orthogonal U scaled: every step back multiplies by 1.3
    report = diagnose(model, 0.01 * X[:32, :40], Y[:32], loss="mse")
    (finding,) = report.findings
    assert finding.kind == "exploding_over_time"
    assert finding.value == report.series["layer0/time_grad_ratio"][0]
    assert 1e4 < finding.value < 1.5e4  # measured 1.2e4, about 1.3 ** 36 (first 4 over last 4)
    assert "grows by 1.2e+04 from its last time steps to its first" in finding.message
    assert "clip the gradients" in finding.advice


def test_step_norms_leave_out_padded_rows_and_compare_the_first_tenth_with_the_last():
    grad = np.zeros((2, 20, 2))
    grad[:, :, 0] = np.arange(1, 21)  # row norms 1..20 at steps 1..20
    grad[1, 15:] = 0.0  # the second row is padded from step 16: left out there
    grad[:, 10] = 0.0  # no row has a gradient at step 11: NaN
    sums = StepNormSums()
    sums.add(grad)
    curve = sums.curve()
    np.testing.assert_array_equal(curve[:10], np.arange(1, 11))
    assert np.isnan(curve[10])
    np.testing.assert_array_equal(curve[15:], np.arange(16, 21))
    # 19 steps with a value: windows of 1 step, the first (1) over the last (20)
    assert first_to_last(curve) == pytest.approx(1 / 20)
    assert first_to_last(np.array([0.0, 1.0])) == 0.0
    backwards = StepNormSums(backwards=True)
    backwards.add(grad)
    np.testing.assert_array_equal(backwards.curve(), curve[::-1])


def test_the_callback_records_every_epoch_and_changes_no_weight():
    x, y = X[:32, :30].astype(np.float32), Y[:32].astype(np.float32)

    def fit(callbacks):
        model = Sequential([SimpleRNN(8), Dense(1)], seed=5)
        history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=callbacks)
        return model, history

    plain, _ = fit([])
    model, history = fit([Diagnostics()])
    np.testing.assert_array_equal(model.params, plain.params)  # measuring changes nothing
    assert model.layers[0].needs_input_grad is False
    report = history.diagnostics
    ratios = report.series["layer0/time_grad_ratio"]
    assert len(ratios) == 3 and all(r < 1e-3 for r in ratios)  # measured 2.7e-4
    assert len(report.time_gradients[0]) == 30
    assert report.time_gradients[0][-1] > report.time_gradients[0][0]
    as_dict = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert len(as_dict["time_gradients"]["layer0"]) == 30
    assert [f["kind"] for f in as_dict["findings"]] == ["vanishing_over_time"]


def test_the_time_gradient_plot_draws_the_curve(tmp_path):
    pytest.importorskip("matplotlib")
    from scratchnn import plot

    model = Sequential([LSTM(8), Dense(1)], seed=0, dtype="float64")
    report = diagnose(model, X[:16, :25], Y[:16], loss="mse")
    fig = plot.plot_time_gradients(report, tmp_path / "time.png")
    (line,) = fig.axes[0].lines
    assert line.get_label() == "0: LSTM 8"
    np.testing.assert_array_equal(line.get_ydata(), report.time_gradients[0])
    assert (tmp_path / "time.png").read_bytes()[:4] == b"\x89PNG"
    dense = diagnose(Sequential([Dense(1)], seed=0), X[:4, 0], Y[:4], loss="mse")
    with pytest.raises(ValueError, match="no gradient over time: the model has no recurrent"):
        plot.plot_time_gradients(dense)


def test_a_diverging_fit_leaves_the_first_layer_skipping_its_input_gradient():
    model = Sequential([SimpleRNN(4, activation="linear"), Dense(1)], seed=0)
    x = X[:16, :20].astype(np.float32)
    with pytest.warns(RuntimeWarning, match="training stopped"):
        model.fit(x, 1e30 * Y[:16].astype(np.float32), epochs=3, batch_size=16, verbose=0,
                  optimizer="sgd", callbacks=[Diagnostics()])  # fmt: skip
    assert model.layers[0].needs_input_grad is False
