"""Draw docs/img/graph.png, the graph diagram in docs/how/graphs.md.

Run: python docs/scripts/graph_picture.py   (needs matplotlib: pip install scratchnn[plot])

The model has what the page explains: two inputs, one encoder shared by both, a merge, a skip
connection and two outputs. Nothing is trained: the diagram shows the structure only.
"""

from __future__ import annotations

from pathlib import Path

from scratchnn import Add, Concatenate, Dense, Input, Model
from scratchnn.plot import plot_network

OUT = Path(__file__).resolve().parents[1] / "img" / "graph.png"


def main() -> None:
    left, right = Input(shape=(3,), name="left"), Input(shape=(3,), name="right")
    encoder = Dense(4, "tanh", name="encoder")  # called twice: one set of weights
    joined = Concatenate(name="join")([encoder(left), encoder(right)])
    hidden = Dense(8, "relu", name="hidden")(joined)
    skip = Add(name="skip")([hidden, Dense(8, name="project")(joined)])
    same = Dense(1, "sigmoid", name="same")(skip)
    distance = Dense(1, name="distance")(hidden)
    model = Model([left, right], [same, distance], seed=0)
    plot_network(model, OUT, dpi=100)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
