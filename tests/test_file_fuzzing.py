"""Fuzzing the readers: thousands of damaged and hostile files, and only ModelFileError comes out.

The mutations are in ``fuzz_model_files.py`` (also a long-run script). Each family runs a few
hundred seeded cases on a real model file and a real checkpoint; every case must load (a harmless
mutation) or raise ``ModelFileError`` from both ``scratchnn.load`` and ``read_checkpoint``, and a
model that loads must predict within bounded memory and export to ONNX with the same outputs.
``fuzz_csv.py`` does the same for ``load_csv`` (one-hot columns and delimiters) and
``fuzz_onnx_export.py`` for the ONNX exporter's inputs.
"""

from __future__ import annotations

import json

import fuzz_csv
import fuzz_onnx_export
import numpy as np
import pytest
from fuzz_model_files import MUTATORS, ZIP_ATTACKS, entries_zip, header_array, make_corpus, run

import scratchnn
from scratchnn import ModelFileError
from scratchnn.checkpoint import read_checkpoint

CASES_PER_FAMILY = 250


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.mark.slow
@pytest.mark.parametrize("family", list(MUTATORS))
def test_mutated_files_load_or_raise_model_file_error(tmp_path, corpus, family):
    seed = list(MUTATORS).index(family)
    report = run(CASES_PER_FAMILY, seed, tmp_path, [family], corpus)
    escapes = "\n".join(
        f"{e.reader}: {e.error} at {e.origin} ({e.sample}: {e.description[:120]})"
        for e in report.distinct().values()
    )
    assert not report.escapes, f"{len(report.escapes)} escapes:\n{escapes}"
    refused = sum(n for (_, _, outcome), n in report.outcomes.items() if outcome == "refused")
    assert report.cases == CASES_PER_FAMILY and refused > CASES_PER_FAMILY  # both readers


MUST_REFUSE = set(ZIP_ATTACKS) - {"comment", "deflated", "count", "offset", "overlap", "crc"}


@pytest.mark.parametrize("attack", sorted(MUST_REFUSE))
def test_every_ambiguous_or_unsupported_archive_is_refused(tmp_path, corpus, attack, monkeypatch):
    import fuzz_model_files

    monkeypatch.setattr(fuzz_model_files, "ZIP_ATTACKS", [attack])
    rng = np.random.default_rng(0)
    path = tmp_path / "case.npz"
    for index in range(8):
        data, description = fuzz_model_files.zip_attack(rng, corpus[index % 2])
        path.write_bytes(data)
        with pytest.raises(ModelFileError):
            scratchnn.load(path)
        with pytest.raises(ModelFileError):
            read_checkpoint(path)


def test_a_config_declaring_a_huge_layer_is_refused_without_allocating_it(tmp_path, corpus):
    sample = corpus[0]
    header = json.loads(json.dumps(sample.header))
    header["model"]["layers"][-1]["config"]["units"] = 2**40
    path = tmp_path / "case.npz"
    path.write_bytes(entries_zip({**sample.entries, "__config__": header_array(header)}))
    with pytest.raises(ModelFileError):
        scratchnn.load(path)


def test_window_fields_of_a_model_file_load_and_predict_within_bounds_or_are_refused(
    tmp_path, corpus
):
    report = run(CASES_PER_FAMILY, 99, tmp_path, ["windows"], corpus)
    assert not report.escapes, [e.error for e in report.distinct().values()]
    used = report.outcomes["windows", "load", "used"]
    refused = report.outcomes["windows", "load", "refused"]
    assert used > 10 and refused > 100  # both sound and hostile geometries were tried


def test_load_csv_fuzzing_one_hot_and_delimiters_finds_no_escape(tmp_path):
    pytest.importorskip("pandas")
    report = fuzz_csv.run(400, 7, tmp_path)
    assert not report.escapes, report.escapes[:5]
    assert report.outcomes["read (clean)"] > 20 and report.outcomes["refused"] > 100


def test_onnx_export_fuzzing_finds_no_escape(tmp_path):
    pytest.importorskip("onnx")
    report = fuzz_onnx_export.run(150, 7, tmp_path)
    assert not report.escapes, report.escapes[:5]
    exported = sum(n for outcome, n in report.outcomes.items() if outcome.startswith("exported"))
    assert exported > 20 and report.outcomes["network refused"] > 20
