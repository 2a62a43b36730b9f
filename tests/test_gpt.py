"""A small GPT (examples/gpt.py's build_gpt): gradients, files, resume, reports, generation."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

import scratchnn
from scratchnn import AdamW, ModelCheckpoint, gradcheck
from scratchnn.datasets import Vocabulary
from scratchnn.diagnostics import diagnose
from scratchnn.layers import MultiHeadAttention
from scratchnn.text import Stepper, generate, steppable

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
VOCABULARY = Vocabulary("abcdefg ")


def _example(name: str):
    sys.path.insert(0, str(EXAMPLES))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(EXAMPLES))


def tiny_gpt(dtype="float64", seed=0, context=12, dropout=0.0, width=8):
    model = _example("gpt").build_gpt(len(VOCABULARY), context=context, layers=2, heads=2,
                                      width=width, dropout=dropout, seed=seed, dtype=dtype)  # fmt: skip
    model.vocabulary = VOCABULARY
    return model


def rows(count=6, length=9, seed=0):
    return np.random.default_rng(seed).integers(0, len(VOCABULARY), (count, length + 1))


def test_a_two_block_gpt_matches_finite_differences():
    data = rows(3, 6)
    report = gradcheck(tiny_gpt(width=4), data[:, :-1], data[:, 1:], "categorical_crossentropy",
                       check_input=False)  # fmt: skip
    assert report.worst < 1e-6, report
    names = {name.split(".")[0] for name in report.errors}
    assert {"block0_attention", "block1_attention", "block1_mlp_in", "position_embedding",
            "token_embedding", "final_norm", "head"} <= names  # fmt: skip
    assert len(report.errors) == 2 + 2 * (2 + 8 + 2 + 4) + 2 + 2  # every array of the model


def test_a_gpt_saves_and_loads_to_the_same_outputs_and_text(tmp_path):
    model = tiny_gpt("float32")
    data = rows()
    model.fit(data[:, :-1], data[:, 1:], loss="categorical_crossentropy", epochs=1,
              optimizer=AdamW(1e-2, clipnorm=1.0), batch_size=3, verbose=0)  # fmt: skip
    model.save(tmp_path / "gpt.npz")
    again = scratchnn.load(tmp_path / "gpt.npz")
    np.testing.assert_array_equal(again.predict(data), model.predict(data))
    assert generate(again, "abc", 8, seed=1) == generate(model, "abc", 8, seed=1)


def test_a_gpt_run_resumed_from_its_checkpoint_is_bit_identical(tmp_path):
    data = rows(12, 9)
    fit = {"loss": "categorical_crossentropy", "batch_size": 4, "verbose": 0}

    def optimizer():
        return AdamW(3e-3, weight_decay=0.1, clipnorm=0.5)

    full = tiny_gpt("float32", dropout=0.1)
    full_history = full.fit(data[:, :-1], data[:, 1:], epochs=3, optimizer=optimizer(), **fit)
    path = tmp_path / "run.npz"
    cut = tiny_gpt("float32", dropout=0.1)
    cut.fit(data[:, :-1], data[:, 1:], epochs=1, optimizer=optimizer(),
            callbacks=[ModelCheckpoint(path)], **fit)  # fmt: skip
    resumed = tiny_gpt("float32", dropout=0.1)
    history = resumed.fit(data[:, :-1], data[:, 1:], epochs=3, optimizer=optimizer(),
                          resume_from=path, **fit)  # fmt: skip
    np.testing.assert_array_equal(resumed.params, full.params)
    assert history.history == full_history.history
    assert resumed.optimizer.iterations == full.optimizer.iterations == 9


def test_summary_lists_every_block_and_counts_the_parameters(capsys):
    model = tiny_gpt()
    model.summary()
    printed = capsys.readouterr().out
    for name in ("block0_attention (MultiHeadAttention)", "block1_mlp_in (Dense)",
                 "position_embedding (PositionEmbedding)", "final_norm (LayerNormalization)"):  # fmt: skip
        assert name in printed
    assert f"Total params: {model.params.size}" in printed


def test_diagnostics_report_each_layer_of_each_block_by_name():
    model = tiny_gpt("float32")
    data = rows()
    report = diagnose(model, data[:, :-1], data[:, 1:], loss="categorical_crossentropy")
    names = [layer["label"].split("'")[1] for layer in report.layers]
    for block in ("block0_", "block1_"):  # a block is its layers' name prefix
        assert [n[len(block) :] for n in names if n.startswith(block)] == [
            "norm1", "attention", "residual1", "norm2", "mlp_in", "mlp_out", "residual2"
        ]  # fmt: skip
    attention = names.index("block1_attention")
    assert report.layers[attention]["description"] == "MultiHeadAttention"
    assert report.series[f"layer{attention}/grad_norm/Wq"][0] > 0
    assert report.healthy, str(report)


def test_each_step_gives_predicts_logits_at_that_position():
    model = tiny_gpt()
    assert steppable(model)
    sequences = rows(3, 11)[:, :12]
    expected = model.logits(sequences)
    stepper = Stepper(model, logits=True)
    for t in range(12):
        np.testing.assert_allclose(stepper.step(sequences[:, t]), expected[:, t], atol=1e-12)
    assert stepper.window == 12


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_generating_with_the_cache_writes_the_rerun_paths_text(dtype):
    model = tiny_gpt(dtype, seed=3)
    for seed, top_k in ((0, None), (1, 3)):
        cached = generate(model, "ab", 9, temperature=0.9, top_k=top_k, seed=seed)
        rerun = generate(model, "ab", 9, temperature=0.9, top_k=top_k, seed=seed, context=12)
        assert cached == rerun and len(cached) == 11
        # past the 12 positions of the table, the last 12 characters are rerun each step
        longer = generate(model, "ab", 30, temperature=0.9, top_k=top_k, seed=seed)
        assert longer == generate(model, "ab", 30, temperature=0.9, top_k=top_k, seed=seed,
                                  context=12)  # fmt: skip


def test_a_generated_character_costs_one_position_of_attention(monkeypatch):
    """Within the window each attention sees one new position per step, (N, 1, D), and a
    cache one longer than before: O(t) work at step t, never a rerun of the prefix."""
    model = tiny_gpt()
    seen, reruns = [], []
    step, forward = MultiHeadAttention.forward_step, MultiHeadAttention.forward

    def counting_step(self, inputs, cache=None):
        seen.append(([x.shape for x in inputs], None if cache is None else cache["key"].shape))
        return step(self, inputs, cache)

    def counting_forward(self, inputs, training=False, mask=None):
        reruns.append(inputs[0].shape)
        return forward(self, inputs, training, mask)

    monkeypatch.setattr(MultiHeadAttention, "forward_step", counting_step)
    monkeypatch.setattr(MultiHeadAttention, "forward", counting_forward)
    generate(model, "abc", 9, seed=0)  # 3 + 9 = 12 positions: the whole window
    assert reruns == []
    assert len(seen) == 2 * 11  # two blocks, the 11 positions before the last character
    assert {tuple(shapes[0]) for shapes, _ in seen} == {(1, 1, 8)}
    cached = [keys[2] for _, keys in seen[::2][1:]]  # block 0's cache before each step
    assert cached == list(range(1, 11))  # (N, heads, t, key_dim): one more each step
