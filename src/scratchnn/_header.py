"""The generic structure of a model file's JSON header, checked before anything reads it.

:mod:`scratchnn.archive` calls :func:`header_problem` on every parsed header, so the code that
rebuilds models and checkpoints receives entries of the documented types (``docs/model-format.md``)
and never a list where it expects an integer. What the entries mean (which layers, which
optimizer) is checked where they are used.
"""

from __future__ import annotations

import json
import reprlib
from typing import Any

import numpy as np

FORMAT_NAME = "scratchnn-model"
# 3: graph models (the "Model" kind, its nodes and edges); 2: shapes as input_shape (images);
# 1 wrote input_dim (still read). A stack of layers is still written as version 2.
FORMAT_VERSION = 3
MAX_NDIM = 32  # numpy allows 64; no model array has more than 2
MAX_DEPTH = 32  # nesting of the JSON; ours is 6 deep, json.loads recurses per level
MAX_INT = 2**128  # JSON integers are unbounded; ours (seeds, PCG64's state) fit in 128 bits
_PLAIN_KINDS = "biuf"  # bool, signed and unsigned integers, floats: no objects, no records

_short = reprlib.Repr()
_short.maxlevel, _short.maxstring, _short.maxlong = 2, 40, 40
_short.maxother, _short.maxlist, _short.maxdict = 40, 4, 4


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to a few dozen characters, however large or deep ``value`` is."""
    return _short.repr(value)


def clip(text: str, limit: int = 150) -> str:
    """``text`` cut to ``limit`` characters for an error message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_header(data: bytes) -> dict[str, Any]:
    """Parse and check a header's UTF-8 JSON; ``ValueError`` saying what is wrong.

    Refuses invalid JSON, a key repeated in one object (readers would disagree on its value),
    nesting deeper than :data:`MAX_DEPTH`, and whatever :func:`header_problem` finds.
    """
    try:
        header = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError("the header is nested too deeply") from None
    except ValueError as error:  # also bad UTF-8, repeated keys, integers of over 4300 digits
        raise ValueError(f"the header is not valid JSON ({clip(str(error))})") from None
    if _depth(header) > MAX_DEPTH:
        raise ValueError(f"the header is nested more than {MAX_DEPTH} levels deep")
    problem = header_problem(header)
    if problem is not None:
        raise ValueError(problem)
    return header


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key {short_repr(repeated)} appears twice in one object")
    return result


def _depth(value: Any) -> int:
    """The nesting depth of parsed JSON, found without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending and deepest <= MAX_DEPTH:
        item, level = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        deepest = max(deepest, level)
        pending.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest if isinstance(value, (dict, list)) else 0


def _got(value: Any) -> str:
    return f"{short_repr(value)} ({type(value).__name__})"


def _is_int(value: Any, low: int = 0, high: int | None = None) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= low
        and (high is None or value < high)
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def header_problem(header: Any) -> str | None:
    """What is structurally wrong with a parsed header, or ``None`` when nothing is.

    Checks ``format``, ``format_version``, the types of ``kind``, ``model``, ``library_version``
    and ``neural_network``, every entry of ``arrays`` (a shape of non-negative integers and a
    plain numeric dtype name), ``rng_state`` (a bit generator's name and non-negative integers
    of at most 128 bits), and the types of the ``optimizer`` and ``checkpoint`` entries.
    """
    if not isinstance(header, dict):
        return f"format must be {FORMAT_NAME!r}, got a header that is {_got(header)}"
    if header.get("format") != FORMAT_NAME:
        return f"format must be {FORMAT_NAME!r}, got {short_repr(header.get('format'))}"
    version = header.get("format_version")
    if not _is_int(version, low=1):
        return f"format_version must be a positive integer, got {_got(version)}"
    if version > FORMAT_VERSION:
        return (
            f"the file uses format version {version}, newer than this scratchnn reads (up to "
            f"{FORMAT_VERSION}): upgrade scratchnn to load it"
        )
    problem = _integer_problem(header)
    if problem is not None:
        return problem
    for key, kind in (("arrays", dict), ("model", dict), ("rng_state", dict), ("kind", str)):
        if not isinstance(header.get(key), kind):
            return (
                f"header entry {key!r} must be a {kind.__name__}, "
                f"got {type(header.get(key)).__name__}"
            )
    for key, kind in (("library_version", str), ("neural_network", dict)):
        if key in header and not isinstance(header[key], kind):
            return f"header entry {key!r} must be a {kind.__name__}, got {_got(header[key])}"
    for check in (_arrays_problem, _rng_problem, _optimizer_problem, _checkpoint_problem):
        problem = check(header)
        if problem is not None:
            return problem
    return None


def _integer_problem(header: dict) -> str | None:
    """Refuse integers beyond 128 bits anywhere: no float() or allocation may overflow on one."""
    pending: list[Any] = [header]
    while pending:
        item = pending.pop()
        for value in item.values() if isinstance(item, dict) else item:
            if isinstance(value, (dict, list)):
                pending.append(value)
            elif isinstance(value, int) and not -MAX_INT < value < MAX_INT:
                return f"the header holds an integer of {value.bit_length()} bits, more than 128"
    return None


def _arrays_problem(header: dict) -> str | None:
    for name, spec in header["arrays"].items():
        if not name or name == "__config__" or len(name) > 1000:
            return f"arrays lists an array named {short_repr(name)}"
        if not isinstance(spec, dict) or not isinstance(spec.get("dtype"), str):
            return f"header entry for array {short_repr(name)} is malformed: {short_repr(spec)}"
        shape = spec.get("shape")
        if not isinstance(shape, list) or len(shape) > MAX_NDIM or not all(map(_is_int, shape)):
            return (
                f"array {short_repr(name)} must have a shape of at most {MAX_NDIM} non-negative "
                f"integers, got {_got(shape)}"
            )
        try:
            dtype = np.dtype(spec["dtype"])
        except (TypeError, ValueError):
            dtype = np.dtype(object)
        if dtype.name != spec["dtype"] or dtype.kind not in _PLAIN_KINDS:
            return f"array {short_repr(name)} has unsupported dtype {short_repr(spec['dtype'])}"
    return None


def _rng_problem(header: dict) -> str | None:
    state = header["rng_state"]
    if not isinstance(state.get("bit_generator"), str) or not isinstance(state.get("state"), dict):
        return (
            "rng_state is not a valid generator state: it needs a 'bit_generator' name and a "
            f"'state' object, got {short_repr(state)}"
        )
    pending = [state]
    while pending:  # every number, however nested: what numpy's generators hold
        item = pending.pop()
        values = item.values() if isinstance(item, dict) else item
        for value in values:
            if isinstance(value, (dict, list)):
                pending.append(value)
            elif not isinstance(value, str) and not _is_int(value, high=2**128):
                return (
                    "rng_state is not a valid generator state: it must hold names and "
                    f"non-negative integers below 2**128, got {_got(value)}"
                )
    if not _is_int(state.get("has_uint32", 0), high=2) or not _is_int(
        state.get("uinteger", 0), high=2**32
    ):
        return "rng_state is not a valid generator state: has_uint32 or uinteger is out of range"
    return None


def _optimizer_problem(header: dict) -> str | None:
    if "optimizer" not in header:
        return None
    entry = header["optimizer"]
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        return f"header entry 'optimizer' must be an object with a 'config', got {_got(entry)}"
    if not _is_int(entry.get("iterations"), high=2**63):
        iterations = entry.get("iterations")
        return f"optimizer iterations must be a non-negative integer, got {_got(iterations)}"
    if entry.get("size") is not None and (
        not _is_int(entry["size"], high=2**63) or not isinstance(entry.get("dtype"), str)
    ):
        return (
            "optimizer size and dtype must be a non-negative integer and a dtype name, got "
            f"{_got(entry['size'])} and {_got(entry.get('dtype'))}"
        )
    # The optimizer allocates ``size`` numbers per slot: no more than the file's arrays hold.
    held = sum(_product(spec["shape"]) for spec in header["arrays"].values())
    if entry.get("size") is not None and entry["size"] > held:
        return (
            f"optimizer size must be at most the {held} numbers the file's arrays hold, "
            f"got {entry['size']}"
        )
    return None


def _product(shape: list[int]) -> int:
    count = 1
    for n in shape:
        count *= n
    return count


def _checkpoint_problem(header: dict) -> str | None:
    if "checkpoint" not in header:
        return None
    entry = header["checkpoint"]
    if not isinstance(entry, dict):
        return f"header entry 'checkpoint' must be a dict, got {_got(entry)}"
    history, epochs = entry.get("history"), entry.get("history_epochs")
    checks = [
        ("epoch", _is_int(entry.get("epoch"), high=2**63), "a non-negative integer"),
        ("loss", isinstance(entry.get("loss"), dict), "an object"),
        (
            "metrics",
            _is_list_of(entry.get("metrics"), lambda v: isinstance(v, str)),
            "a list of names",
        ),
        (
            "history",
            isinstance(history, dict)
            and all(_is_list_of(values, _is_number) for values in history.values()),
            "an object of lists of numbers",
        ),
        (
            "history_epochs",
            _is_list_of(epochs, lambda v: _is_int(v, high=2**63)),
            "a list of integers",
        ),
        ("fit_settings", isinstance(entry.get("fit_settings", {}), dict), "an object"),
    ]
    for key, sound, expected in checks:
        if not sound:
            return f"checkpoint {key} must be {expected}, got {_got(entry.get(key))}"
    return None


def _is_list_of(value: Any, test: Any) -> bool:
    return isinstance(value, list) and all(test(item) for item in value)
