"""The model-file container: hostile archives, bounded memory, and what saving does to the disk."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from fuzz_model_files import build_zip, central_entries, entries_zip, header_array, npy_bytes, patch

import scratchnn
from scratchnn import ModelFileError, Sequential, _atomic, load
from scratchnn._header import MAX_DEPTH, header_problem
from scratchnn.archive import read_model_file, write_model_file
from scratchnn.layers import BatchNorm, Dense

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def _model() -> Sequential:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 3))
    model = Sequential([Dense(4, "relu"), BatchNorm(), Dense(1)], seed=0)
    model.fit(X, X[:, 0], loss="mse", optimizer="adam", epochs=1, batch_size=8, verbose=0)
    return model


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    _model().save(path)
    return path


def _entries(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _header(entries) -> dict:
    return json.loads(entries["__config__"].tobytes())


def _refused(path, match: str) -> ModelFileError:
    with pytest.raises(ModelFileError, match=match) as caught:
        load(path)
    assert str(path) in str(caught.value)
    return caught.value


# -- what is not a regular file -------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_a_fifo_is_refused_at_once_instead_of_hanging(tmp_path):
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    outcome = []

    def read() -> None:
        try:
            load(fifo)
        except Exception as error:  # noqa: BLE001 - the outcome is asserted below
            outcome.append(error)

    reader = threading.Thread(target=read, daemon=True)  # a hung open() must not hang the suite
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "load() blocked on a FIFO"
    assert isinstance(outcome[0], ModelFileError)
    assert "is a FIFO (named pipe), not a model file" in str(outcome[0])


def test_a_folder_is_refused_naming_it(tmp_path):
    with pytest.raises(ModelFileError, match="is a folder, not a model file") as caught:
        load(tmp_path)
    assert repr(str(tmp_path)) in str(caught.value)


def test_a_missing_file_is_file_not_found_naming_the_path_without_errno(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        load(tmp_path / "absent.npz")
    assert str(caught.value) == f"no model file at {str(tmp_path / 'absent.npz')!r}"


def test_a_dangling_symlink_is_file_not_found_saying_so(tmp_path):
    link = tmp_path / "model.npz"
    link.symlink_to(tmp_path / "gone.npz")
    with pytest.raises(FileNotFoundError, match="a symbolic link to a missing file"):
        load(link)


@pytest.mark.parametrize("path", [None, 3, b"model.npz", ["m.npz"]])
def test_load_refuses_a_non_path_naming_the_argument(path):
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        load(path)


def test_load_refuses_a_path_with_a_nul_byte_naming_it():
    with pytest.raises(ValueError, match="path must name a file, got 'a\\\\x00b'"):
        load("a\0b")


# -- ambiguous and unsupported archives -----------------------------------------------------------
@pytest.mark.parametrize("name", ["__config__", "layers.0.params.W"])
def test_a_member_stored_twice_is_refused(saved, name):
    entries = _entries(saved)
    members = [(f"{k}.npy", npy_bytes(v)) for k, v in entries.items()]
    duplicate = np.zeros_like(entries[name]) if name != "__config__" else entries[name]
    saved.write_bytes(build_zip([*members, (f"{name}.npy", npy_bytes(duplicate))]))
    _refused(saved, f"damaged or ambiguous: member '{name}.npy' appears twice")


def test_a_member_without_the_npy_suffix_beside_one_with_it_is_refused(saved):
    entries = _entries(saved)
    members = [(f"{k}.npy", npy_bytes(v)) for k, v in entries.items()]
    weights = np.ones_like(entries["layers.0.params.W"])
    saved.write_bytes(build_zip([*members, ("layers.0.params.W", npy_bytes(weights))]))
    _refused(saved, "member 'layers.0.params.W' is not an .npy array")


def test_a_member_of_raw_bytes_is_refused(saved):
    entries = _entries(saved)
    members = [(f"{k}.npy", npy_bytes(v)) for k, v in entries.items()]
    members[-1] = (members[-1][0], b"\x00\x01raw bytes, no .npy header")
    saved.write_bytes(build_zip(members))
    _refused(saved, r"member '.*' is not an \.npy array")


@pytest.mark.parametrize(("where", "flag"), [("central", 0x1), ("local", 0x1), ("local", 0x40)])
def test_an_encrypted_member_is_refused(saved, where, flag):
    data = saved.read_bytes()
    record = central_entries(data)[0]
    if where == "central":
        data = patch(data, record + 8, "<H", flag)
    else:
        data = patch(
            data, int.from_bytes(data[record + 42 : record + 46], "little") + 6, "<H", flag
        )
    saved.write_bytes(data)
    _refused(saved, "is encrypted")


@pytest.mark.parametrize("method", [1, 12, 14, 99])
def test_an_unknown_compression_method_is_refused(saved, method):
    data = saved.read_bytes()
    saved.write_bytes(patch(data, central_entries(data)[1] + 10, "<H", method))
    _refused(saved, f"uses compression method {method}")


def test_a_deflated_archive_loads_like_the_stored_one(saved, tmp_path):
    # numpy.savez_compressed writes this; old and foreign files of that kind still load.
    original = load(saved)
    other = tmp_path / "deflated.npz"
    other.write_bytes(entries_zip(_entries(saved), zipfile.ZIP_DEFLATED))
    np.testing.assert_array_equal(load(other).params, original.params)


def test_an_archive_numpy_wrote_to_a_pipe_loads(saved):
    # Written to an unseekable stream, each member's sizes follow its data (flag bit 3).
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.received = io.BytesIO()

        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            return self.received.write(data)

    original = load(saved)
    pipe = Pipe()
    np.savez(pipe, **_entries(saved))
    saved.write_bytes(pipe.received.getvalue())
    with zipfile.ZipFile(saved) as archive:
        assert all(info.flag_bits & 0x8 for info in archive.infolist())
    np.testing.assert_array_equal(load(saved).params, original.params)


def test_fortran_ordered_and_big_endian_members_read_as_their_values(saved):
    entries = _entries(saved)
    weights = entries["layers.0.params.W"]
    members = [(f"{k}.npy", npy_bytes(v)) for k, v in entries.items()]
    members[list(entries).index("layers.0.params.W")] = (
        "layers.0.params.W.npy",
        npy_bytes(np.asfortranarray(weights.astype(">f4"))),
    )
    saved.write_bytes(build_zip(members))
    _, arrays = read_model_file(saved)
    np.testing.assert_array_equal(arrays["layers.0.params.W"], weights)


# -- the JSON header ------------------------------------------------------------------------------
def _with_header_text(path, text: str) -> None:
    entries = _entries(path)
    entries["__config__"] = np.frombuffer(text.encode(), np.uint8)
    path.write_bytes(entries_zip(entries))


@pytest.mark.parametrize("depth", [MAX_DEPTH, 900, 200_000])
def test_a_deeply_nested_header_is_refused(saved, depth):
    text = json.dumps(_header(_entries(saved)))
    _with_header_text(saved, text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}")
    _refused(saved, "nested")


def test_a_repeated_header_key_is_refused(saved):
    text = json.dumps(_header(_entries(saved)))
    _with_header_text(saved, text[:-1] + ', "kind": "Sequential"}')
    _refused(saved, "not valid JSON .*the key 'kind' appears twice")


def test_a_header_over_the_size_limit_is_refused_before_it_is_read(saved, monkeypatch):
    monkeypatch.setattr(scratchnn.archive, "MAX_HEADER_BYTES", 1000)
    _refused(saved, "the header is .* bytes, more than the 1000")


HEADER_EDITS = [
    (lambda h: h.update(format_version=True), "format_version must be a positive integer"),
    (lambda h: h.update(format_version=[1]), "format_version must be a positive integer"),
    (lambda h: h.update(format_version=1.0), "format_version must be a positive integer"),
    (lambda h: h.update(kind=None), "header entry 'kind' must be a str, got NoneType"),
    (lambda h: h.update(arrays=[]), "header entry 'arrays' must be a dict, got list"),
    (lambda h: h.update(library_version=1), "header entry 'library_version' must be a str"),
    (lambda h: h["arrays"].update({"layers.0.params.W": [3, 4]}), "is malformed"),
    (lambda h: h["arrays"]["layers.0.params.W"].update(shape=[3, -4]), "non-negative integers"),
    (lambda h: h["arrays"]["layers.0.params.W"].update(shape=[3, True]), "non-negative integers"),
    (lambda h: h["arrays"]["layers.0.params.W"].update(shape="3,4"), "non-negative integers"),
    (lambda h: h["arrays"]["layers.0.params.W"].update(shape=[1] * 40), "at most 32"),
    (lambda h: h["arrays"]["layers.0.params.W"].update(dtype="object"), "unsupported dtype"),
    (lambda h: h["arrays"]["layers.0.params.W"].update(dtype="<f4"), "unsupported dtype"),
    (lambda h: h["arrays"]["layers.0.params.W"].update(dtype=["f4"]), "is malformed"),
    (lambda h: h["rng_state"].pop("state"), "rng_state is not a valid generator state"),
    (lambda h: h["rng_state"]["state"].update(state=-1), "rng_state is not a valid"),
    (lambda h: h["rng_state"]["state"].update(inc=2**128), "an integer of 129 bits"),
    (lambda h: h["rng_state"].update(uinteger=2**40), "uinteger is out of range"),
    (lambda h: h["rng_state"]["state"].update(state=1.5), "rng_state is not a valid"),
    (lambda h: h.update(optimizer=[]), "header entry 'optimizer' must be an object"),
    (lambda h: h.update(optimizer={"config": {}, "iterations": -1}), "iterations must be"),
    (lambda h: h.update(optimizer={"config": {}, "iterations": 1, "size": "9"}), "size and dtype"),
    (lambda h: h.update(optimizer={"config": {}, "iterations": 1, "size": 2**31, "dtype": "f"}),
     "optimizer size must be at most the 37 numbers the file's arrays hold, got 2147483648"),
    (lambda h: h.update(checkpoint=3), "header entry 'checkpoint' must be a dict"),
    (lambda h: h.update(model={"seed": 10**40}), "an integer of 133 bits, more than 128"),
    (lambda h: h.update(extra=[-(10**400)]), "an integer of 1329 bits"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "message"), HEADER_EDITS)
def test_a_header_entry_of_the_wrong_type_is_refused_naming_it(saved, edit, message):
    entries = _entries(saved)
    header = _header(entries)
    edit(header)
    entries["__config__"] = header_array(header)
    saved.write_bytes(entries_zip(entries))
    _refused(saved, message)


def _checkpoint_entry(**changes) -> dict:
    entry = {"epoch": 2, "loss": {"name": "mse"}, "metrics": [], "history": {"loss": [1.0, 0.5]},
             "history_epochs": [0, 1], "fit_settings": {}}  # fmt: skip
    return {**entry, **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epoch": "2"}, "checkpoint epoch must be a non-negative integer, got '2'"),
        ({"metrics": "accuracy"}, "checkpoint metrics must be a list of names"),
        ({"history": {"loss": ["a"]}}, "checkpoint history must be an object of lists"),
        ({"history": {"loss": [True]}}, "checkpoint history must be an object of lists"),
        ({"history_epochs": [0.5]}, "checkpoint history_epochs must be a list of integers"),
        ({"fit_settings": []}, "checkpoint fit_settings must be an object"),
    ],
)
def test_a_checkpoint_entry_of_the_wrong_type_is_refused(changes, message):
    header = {"format": "scratchnn-model", "format_version": 1, "kind": "Sequential",
              "model": {}, "arrays": {}, "rng_state": {"bit_generator": "PCG64", "state": {}},
              "checkpoint": _checkpoint_entry(**changes)}  # fmt: skip
    assert header_problem({**header, "checkpoint": _checkpoint_entry()}) is None
    assert message in header_problem(header)


# -- bounded memory and short messages ------------------------------------------------------------
def _peak_while(action) -> int:
    tracemalloc.start()
    try:
        action()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_member_inflating_past_its_declared_size_costs_no_memory(saved):
    # 64 MiB of zeros deflate to 64 kB: a 'zip bomb' behind a small .npy header.
    entries = _entries(saved)
    weights = entries.pop("layers.0.params.W")
    members = [(f"{k}.npy", npy_bytes(v)) for k, v in entries.items()]
    bomb = npy_bytes(weights) + bytes(64 * 2**20)
    data = build_zip([*members, ("layers.0.params.W.npy", bomb)], zipfile.ZIP_DEFLATED)
    assert len(data) < 200_000
    saved.write_bytes(data)
    peak = _peak_while(lambda: pytest.raises(ModelFileError, load, saved))
    assert peak < 2 * 2**20
    # The same bomb with the directory lying about its size: read up to the lie, then the CRC.
    data = patch(data, central_entries(data)[-1] + 24, "<L", len(npy_bytes(weights)))
    saved.write_bytes(data)
    with pytest.raises(ModelFileError, match="Bad CRC-32"):
        load(saved)
    assert _peak_while(lambda: pytest.raises(ModelFileError, load, saved)) < 2 * 2**20


def test_a_huge_declared_array_whose_data_is_absent_is_refused_before_allocating(saved):
    entries = _entries(saved)
    header = _header(entries)
    header["arrays"]["layers.0.params.W"] = {"shape": [12000, 12000], "dtype": "float32"}
    entries["__config__"] = header_array(header)
    weights = entries.pop("layers.0.params.W")
    text = b"{'descr': '<f4', 'fortran_order': False, 'shape': (12000, 12000), }    \n"
    fake = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + weights.tobytes()
    members = [(f"{k}.npy", npy_bytes(v)) for k, v in entries.items()]
    data = build_zip([*members, ("layers.0.params.W.npy", fake)])
    declared = 10 + len(text) + 4 * 12000 * 12000
    record = central_entries(data)[-1]
    for lie in ((), (24,), (20, 24)):  # the directory honest, or claiming the full size
        lied = data
        for offset in lie:
            lied = patch(lied, record + offset, "<L", declared)
        saved.write_bytes(lied)
        peak = _peak_while(lambda: pytest.raises(ModelFileError, load, saved))
        assert peak < 2 * 2**20, lie


def test_thousands_of_extra_members_give_a_short_message(saved):
    entries = _entries(saved)
    members = [(f"{k}.npy", npy_bytes(v)) for k, v in entries.items()]
    extra = npy_bytes(np.zeros(1, np.float32))
    members += [(f"extra.{i:05d}.npy", extra) for i in range(3000)]
    saved.write_bytes(build_zip(members))
    error = _refused(saved, r"holds arrays its header does not list: \['extra.00000', ")
    assert "(3000 in all)" in str(error) and len(str(error)) < 300


def test_a_directory_declaring_too_many_members_is_refused_before_it_is_parsed(saved):
    data = saved.read_bytes()
    data = patch(patch(data, len(data) - 12, "<H", 0xFFFF), len(data) - 10, "<L", 2**31)
    saved.write_bytes(data)
    _refused(saved, "more than a model file holds")


# -- saving: permissions, links, folders, leftovers -----------------------------------------------
@pytest.fixture
def umask():
    def set_umask(value: int) -> None:
        os.umask(value)

    previous = os.umask(0o022)
    os.umask(previous)
    yield set_umask
    os.umask(previous)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_mode_the_umask_allows(tmp_path, umask, mask, mode):
    umask(mask)
    _model().save(tmp_path / "model.npz")
    assert stat.S_IMODE(os.stat(tmp_path / "model.npz").st_mode) == mode


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o644, 0o600, 0o640])
def test_a_replaced_file_keeps_its_mode(tmp_path, umask, mode):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old")
    os.chmod(path, mode)
    umask(0o077 if mode != 0o600 else 0o000)  # a umask that would give another mode
    model = _model()
    model.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    np.testing.assert_array_equal(load(path).params, model.params)


def test_saving_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "real.npz"
    target.write_bytes(b"old")
    link = tmp_path / "model.npz"
    link.symlink_to(os.path.join("store", "real.npz"))  # relative, like most links
    chain = tmp_path / "latest.npz"
    chain.symlink_to(link)
    model = _model()
    model.save(chain)
    assert chain.is_symlink() and link.is_symlink() and not target.is_symlink()
    np.testing.assert_array_equal(load(target).params, model.params)
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["real.npz"]


def test_saving_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "model.npz"
    link.symlink_to(tmp_path / "new.npz")
    _model().save(link)
    assert link.is_symlink() and (tmp_path / "new.npz").is_file()


def test_saving_through_a_symlink_loop_is_a_value_error(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ValueError, match="a loop of symbolic links"):
        _model().save(tmp_path / "a")


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        (None, TypeError, "path must be a str or os.PathLike, got None"),
        (42, TypeError, "path must be a str or os.PathLike, got 42"),
        (b"model.npz", TypeError, "path must be a str or os.PathLike, got b'model.npz'"),
        ("", ValueError, "path must name a file, got ''"),
        ("a\0b", ValueError, "path must name a file, got 'a\\\\x00b'"),
    ],
)
def test_save_to_a_bad_path_raises_naming_path(path, error, message):
    with pytest.raises(error, match=message):
        _model().save(path)


def test_save_to_a_folder_is_a_value_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match="which is a folder") as caught:
        _model().save(tmp_path)
    assert not isinstance(caught.value, IsADirectoryError) and str(tmp_path) in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_save_over_a_fifo_is_refused(tmp_path):
    os.mkfifo(tmp_path / "model.npz")
    with pytest.raises(ValueError, match="must name a regular file"):
        _model().save(tmp_path / "model.npz")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_file_name_of_the_longest_length_saves(tmp_path):
    path = tmp_path / ("m" * 251 + ".npz")  # 255 bytes, the most most file systems allow
    model = _model()
    model.save(path)
    np.testing.assert_array_equal(load(path).params, model.params)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_save_removes_dead_writers_temporaries_and_keeps_live_ones(tmp_path):
    host = _atomic._HOST
    other_host = "0000" if host != "0000" else "0001"
    names = {
        "dead": f".model.npz.{_dead_pid()}-{host}-0123abcd.tmp",
        "other-target-dead": f".ckpt-3.npz.{_dead_pid()}-{host}-89abcdef.tmp",
        "live": f".model.npz.{os.getppid()}-{host}-0123abcd.tmp",
        "mine": f".model.npz.{os.getpid()}-{host}-0123abcd.tmp",
        "other-host": f".model.npz.{_dead_pid()}-{other_host}-0a0a0a0a.tmp",
        "not-ours": ".model.npz.notes.tmp",
        "stale": f".model.npz.{os.getppid()}-{host}-fedcba98.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    hour_ago = time.time() - 3600
    os.utime(tmp_path / names["stale"], (hour_ago, hour_ago))
    _model().save(tmp_path / "model.npz")
    left = {p.name for p in tmp_path.iterdir()}
    kept = {"live", "mine", "other-host", "not-ours"}
    assert left == {"model.npz"} | {names[k] for k in kept}


@pytest.mark.skipif(os.name != "posix", reason="kill -9")
def test_temporaries_of_a_save_killed_by_sigkill_are_removed_by_the_next(tmp_path):
    path = tmp_path / "model.npz"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {TESTS_DIR!r})
            import numpy as np
            import test_archive
            real = np.savez
            def savez_then_hang(file, **arrays):
                real(file, **arrays)
                file.flush()
                print("writing", flush=True)
                time.sleep(60)
            model = test_archive._model()
            np.savez = savez_then_hang
            model.save({str(path)!r})
        """)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "writing"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1 and f".{child.pid}-" in leftovers[0]
    _model().save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_write_model_file_keeps_numpys_stored_layout(tmp_path):
    path = tmp_path / "m.npz"
    write_model_file(path, {"format": "scratchnn-model"}, {"x": np.arange(3.0)})
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["__config__.npy", "x.npy"]
    assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}
    with np.load(path) as archive:
        np.testing.assert_array_equal(archive["x"], np.arange(3.0))


def test_a_deflate_bomb_of_the_wrong_shape_is_refused_before_it_is_inflated(tmp_path):
    # Issue 27: 100 MB of zeros deflate to ~100 kB; header and .npy header agree on the shape,
    # which is not the (3, 4) the model's first Dense layer needs.
    model = Sequential([Dense(4, input_dim=3), Dense(1)], seed=0)
    model.build(3)
    path = tmp_path / "m.npz"
    model.save(path)
    entries = _entries(path)
    header = _header(entries)
    count = 25_000_000
    header["arrays"]["layers.0.params.W"] = {"shape": [count], "dtype": "float32"}
    entries["__config__"] = header_array(header)
    entries.pop("layers.0.params.W")
    bomb = npy_bytes(np.zeros(0, np.float32)).replace(b"(0,)", f"({count},)".encode())
    bomb = bomb[:8] + (len(bomb) - 10).to_bytes(2, "little") + bomb[10:] + bytes(4 * count)
    members = [(f"{k}.npy", npy_bytes(v)) for k, v in entries.items()]
    data = build_zip([*members, ("layers.0.params.W.npy", bomb)], zipfile.ZIP_DEFLATED)
    del bomb
    assert len(data) < 200_000
    path.write_bytes(data)
    for reader in (load, scratchnn.checkpoint.read_checkpoint):
        errors: list[str] = []

        def read(reader=reader, errors=errors) -> None:
            with pytest.raises(ModelFileError) as error:
                reader(path)
            errors.append(str(error.value))

        assert _peak_while(read) < 2 * 2**20
        assert "must have shape (3, 4) for this model" in errors[0]
        assert "got shape (25000000,)" in errors[0]


def test_an_optimizer_slot_larger_than_the_model_is_refused_before_it_is_read(tmp_path):
    model = _model()
    path = tmp_path / "ckpt.npz"
    scratchnn.checkpoint.save_checkpoint(model, path, epoch=1)
    entries = _entries(path)
    header = _header(entries)
    header["arrays"]["optimizer.m"]["shape"] = [10**6]
    entries["__config__"] = header_array(header)
    entries["optimizer.m"] = np.zeros(10**6, np.float32)
    path.write_bytes(entries_zip(entries))
    with pytest.raises(ModelFileError, match=r"'optimizer.m' of shape \(1000000,\) holds more"):
        scratchnn.checkpoint.read_checkpoint(path)


@pytest.mark.parametrize("dtype", ["int64", "bool", "float16", "float64"])
def test_optimizer_slots_of_another_dtype_are_refused_on_load(tmp_path, dtype):
    # Issue 27: int64 or bool slots crashed inside fit after the parameters changed.
    model = _model()
    path = tmp_path / "ckpt.npz"
    scratchnn.checkpoint.save_checkpoint(model, path, epoch=1)
    entries = _entries(path)
    header = _header(entries)
    header["optimizer"]["dtype"] = dtype
    for name in [n for n in entries if n.startswith("optimizer.")]:
        entries[name] = np.abs(entries[name]).astype(dtype)
        header["arrays"][name]["dtype"] = dtype
    entries["__config__"] = header_array(header)
    path.write_bytes(entries_zip(entries))
    message = "in float64" if dtype == "float64" else "optimizer"
    with pytest.raises(ModelFileError, match=message):
        scratchnn.checkpoint.read_checkpoint(path)
    X = np.random.default_rng(0).normal(size=(16, 3))
    before = model.params.copy()
    with pytest.raises(ModelFileError):
        model.fit(X, X[:, 0], epochs=2, batch_size=8, verbose=0, resume_from=path)
    np.testing.assert_array_equal(model.params, before)


def test_loading_a_model_removes_the_temporaries_a_killed_save_to_it_left(tmp_path):
    # Issue 27: a kill -9 mid-save left a temporary beside the model until the next save there.
    host = _atomic._HOST
    path = tmp_path / "model.npz"
    _model().save(path)
    names = {
        "dead": f".model.npz.{_dead_pid()}-{host}-0123abcd.tmp",
        "other-target-dead": f".ckpt-3.npz.{_dead_pid()}-{host}-89abcdef.tmp",
        "live": f".model.npz.{os.getppid()}-{host}-0123abcd.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    load(path)
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"model.npz", names["other-target-dead"], names["live"]}


def test_a_file_whose_reads_fail_is_a_model_file_error_naming_it():
    # Issue 27: /proc/self/mem is a "regular file" of size 0 whose reads raise EIO.
    if not os.path.exists("/proc/self/mem"):
        pytest.skip("no /proc")
    with pytest.raises(ModelFileError, match="cannot read model file '/proc/self/mem': "):
        load("/proc/self/mem")


def test_a_deflate_bomb_under_a_name_the_model_has_no_place_for_is_never_inflated(tmp_path):
    model = Sequential([Dense(4, input_dim=3)], seed=0)
    model.build(3)
    path = tmp_path / "m.npz"
    model.save(path)
    entries = _entries(path)
    header = _header(entries)
    count = 25_000_000
    for name in ("layers.7.params.W", "layers.0.params.W.x", "extra"):
        header["arrays"] = {k: v for k, v in header["arrays"].items() if k in entries}
        header["arrays"][name] = {"shape": [count], "dtype": "float32"}
        bomb = npy_bytes(np.zeros(0, np.float32)).replace(b"(0,)", f"({count},)".encode())
        bomb = bomb[:8] + (len(bomb) - 10).to_bytes(2, "little") + bomb[10:] + bytes(4 * count)
        members = [(f"{k}.npy", npy_bytes(v)) for k, v in entries.items() if k != "__config__"]
        members += [("__config__.npy", npy_bytes(header_array(header))), (f"{name}.npy", bomb)]
        path.write_bytes(build_zip(members, zipfile.ZIP_DEFLATED))
        errors: list[str] = []

        def read(errors=errors) -> None:
            with pytest.raises(ModelFileError) as error:
                load(path)
            errors.append(str(error.value))

        assert _peak_while(read) < 2 * 2**20
        assert f"holds arrays this model has no place for: [{name!r}]" in errors[0]
