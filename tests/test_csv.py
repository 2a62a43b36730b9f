"""Tests of scratchnn.datasets.load_csv: the rules that make a CSV file mean one thing or fail."""

from __future__ import annotations

import gzip
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pandas")

from scratchnn.datasets import load_csv  # noqa: E402
from scratchnn.datasets.tables import ColumnError  # noqa: E402

IRIS_LIKE = "150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n4.9,3.0,1.4,0.2,2\n"


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_target_by_name_with_header_spaces_and_blank_lines(tmp_path):
    X, y = load_csv(write(tmp_path, "x1, label ,x2\n1,0,2.5\n\n3,1,-4e-1\n"), target="label")
    np.testing.assert_array_equal(X, [[1.0, 2.5], [3.0, -0.4]])
    np.testing.assert_array_equal(y, [0.0, 1.0])
    assert X.dtype == y.dtype == np.float64


def test_target_by_index_without_header(tmp_path):
    path = write(tmp_path, "1;2;3\n4;5;6\n")
    X, y = load_csv(path, target=0, header=False, delimiter=";")
    np.testing.assert_array_equal(X, [[2, 3], [5, 6]])
    np.testing.assert_array_equal(y, [1, 4])
    X_all, none = load_csv(path, target=None, delimiter=";")
    assert X_all.shape == (2, 3) and none is None
    _, last = load_csv(path, target="-1", delimiter=";")
    np.testing.assert_array_equal(last, [3, 6])


def test_a_first_line_of_numbers_is_data_not_a_header(tmp_path):
    rows = np.arange(12.0).reshape(4, 3)
    path = write(tmp_path, "\n".join(",".join(map(str, row)) for row in rows) + "\n")
    X, y = load_csv(path, target=-1)
    np.testing.assert_array_equal(X, rows[:, :2])  # all four rows, the first one included
    np.testing.assert_array_equal(y, rows[:, 2])
    X, y = load_csv(path, target=-1, header=True)  # said explicitly: then it is the header
    assert len(X) == 3
    with pytest.raises(ValueError, match="target 'a' is a column name, but the file is read with"):
        load_csv(path, target="a")


@pytest.mark.parametrize(
    ("text", "n_rows"),
    [
        ("1.5,red\n2.5,blue\n0.5,red\n", 3),  # numbers, and a label seen again below: data
        ("x,colour\n1.5,red\n2.5,blue\n", 2),  # a name over a column of numbers: header
    ],
)
def test_header_is_decided_by_the_columns_below(tmp_path, text, n_rows):
    X, y = load_csv(write(tmp_path, text), target=-1)
    assert len(X) == len(y) == n_rows and "blue" in y.tolist()


ROWS = "".join(f"{i / 10},{i / 5},{i / 3},{i % 2}\n" for i in range(1, 30))


@pytest.mark.parametrize(
    ("first", "shown"),
    [
        ("0.5,0.7,O.3,1", "('0.5', '0.7', '1') and text ('O.3')"),  # a typo: the letter O
        ("150,4,setosa,virginica", "('150', '4') and text ('setosa', 'virginica')"),  # metadata
    ],
)
def test_a_first_line_mixing_numbers_and_text_over_numbers_is_refused(tmp_path, first, shown):
    path = write(tmp_path, first + "\n" + ROWS)
    with pytest.raises(ValueError, match="cannot tell what line 1 is") as info:
        load_csv(path, target=-1)
    message = str(info.value)
    assert shown in message
    assert "--skip-rows" in message and "--header" in message and "--no-header" in message


def test_a_first_line_of_data_with_a_typo_or_a_missing_value_names_the_field(tmp_path):
    path = write(tmp_path, "0.5,0.7,O.3,1\n" + ROWS)
    with pytest.raises(ValueError, match=r"line 1, column 3 is not a number: 'O.3'"):
        load_csv(path, target=-1, header=False)
    path = write(tmp_path, "0.5,NA,0.3,1\n" + ROWS)  # numbers and a missing value: data
    with pytest.raises(ValueError, match=r"line 1, column 2 is a missing value \('NA'\)"):
        load_csv(path, target=-1)


def test_a_first_line_of_numbers_is_refused_when_its_text_appears_nowhere_below(tmp_path):
    rows = "".join(f"{i},{i + 1},{i + 2},{'yes' if i % 2 else 'no'}\n" for i in range(20))
    path = write(tmp_path, "2020,2021,2022,label\n" + rows)
    with pytest.raises(ValueError, match=r"its text \('label'\) appears nowhere else"):
        load_csv(path, target=-1)
    X, y = load_csv(path, target="label", header=True)
    assert X.shape == (20, 3) and set(y.tolist()) == {"yes", "no"}


def test_a_table_of_text_only_needs_to_be_told_about_its_header(tmp_path):
    path = write(tmp_path, "name,colour\nann,red\nbob,blue\n")
    with pytest.raises(ValueError, match="cannot tell whether line 1 is a header or data"):
        load_csv(path, target=-1, one_hot=[0])
    _, y = load_csv(path, target=-1, one_hot=[0], header=True)
    assert y.tolist() == ["red", "blue"]
    _, y = load_csv(path, target=-1, one_hot=[0], header=False)
    assert y.tolist() == ["colour", "red", "blue"]


def test_text_that_is_one_columns_name_and_anothers_index_is_refused(tmp_path):
    path = write(tmp_path, IRIS_LIKE)
    with pytest.raises(ValueError) as info:
        load_csv(path, target="4", header=True)
    message = str(info.value)
    assert "target '4' is ambiguous: the column named '4' is at index 1" in message
    assert "index 4 is the column 'virginica'" in message and "--target-index" in message
    _, y = load_csv(path, target=4, header=True)  # an int is an index, nothing else
    np.testing.assert_array_equal(y, [0, 2])
    _, y = load_csv(path, target=1, header=True)
    np.testing.assert_array_equal(y, [3.5, 3.0])
    _, y = load_csv(path, target="150", header=True)  # a name that is no valid index: the name
    np.testing.assert_array_equal(y, [5.1, 4.9])


def test_every_drop_counts_and_the_target_cannot_be_dropped(tmp_path):
    path = write(tmp_path, "a,b,c,d,label\n1,2,3,4,x\n5,6,7,8,y\n")
    X, y = load_csv(path, target="label", drop=["a", 2, "-2"])
    np.testing.assert_array_equal(X, [[2.0], [6.0]])
    assert y.tolist() == ["x", "y"]
    with pytest.raises(ValueError, match=r"target 'label' is also in drop=\['label'\]"):
        load_csv(path, target="label", drop=["label"])
    with pytest.raises(ValueError, match=r"drop 'zz' is not a column \(columns: 'a', 'b'"):
        load_csv(path, target="label", drop=["zz"])
    with pytest.raises(TypeError, match="drop must be a list of column names or indices"):
        load_csv(path, target="label", drop="a")


def test_an_unknown_column_suggests_the_closest_name_case_ignored_and_lists_it_first(tmp_path):
    # Thirty columns before "label": the old message listed twelve and cut "label" off.
    names = [f"feature {k}" for k in range(30)] + ["label"]
    path = write(tmp_path, ",".join(names) + "\n" + ",".join(["1"] * 30 + ["x"]) + "\n")
    with pytest.raises(ColumnError) as info:
        load_csv(path, target="Label")
    message = str(info.value)
    assert message.startswith(
        f"{path}: target 'Label' is not a column; did you mean 'label'? (columns, closest "
        "first: 'label', 'feature "
    )
    assert message.endswith(", ... 31 in all)") and message.count("'feature") == 11
    with pytest.raises(ColumnError, match=r"drop 'Feature 12' is not a column; did you mean "
                       r"'feature 12'\? \(columns, closest first: 'feature 12', "):  # fmt: skip
        load_csv(path, target="label", drop=["Feature 12"])
    with pytest.raises(ColumnError, match=r"one_hot 'feature_3' .* did you mean 'feature 3'"):
        load_csv(path, target="label", one_hot=["feature_3"])


def test_an_unknown_column_like_no_name_lists_the_columns_in_file_order(tmp_path):
    path = write(tmp_path, "mean radius,mean fractal dimension,label\n1,2,x\n")
    with pytest.raises(ColumnError) as info:
        load_csv(path, target="xyzzy")
    assert str(info.value) == (
        f"{path}: target 'xyzzy' is not a column (columns: 'mean radius', "
        "'mean fractal dimension', 'label')"  # long names are no longer cut at 20 characters
    )


def test_metadata_first_line_needs_skip_rows_and_the_error_says_so(tmp_path):
    # scikit-learn's wine_data.csv: "178,13,class_0,class_1,class_2", then 14 fields a line
    rows = "1.5,2,0,0,1,class_0\n2.5,3,0,0,1,class_1\n3.5,4,0,0,1,class_0\n"
    path = write(tmp_path, "3,5,class_0,class_1\n" + rows)
    with pytest.raises(ValueError) as info:
        load_csv(path)
    assert "data.csv: line 2 has 6 fields, expected 4 like line 1" in str(info.value)
    assert "skip_rows (--skip-rows N)" in str(info.value)
    X, y = load_csv(path, skip_rows=1)
    np.testing.assert_array_equal(X[:, :2], [[1.5, 2], [2.5, 3], [3.5, 4]])
    assert y.dtype == object and y.tolist() == ["class_0", "class_1", "class_0"]


def test_text_feature_column_is_named_with_how_to_drop_it(tmp_path):
    path = write(tmp_path, "size,colour,price\n1,red,3\n2,blue,4\n")
    with pytest.raises(ValueError) as info:
        load_csv(path, target="price")
    assert str(info.value).endswith(
        "data.csv: line 2, column 2 ('colour') holds text ('red', ...), not numbers; drop it "
        "(drop=['colour'], --drop colour) or encode it, one 0/1 column per category "
        "(one_hot=['colour'], --one-hot colour)"
    )
    X, _ = load_csv(path, target="price", drop=["colour"])
    np.testing.assert_array_equal(X, [[1], [2]])


@pytest.mark.parametrize(
    ("text", "where", "field"),
    [
        ("a,b,t\n1,2,0\n3,,1\n", "line 3, column 2 ('b')", "''"),
        ("a,b,t\n1,2,0\n\n3,NA,1\n", "line 4, column 2 ('b')", "'NA'"),  # blank line counted
        ("a,b,t\n1,?,0\n", "line 2, column 2 ('b')", "'?'"),
        ("a,b,t\n1,nan,0\n", "line 2, column 2 ('b')", "'nan'"),
        ("a,b,t\n1,2,0\n3\n", "line 3, column 2 ('b')", "''"),  # a short line
    ],
)
def test_missing_values_name_line_and_column(tmp_path, text, where, field):
    with pytest.raises(ValueError, match="missing value") as info:
        load_csv(write(tmp_path, text), target="t")
    assert f"data.csv: {where} is a missing value ({field})" in str(info.value)


def test_missing_target_and_other_bad_numbers(tmp_path):
    with pytest.raises(ValueError, match=r"line 3, column 3 \('t'\) is a missing target"):
        load_csv(write(tmp_path, "a,b,t\n1,2,x\n3,4,\n"), target="t")
    with pytest.raises(ValueError, match=r"line 3, column 1 \('a'\) is not a number: '3x'"):
        load_csv(write(tmp_path, "a,b,t\n1,2,0\n3x,4,1\n5,6,0\n"), target="t")
    with pytest.raises(ValueError, match=r"line 2, column 2 \('b'\) is not finite: 'inf'"):
        load_csv(write(tmp_path, "a,b,t\n1,inf,0\n"), target="t")
    with pytest.raises(ValueError, match=r"line 3, column 1 is not a number: 'oops'"):
        load_csv(write(tmp_path, "1,2\n3,4\noops,5\n"), target=1)


def test_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    path = write(tmp_path, "\ufeffid,label\n1,a\n2,b\n")
    X, y = load_csv(path, target="label")
    np.testing.assert_array_equal(X, [[1], [2]])
    X, y = load_csv(path, target="id", one_hot=["label"], encoding="utf-8")  # the mark kept?
    assert y.tolist() == [1.0, 2.0]


def test_latin1_file_is_refused_with_its_line_then_read_with_encoding(tmp_path):
    path = write(tmp_path, "x,drink\n1,tea\n2,caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError) as info:
        load_csv(path, target="drink")
    assert "data.csv: line 3 is not valid utf-8 text (byte 0xe9)" in str(info.value)
    assert "--encoding latin-1" in str(info.value)
    _, y = load_csv(path, target="drink", encoding="latin-1")
    assert y.tolist() == ["tea", "café"]
    with pytest.raises(ValueError, match="encoding 'klingon' is not a known text encoding"):
        load_csv(path, target="drink", encoding="klingon")


def test_binary_file_is_refused(tmp_path):
    path = write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", name="picture.csv")
    with pytest.raises(ValueError, match="picture.csv: holds NUL bytes, so it is a binary file"):
        load_csv(path)


def test_quoted_and_very_long_fields_and_gzip(tmp_path):
    long_label = "w" * 200_000  # beyond the csv module's 131,072-character field limit
    text = f'a,label\n1,"red, dark"\n2,{long_label}\n3,"say ""hi"""\n'
    _, y = load_csv(write(tmp_path, text), target="label")
    assert y.tolist() == ["red, dark", long_label, 'say "hi"']
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b"a b\t c\n1 2 3\n4  5\t6\n"))
    X, y = load_csv(path, target="c", delimiter="whitespace")
    np.testing.assert_array_equal(X, [[1, 2], [4, 5]])
    np.testing.assert_array_equal(y, [3, 6])


@pytest.mark.parametrize(
    ("text", "kwargs", "error", "message"),
    [
        ("a,b\n1,2\n", {"target": "c"}, ValueError, r"target 'c' is not a column \(columns"),
        ("1,2\n", {"target": 5}, ValueError, "target index 5 is out of range for 2 columns"),
        ("1,2\n", {"target": "5"}, ValueError, "target index 5 is out of range for 2 columns"),
        ("a,b\n", {"target": "a"}, ValueError, "a header but no data rows"),
        ("", {"target": "a"}, ValueError, "no rows after skipping 0 line"),
        ("\n\n", {"target": "a"}, ValueError, "no rows after skipping 0 line"),
        ("a,b\n1,2\n", {"skip_rows": 5}, ValueError, "no rows after skipping 5 line"),
        ("a,b\n1,2\n", {"target": 1.5}, TypeError, "target must be a column name or index"),
        ("a,b\n1,2\n", {"target": True}, TypeError, "target must be a column name or index"),
        ("a,b\n1,2\n", {"header": "yes"}, TypeError, "header must be True, False or None"),
        ("a,b\n1,2\n", {"skip_rows": -1}, ValueError, "skip_rows must be a non-negative"),
        ("a,b\n1,2\n", {"delimiter": ""}, ValueError, "delimiter must be a non-empty string"),
    ],
)
def test_bad_arguments_and_files_are_named(tmp_path, text, kwargs, error, message):
    with pytest.raises(error, match=message) as info:
        load_csv(write(tmp_path, text, "bad.csv"), **kwargs)
    if error is ValueError and "must be" not in message:
        assert "bad.csv" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file .*missing.csv"):
        load_csv(tmp_path / "missing.csv")


def test_without_pandas_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(ImportError, match=r"pip install scratchnn\[data\]"):
        load_csv(write(tmp_path, "a,b\n1,2\n"))


@pytest.mark.slow
def test_importing_scratchnn_does_not_import_pandas():
    code = (
        "import sys, scratchnn, scratchnn.datasets, scratchnn.cli; print('pandas' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=',;\n"ab1.-e \t?\ufeff\x00é', max_size=60), st.sampled_from([None, 0, -1]))
def test_any_text_gives_arrays_or_a_clear_error(tmp_path_factory, text, target):
    path = tmp_path_factory.mktemp("fuzz") / "f.csv"
    path.write_text(text, encoding="utf-8")
    try:
        X, y = load_csv(path, target=target)
    except ValueError as error:
        assert "f.csv" in str(error)
    else:
        assert X.ndim == 2 and X.dtype == np.float64 and np.all(np.isfinite(X))
        assert y is None or len(y) == len(X)


def test_blank_lines_before_the_table_are_skipped_and_lines_still_counted(tmp_path):
    X, y = load_csv(write(tmp_path, "\n\n1,2\n3,4\n"), target=-1)
    np.testing.assert_array_equal(X, [[1], [3]])
    path = write(tmp_path, "# made by hand\n\nx,y\n1,2\n3,4,5\n")
    with pytest.raises(ValueError, match="line 3 has 2 fields, expected 1 like line 1"):
        load_csv(path)
    with pytest.raises(ValueError, match=r"line 5 has 3 fields, expected 2 like line 3"):
        load_csv(path, skip_rows=1)
    with pytest.raises(ValueError, match=r"line 6, column 2 \('y'\) is a missing value"):
        load_csv(write(tmp_path, "# title\n\nx,y,t\n1,2,0\n\n3,,1\n"), skip_rows=1, target="t")


def test_numbers_are_read_exactly_as_python_reads_them(tmp_path):
    values = np.random.default_rng(3).normal(scale=1e3, size=(200, 3)) ** 3
    text = "a,b,c\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in values)
    X, y = load_csv(write(tmp_path, text), target="c")
    np.testing.assert_array_equal(X, values[:, :2])  # bit for bit: repr round-trips
    np.testing.assert_array_equal(y, values[:, 2])


def test_a_name_that_two_columns_share_is_refused_with_their_indices(tmp_path):
    path = write(tmp_path, "x,x,b,t\n1,2,3,0\n2,3,4,1\n")
    with pytest.raises(ValueError, match=r"drop 'x' names 2 columns, at indices 0, 1; .*index"):
        load_csv(path, target="t", drop=["x"])
    with pytest.raises(ValueError, match=r"target 'x' names 2 columns, at indices 0, 1"):
        load_csv(path, target="x")
    X, _ = load_csv(path, target="t", drop=[1])
    np.testing.assert_array_equal(X, [[1, 3], [2, 4]])


def test_every_text_feature_column_is_named_in_one_error(tmp_path):
    path = write(tmp_path, "a,color,size,t\n1,red,big,0\n2,blue,small,1\n")
    with pytest.raises(ValueError) as info:
        load_csv(path, target="t")
    message = str(info.value)
    assert "columns 2 ('color'), 3 ('size') hold text, not numbers" in message
    assert "drop=['color', 'size'], --drop color --drop size" in message
    X, _ = load_csv(path, target="t", drop=["color", "size"])
    np.testing.assert_array_equal(X, [[1], [2]])


def test_blank_and_missing_word_names_do_not_unmake_a_header(tmp_path):
    # pandas' to_csv writes its index under a blank name; the glass data set names sodium "Na".
    rows = "".join(f"{i},{i * 0.5},{i * 2},{'yes' if i % 2 else 'no'}\n" for i in range(10))
    X, y = load_csv(write(tmp_path, ",a,b,label\n" + rows), target="label", drop=[0])
    assert X.shape == (10, 2) and y.tolist()[:2] == ["no", "yes"]
    glass = "RI,Na,Mg,Type\n1.52,13.64,4.49,1\n1.51,13.89,3.60,2\n1.52,13.53,3.55,1\n"
    X, y = load_csv(write(tmp_path, glass), target="Type", drop=["Na"])
    np.testing.assert_array_equal(X, [[1.52, 4.49], [1.51, 3.60], [1.52, 3.55]])
    np.testing.assert_array_equal(y, [1, 2, 1])


def test_fields_with_underscores_are_text_not_numbers(tmp_path):
    path = write(tmp_path, "income,age_group,label\n10,18_25,x\n20,26_35,y\n")
    with pytest.raises(ValueError, match=r"column 2 \('age_group'\) holds text \('18_25', ...\)"):
        load_csv(path, target="label")
    _, y = load_csv(write(tmp_path, "a,t\n1,1_2\n2,3_4\n"), target="t")
    assert y.tolist() == ["1_2", "3_4"]  # labels, not the numbers 12 and 34


def test_a_column_without_a_name_is_refused_unless_dropped(tmp_path):
    path = write(tmp_path, ",a,label\n0,1.5,x\n1,2.5,y\n2,0.5,x\n")  # pandas' to_csv index
    with pytest.raises(ValueError, match=r"column 1 has no name in the header .*--drop-index 0"):
        load_csv(path, target="label")
    X, _ = load_csv(path, target="label", drop=[0])
    np.testing.assert_array_equal(X, [[1.5], [2.5], [0.5]])


def test_one_hot_encodes_text_columns_in_place_with_named_categories(tmp_path):
    path = write(tmp_path, "size,color,shape,label\n1.5,red,round,x\n2.5,blue,square,y\n"
                           "0.5,red,square,x\n")  # fmt: skip
    X, y, names = load_csv(path, target="label", one_hot=["color", "shape"], return_names=True)
    assert names == ["size", "color=blue", "color=red", "shape=round", "shape=square"]
    np.testing.assert_array_equal(X, [[1.5, 0, 1, 1, 0], [2.5, 1, 0, 0, 1], [0.5, 0, 1, 0, 1]])
    # A model's categories: a category absent from these rows still has its column.
    X, _, names = load_csv(path, target="label", drop=["shape"], return_names=True,
                           one_hot={"color": ["blue", "green", "red"]})  # fmt: skip
    assert names == ["size", "color=blue", "color=green", "color=red"]
    np.testing.assert_array_equal(X[:, 1:], [[0, 0, 1], [1, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match=r"line 2, column 2 \('color'\) holds 'red', a category "
                       r"the model was not trained on \(it knows 'blue'\)"):  # fmt: skip
        load_csv(path, target="label", drop=["shape"], one_hot={"color": ["blue"]})
    with pytest.raises(ValueError, match="one_hot column 'label' is also the target or dropped"):
        load_csv(path, target="label", one_hot=["label"])
    with pytest.raises(TypeError, match="one_hot must be a list of columns"):
        load_csv(path, target="label", one_hot="color")
    headerless = write(tmp_path, "1.5,red,x\n2.5,blue,y\n0.5,red,x\n")
    _, _, names = load_csv(headerless, target=-1, one_hot=[1], return_names=True, header=False)
    assert names == ["0", "1=blue", "1=red"]
    missing = write(tmp_path, "size,color,label\n1.5,,x\n2.5,blue,y\n")
    with pytest.raises(ValueError, match=r"line 2, column 2 \('color'\) is a missing value"):
        load_csv(missing, target="label", one_hot=["color"])
