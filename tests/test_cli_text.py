"""``scratchnn train --text`` and ``scratchnn generate``, run as real subprocesses."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scratchnn import Dense, Sequential, load
from scratchnn.datasets import Vocabulary, load_shakespeare
from scratchnn.text import generate

pytestmark = pytest.mark.slow  # each command starts Python and trains or loads a model


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scratchnn.cli", *args], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text")
    text = load_shakespeare()[:4000]
    (folder / "tiny.txt").write_text(text, encoding="utf-8")
    result = run("train", "--text", str(folder / "tiny.txt"), "--length", "25", "--units", "16",
                 "--embedding", "8", "--epochs", "2", "--seed", "1", "--quiet",
                 "--out", str(folder / "chars.npz"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    return folder, text, result


def test_train_text_saves_a_character_lstm_with_its_vocabulary(trained):
    folder, text, result = trained
    out = result.stdout
    assert "trained on" in out and "4,000 characters" in out and "2 epoch(s)" in out
    assert "127 rows of 25 for training, 32 for validation" in out  # 159 rows, a fifth held out
    assert "nats per character (uniform guessing:" in out and "validation loss" in out
    assert "a sample at temperature 0.8:" in out and f"saved model to {folder}" in out
    model = load(folder / "chars.npz")
    vocabulary = Vocabulary().fit(text)
    assert model.vocabulary == vocabulary
    names = [type(layer).__name__ for layer in model.topology.layers]
    assert names == ["Embedding", "LSTM", "Dense"]
    assert model.topology.layers[1].units == 16 and model.topology.layers[1].return_sequences
    assert model.output_shape == (None, len(vocabulary))


def test_generate_prints_the_prompt_and_what_python_writes_for_the_seed(trained):
    folder, _, _ = trained
    path = str(folder / "chars.npz")
    args = ("generate", path, "--prompt", "ROMEO:", "--length", "80", "--temperature", "0.8")
    first, again = run(*args, "--seed", "3"), run(*args, "--seed", "3")
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout
    expected = generate(load(path), "ROMEO:", 80, temperature=0.8, seed=3)
    assert first.stdout == expected + "\n" and len(expected) == 86
    greedy = run("generate", path, "--prompt", "the", "--length", "20", "--top-k", "1")
    assert greedy.stdout == generate(load(path), "the", 20, top_k=1) + "\n"


def test_text_commands_refuse_bad_input_in_one_line(trained, tmp_path):
    folder, _, _ = trained
    path = str(folder / "chars.npz")
    bad_prompt = run("generate", path, "--prompt", "Café")
    assert bad_prompt.returncode == 2
    assert (
        "not in the vocabulary: 'é'" in bad_prompt.stderr and "Traceback" not in bad_prompt.stderr
    )
    negative = run("generate", str(tmp_path / "none.npz"), "--seed", "-1")
    assert (
        negative.returncode == 2 and "--seed must be a whole number >= 0, got -1" in negative.stderr
    )
    hot = run("generate", path, "--temperature", "0")
    assert hot.returncode == 2 and "must be a number > 0, got 0" in hot.stderr
    plain = Sequential([Dense(2)], seed=0)
    plain.build((3,))
    plain.save(tmp_path / "plain.npz")
    result = run("generate", str(tmp_path / "plain.npz"))
    assert result.returncode == 2 and "keeps no vocabulary" in result.stderr
    missing = run("train", "--text", str(tmp_path / "nothing.txt"))
    assert missing.returncode == 2 and "--text: no such file" in missing.stderr
    both = run("train", "iris", "--text", str(folder / "tiny.txt"))
    assert both.returncode == 2 and "on its file alone: leave out a data set name" in both.stderr

    (tmp_path / "short.txt").write_text("to be", encoding="utf-8")
    short = run("train", "--text", str(tmp_path / "short.txt"), "--length", "10")
    assert short.returncode == 2 and "holds 5 characters: too few" in short.stderr
    assert not (tmp_path / "m.npz").exists()
