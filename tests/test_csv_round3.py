"""Issue 27: one-hot memory, delimiters, repeated headers and files without features."""

from __future__ import annotations

import tracemalloc

import pytest

pytest.importorskip("pandas")

from scratchnn.datasets import load_csv  # noqa: E402
from scratchnn.datasets.tables import MAX_CATEGORIES  # noqa: E402


def write(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _peak(action) -> int:
    tracemalloc.start()
    try:
        action()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_one_hot_encodes_by_index_in_memory_of_the_result_alone(tmp_path):
    rows = 20_000
    categories = 900
    text = "x,c,y\n" + "".join(f"{i % 7},k{i % categories},{i % 2}\n" for i in range(rows))
    path = write(tmp_path, text)
    result = {}
    peak = _peak(lambda: result.update(X=load_csv(path, target="y", one_hot=["c"])[0]))
    X = result["X"]
    assert X.shape == (rows, 1 + categories)
    assert X[:, 1:].sum(axis=1).tolist() == [1.0] * rows
    assert X[3, 1 + sorted(f"k{i}" for i in range(categories)).index("k3")] == 1.0
    # X itself is 144 MB; the old object comparison matrix and a float copy doubled it
    assert peak < 1.4 * X.nbytes


def test_a_one_hot_column_of_too_many_distinct_values_is_refused(tmp_path):
    rows = MAX_CATEGORIES + 1
    path = write(tmp_path, "x,id,y\n" + "".join(f"1,u{i},0\n" for i in range(rows)))
    with pytest.raises(ValueError) as info:
        load_csv(path, target="y", one_hot=["id"])
    message = str(info.value)
    assert f"column 2 ('id') holds {rows} distinct values, more than the 1000" in message
    assert "drop=['id'], --drop id" in message


@pytest.mark.parametrize("delimiter,flag", [(";", ";"), ("\t", "\\t"), ("|", "|")])
def test_a_file_of_another_delimiter_is_named_with_the_option(tmp_path, delimiter, flag):
    lines = ["x,y,label", "1,5,a", "2,5,b", "3,4,a"]
    path = write(tmp_path, "\n".join(line.replace(",", delimiter) for line in lines) + "\n")
    with pytest.raises(ValueError) as info:
        load_csv(path, target="label")
    message = str(info.value)
    assert f"the file looks {delimiter!r}-separated; give delimiter={delimiter!r}" in message
    assert f"(--delimiter '{flag}')" in message
    X, y = load_csv(path, target="label", delimiter=delimiter)
    assert X.tolist() == [[1, 5], [2, 5], [3, 4]] and y.tolist() == ["a", "b", "a"]


def test_a_one_column_file_without_another_delimiter_still_reads(tmp_path):
    X, y = load_csv(write(tmp_path, "x\n1\n2\n"), target=None)
    assert X.tolist() == [[1.0], [2.0]] and y is None


def test_a_header_repeated_further_down_is_named_by_its_line(tmp_path):
    rows = "".join(f"{i},{i % 3},{'yes' if i % 2 else 'no'}\n" for i in range(60))
    path = write(tmp_path, "a,b,label\n" + rows + "a,b,label\n" + rows)
    for header in (None, True):
        with pytest.raises(ValueError) as info:
            load_csv(path, target="label", header=header)
        assert "line 62 repeats line 1, the header ('a', 'b', 'label')" in str(info.value)


def test_repeated_rows_of_data_are_not_a_repeated_header(tmp_path):
    path = write(tmp_path, "red,1,2\nblue,3,4\nred,1,2\n")
    X, y = load_csv(path, target=0, header=False)
    assert X.tolist() == [[1, 2], [3, 4], [1, 2]] and y.tolist() == ["red", "blue", "red"]


def test_a_file_with_only_the_target_column_is_refused(tmp_path):
    path = write(tmp_path, "label\n1\n0\n")
    with pytest.raises(ValueError, match="no feature columns: its only column is the target"):
        load_csv(path, target="label")
    path = write(tmp_path, "a,label\n1,0\n2,1\n", "two.csv")
    with pytest.raises(ValueError, match=r"its 2 columns are the target or dropped .*drop=\['a'\]"):
        load_csv(path, target="label", drop=["a"])


def test_an_unreadable_file_says_it_cannot_be_read_not_gzip(tmp_path):
    import os

    if not os.path.exists("/proc/self/mem"):
        pytest.skip("no /proc")
    with pytest.raises(ValueError, match="/proc/self/mem: cannot be read"):
        load_csv("/proc/self/mem")


def test_a_file_of_targets_only_is_read_with_load_csv_column(tmp_path):
    from scratchnn.datasets import load_csv_column

    path = write(tmp_path, "label\n1\n0\n")
    with pytest.raises(ValueError, match="read with load_csv_column"):
        load_csv(path, target="label")
    assert load_csv_column(path, "label").tolist() == [1.0, 0.0]
    assert load_csv_column(write(tmp_path, "a\nx\n", "t.csv"), 0, header=True).tolist() == ["x"]
