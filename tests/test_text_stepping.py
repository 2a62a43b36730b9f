"""Stateful stepping: generation feeds one id per step, carrying the recurrent states."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from scratchnn import GRU, LSTM, Dense, Dropout, Embedding, Input, Model, SimpleRNN
from scratchnn.datasets import Vocabulary
from scratchnn.layers import Bidirectional
from scratchnn.layers.recurrent_cells import GRUCell, LSTMCell
from scratchnn.text import Stepper, generate, steppable

VOCABULARY = Vocabulary("abcdefgh ")


def char_model(*recurrent, dtype="float64", seed=0):
    ids = Input(shape=(None,), dtype="int64")
    x = Embedding(len(VOCABULARY), 6)(ids)
    for layer in recurrent:
        x = layer(x)
    x = Dropout(0.3)(x)
    model = Model(ids, Dense(len(VOCABULARY), "softmax")(x), seed=seed, dtype=dtype)
    model.vocabulary = VOCABULARY
    return model


def stacks():
    return {
        "lstm": lambda: [LSTM(7, return_sequences=True)],
        "gru": lambda: [GRU(5, return_sequences=True)],
        "rnn+lstm": lambda: [SimpleRNN(4, return_sequences=True), LSTM(6, return_sequences=True)],
    }


@pytest.mark.parametrize("name", sorted(stacks()))
def test_each_step_gives_predicts_outputs_at_that_position(name):
    model = char_model(*stacks()[name]())
    sequences = np.random.default_rng(1).integers(0, len(VOCABULARY), size=(3, 12))
    expected = model.predict(sequences)
    expected_logits = model.logits(sequences)
    stepper, scorer = Stepper(model), Stepper(model, logits=True)
    for t in range(sequences.shape[1]):
        np.testing.assert_allclose(stepper.step(sequences[:, t]), expected[:, t], atol=1e-12)
        np.testing.assert_allclose(scorer.step(sequences[:, t]), expected_logits[:, t], atol=1e-12)
    assert stepper.positions == 12
    stepper.reset()
    assert stepper.positions == 0 and stepper.states == {}
    np.testing.assert_allclose(stepper.step(sequences[:, 0]), expected[:, 0], atol=1e-12)


def test_a_last_state_layer_steps_too():
    ids = Input(shape=(None,), dtype="int64")
    last = LSTM(5)(Embedding(9, 3)(ids))  # return_sequences=False: the state after each step
    model = Model(ids, Dense(9, "softmax")(last), seed=0, dtype="float64")
    sequences = np.array([[1, 2, 3, 4], [0, 8, 8, 1]])
    stepper = Stepper(model)
    for t in range(4):
        out = stepper.step(sequences[:, t])
        np.testing.assert_allclose(out, model.predict(sequences[:, : t + 1]), atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stepped_generation_writes_the_rerun_paths_text(dtype):
    model = char_model(LSTM(16, return_sequences=True), dtype=dtype, seed=3)
    for seed, top_k in ((0, None), (1, 3), (2, 1)):
        fast = generate(model, "abc ", 120, temperature=0.9, top_k=top_k, seed=seed)
        # a context longer than the text makes generate run the model over all of it each step
        slow = generate(model, "abc ", 120, temperature=0.9, top_k=top_k, seed=seed, context=999)
        assert fast == slow and len(fast) == 124


def counting(monkeypatch, cell):
    calls = []
    original = cell.run_step  # every step of a layer, in a sequence or one at a time

    def run_step(self, xw, t, hu, states, tape):
        calls.append(len(xw))
        return original(self, xw, t, hu, states, tape)

    monkeypatch.setattr(cell, "run_step", run_step)
    return calls


def test_a_generated_character_costs_one_position_at_any_step(monkeypatch):
    model = char_model(LSTM(8, return_sequences=True), GRU(8, return_sequences=True))
    lstm_steps, gru_steps = counting(monkeypatch, LSTMCell), counting(monkeypatch, GRUCell)
    used = {}
    for length in (10, 11, 200, 201):
        lstm_steps.clear(), gru_steps.clear()
        generate(model, "ab", length, seed=0)
        used[length] = len(lstm_steps)
        assert len(gru_steps) == len(lstm_steps) and set(lstm_steps) == {1}  # one row each
    # the prompt's 2 positions, then one per generated character but the last
    assert used[10] == 11 and used[200] == 201
    assert used[11] - used[10] == used[201] - used[200] == 1  # flat: step 200 costs step 10's
    lstm_steps.clear()
    generate(model, "ab", 30, seed=0, context=999)  # re-running the prefix: quadratic
    assert len(lstm_steps) == sum(range(2, 32))


def test_stepping_writes_nothing_on_the_model_so_threads_share_it():
    model = char_model(LSTM(8, return_sequences=True))
    before = {id(layer): dict(vars(layer)) for layer in model.topology.layers}
    weights = model.get_flat_weights().copy()
    expected = {seed: generate(model, "a", 60, seed=seed) for seed in range(4)}
    results = {}

    def run(seed):
        results[seed] = generate(model, "a", 60, seed=seed)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected
    for layer in model.topology.layers:
        assert vars(layer).keys() == before[id(layer)].keys()
        assert all(vars(layer)[k] is v for k, v in before[id(layer)].items())
    np.testing.assert_array_equal(model.get_flat_weights(), weights)


def test_two_steppers_keep_their_own_states():
    model = char_model(GRU(6, return_sequences=True))
    first, second = Stepper(model), Stepper(model)
    a, b = np.array([1, 2, 3]), np.array([7, 7, 0])
    for t in range(3):
        out_a, out_b = first.step(a[t : t + 1]), second.step(b[t : t + 1])
    np.testing.assert_allclose(out_a, model.predict(a[np.newaxis])[:, -1], atol=1e-12)
    np.testing.assert_allclose(out_b, model.predict(b[np.newaxis])[:, -1], atol=1e-12)


def test_models_that_need_the_whole_sequence_are_not_stepped_but_still_generate():
    backwards = char_model(LSTM(4, return_sequences=True, go_backwards=True))
    both = char_model(Bidirectional(GRU(4, return_sequences=True)))
    ids = Input(shape=(None,), dtype="int64")
    masked = Model(ids, Dense(9, "softmax")(LSTM(4, return_sequences=True)(
        Embedding(9, 3, mask_zero=True)(ids))), seed=0)  # fmt: skip
    for model in (backwards, both, masked):
        assert not steppable(model)
        with pytest.raises(ValueError, match="position-wise .* recurrent layers reading forwards"):
            Stepper(model)
    assert len(generate(both, "ab", 5, seed=0)) == 7
    assert steppable(char_model(LSTM(4, return_sequences=True)))


def test_step_refuses_bad_ids_and_changes_nothing():
    model = char_model(LSTM(4, return_sequences=True))
    stepper = Stepper(model)
    stepper.step(np.array([1, 2]))
    (index,) = stepper.states  # the LSTM's node
    states = [s.copy() for s in stepper.states[index]]
    with pytest.raises(ValueError, match=r"each of the 2 sequences being stepped, got 3"):
        stepper.step(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"shape \(N,\), got \(2, 1\)"):
        stepper.step(np.array([[1], [2]]))
    with pytest.raises(ValueError, match="9"):
        stepper.step(np.array([1, 9]))  # outside the vocabulary's 9 ids
    assert stepper.positions == 1
    for kept, now in zip(states, stepper.states[index], strict=True):
        np.testing.assert_array_equal(kept, now)
    with pytest.raises(TypeError, match="model must be a scratchnn model, got"):
        Stepper("model")
