"""A character vocabulary: text to integer ids and back, for character-level models."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import describe


def _code_points(text: str) -> np.ndarray:
    """Each character's Unicode code point, ``(len(text),)`` uint32, without a Python loop."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _joined(text: Any, name: str) -> str:
    """``text`` as one string: a string, or a list or tuple of strings (names, lines)."""
    if isinstance(text, str):
        return text
    if isinstance(text, (list, tuple)) and all(isinstance(part, str) for part in text):
        return "".join(text)
    raise TypeError(f"{name} must be a string or a list of strings, got {describe(text)}")


class Vocabulary:
    """The characters a model knows, each with an integer id: ``characters[id]``.

    ``fit(text)`` takes the distinct characters of ``text`` in sorted order (Karpathy's
    min-char-rnn and makemore do the same), so the same text always gives the same ids.
    ``encode`` maps a string to ids ``(len(text),)`` int64, ``decode`` maps ids back; a
    character the vocabulary does not hold is refused, never guessed. ``get_config`` and
    ``from_config`` make it a plain dict, so a model file can keep it beside the weights.

    Parameters
    ----------
    characters : str, optional
        The characters in id order (each once). Empty until ``fit`` when not given.

    Examples
    --------
    >>> from scratchnn.datasets import Vocabulary
    >>> vocabulary = Vocabulary().fit("hello world")
    >>> vocabulary.characters, len(vocabulary)
    (' dehlorw', 8)
    >>> vocabulary.encode("hold").tolist()
    [3, 5, 4, 1]
    >>> vocabulary.decode([3, 2, 4, 4, 5])
    'hello'
    """

    def __init__(self, characters: str = "") -> None:
        self._set(_joined(characters, "characters"), "characters", ordered=True)

    def _set(self, characters: str, name: str, ordered: bool) -> None:
        if ordered and len(set(characters)) != len(characters):
            repeated = sorted({c for c in characters if characters.count(c) > 1})
            raise ValueError(f"{name} must hold each character once, got {repeated} repeated")
        self.characters = characters if ordered else "".join(sorted(set(characters)))
        codes = _code_points(self.characters)
        # Encoding looks ids up by binary search in the sorted code points: one vectorised
        # pass over the text (a dict lookup per character takes ~20x longer on 1 MB).
        self._order = np.argsort(codes, kind="stable")
        self._sorted_codes = codes[self._order]

    def fit(self, text: str | list[str]) -> Vocabulary:
        """Take the distinct characters of ``text`` (a string or a list of strings), sorted.

        Replaces what the vocabulary held; returns it, so ``Vocabulary().fit(text)`` chains.
        """
        text = _joined(text, "text")
        if not text:
            raise ValueError("text must hold at least one character, got an empty text")
        self._set(text, "text", ordered=False)
        return self

    def __len__(self) -> int:
        return len(self.characters)

    def __contains__(self, character: object) -> bool:
        return isinstance(character, str) and len(character) == 1 and character in self.characters

    def encode(self, text: str) -> np.ndarray:
        """The id of each character of ``text``: ``(len(text),)`` int64.

        Raises ``ValueError`` naming the characters the vocabulary does not hold.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {describe(text)}")
        if not self.characters and text:
            raise ValueError("the vocabulary is empty: call fit(text) first")
        codes = _code_points(text)
        slots = np.searchsorted(self._sorted_codes, codes)
        slots = np.minimum(slots, len(self._sorted_codes) - 1)
        known = self._sorted_codes[slots] == codes if len(codes) else np.ones(0, dtype=bool)
        if not np.all(known):
            missing = np.flatnonzero(~known)
            unknown = list(dict.fromkeys(text[i] for i in missing))
            more = ", ..." if len(unknown) > 10 else ""
            shown = ", ".join(repr(c) for c in unknown[:10]) + more
            raise ValueError(
                f"text holds {len(unknown)} character(s) not in the vocabulary: {shown} (first "
                f"at position {missing[0]}); fit the vocabulary on text that holds them, or "
                f"remove them"
            )
        return self._order[slots].astype(np.int64)

    def decode(self, ids: Any) -> str:
        """The text of ``ids`` (a 1-D sequence of integers in ``[0, len(self))``)."""
        array = np.asarray(ids) if not isinstance(ids, (str, bytes)) else None
        if array is None or (array.size and array.dtype.kind not in "iu") or array.ndim != 1:
            raise TypeError(f"ids must be a 1-D sequence of integers, got {describe(ids)}")
        if array.size == 0:
            return ""
        bad = (array < 0) | (array >= len(self))
        if np.any(bad):
            raise ValueError(
                f"ids must be in [0, {len(self)}) for a vocabulary of {len(self)} characters, "
                f"got {array[bad][0]} at position {np.flatnonzero(bad)[0]}"
            )
        codes = _code_points(self.characters)[array]
        return codes.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")

    def get_config(self) -> dict[str, Any]:
        """The characters in id order, as a JSON-ready dict: ``{"characters": "..."}``."""
        return {"characters": self.characters}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Vocabulary:
        """The vocabulary ``get_config`` described (the same ids for the same characters)."""
        if not isinstance(config, dict) or set(config) != {"characters"}:
            raise ValueError(
                f"a vocabulary's config must be a dict with the one key 'characters', got "
                f"{describe(config)}"
            )
        if not isinstance(config["characters"], str):
            raise TypeError(
                f"a vocabulary's characters must be a string, got {describe(config['characters'])}"
            )
        return cls(config["characters"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self.characters == other.characters

    __hash__ = None  # type: ignore[assignment]  # mutable (fit), so not hashable

    def __repr__(self) -> str:
        shown = self.characters if len(self) <= 20 else self.characters[:17] + "..."
        return f"Vocabulary({len(self)} characters: {shown!r})"
