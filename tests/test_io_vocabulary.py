"""Model files keep a text model's Vocabulary: saved in the header, checked on load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scratchnn import LSTM, Dense, Embedding, Input, Model, ModelFileError, Sequential, load
from scratchnn.datasets import Vocabulary
from scratchnn.io import save
from scratchnn.text import generate


def char_model(size=6):
    ids = Input(shape=(None,), dtype="int64")
    x = LSTM(8, return_sequences=True)(Embedding(size, 4)(ids))
    return Model(ids, Dense(size, "softmax")(x), seed=0)


def rewrite_header(path, change):
    with np.load(path, allow_pickle=False) as archive:
        entries = {name: archive[name] for name in archive.files}
    header = json.loads(entries["__config__"].tobytes().decode("utf-8"))
    change(header)
    entries["__config__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(path, "wb") as file:
        np.savez(file, **entries)


def test_a_loaded_text_model_keeps_its_vocabulary_and_writes_the_same_text(tmp_path):
    model = char_model()
    model.vocabulary = Vocabulary().fit("a cab.d")
    path = tmp_path / "chars.npz"
    save(model, path)
    with np.load(path) as archive:
        header = json.loads(archive["__config__"].tobytes().decode("utf-8"))
    assert header["vocabulary"] == {"characters": " .abcd"}
    loaded = load(path)
    assert loaded.vocabulary == model.vocabulary and loaded.vocabulary is not model.vocabulary
    text = generate(loaded, "ab", 40, seed=5)  # no vocabulary= needed: the file had it
    assert text == generate(model, "ab", 40, seed=5) and len(text) == 42


def test_models_without_a_vocabulary_write_none(tmp_path):
    model = Sequential([Dense(2)], seed=0)
    model.build((3,))
    save(model, tmp_path / "plain.npz")
    with np.load(tmp_path / "plain.npz") as archive:
        assert "vocabulary" not in json.loads(archive["__config__"].tobytes().decode("utf-8"))
    assert getattr(load(tmp_path / "plain.npz"), "vocabulary", None) is None


@pytest.mark.parametrize(
    ("vocabulary", "message"),
    [
        ("abc", "model.vocabulary must be a Vocabulary, got"),
        ({"characters": 7}, "a vocabulary's characters must be a string, got"),
        ({"characters": "aba"}, "must hold each character once"),
        ({"characters": "abc", "extra": 1}, "the one key 'characters'"),
        ({"characters": ""}, "must hold at least one character, got none"),
        ({"characters": "abcdefg"}, "7 characters give ids up to 6, outside 'embedding"),
        (["a", "b"], "model.vocabulary must be a Vocabulary, got"),
    ],
)
def test_a_hostile_vocabulary_is_a_model_file_error(tmp_path, vocabulary, message):
    model = char_model()
    model.vocabulary = Vocabulary("abc")
    path = tmp_path / "chars.npz"
    save(model, path)
    rewrite_header(path, lambda header: header.update(vocabulary=vocabulary))
    with pytest.raises(ModelFileError, match=message) as caught:
        load(path)
    assert str(path) in str(caught.value)


def test_save_refuses_a_vocabulary_the_model_cannot_read(tmp_path):
    model = char_model(size=3)
    model.vocabulary = Vocabulary("abcd")  # id 3 is outside the embedding's 3 ids
    with pytest.raises(ValueError, match="4 characters give ids up to 3, outside 'embedding"):
        save(model, tmp_path / "bad.npz")
    model.vocabulary = "abc"
    with pytest.raises(TypeError, match="model.vocabulary must be a Vocabulary, got"):
        save(model, tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


def test_a_checkpoint_keeps_the_vocabulary_and_resuming_is_bit_identical(tmp_path):
    from scratchnn import Adam, ModelCheckpoint
    from scratchnn.checkpoint import read_checkpoint

    vocabulary = Vocabulary().fit("a cab.d")
    rng = np.random.default_rng(0)
    X, y = rng.integers(0, 6, (40, 7)), rng.integers(0, 6, (40, 7))
    settings = {"loss": "categorical_crossentropy", "batch_size": 8, "verbose": 0}
    whole = char_model()
    whole.vocabulary = vocabulary
    whole.fit(X, y, epochs=3, optimizer=Adam(0.01), **settings)
    stopped = char_model()
    stopped.vocabulary = vocabulary
    path = tmp_path / "checkpoint.npz"
    stopped.fit(X, y, epochs=2, optimizer=Adam(0.01), callbacks=[ModelCheckpoint(path)],
                **settings)  # fmt: skip
    checkpoint = read_checkpoint(path)
    assert checkpoint.model.vocabulary == vocabulary
    resumed = char_model()
    resumed.fit(X, y, epochs=3, optimizer=Adam(0.01), resume_from=path, **settings)
    np.testing.assert_array_equal(resumed.get_flat_weights(), whole.get_flat_weights())
    rewrite_header(path, lambda header: header.update(vocabulary={"characters": "abcdefgh"}))
    with pytest.raises(ModelFileError, match="8 characters give ids up to 7"):
        read_checkpoint(path)
