"""The diagram of a graph model: one box per layer call, arrows along the tensors between them.

The layout is layered, as Graphviz's ``dot`` and Keras's ``plot_model`` draw a network: a node's
column is the length of the longest path to it from an input (so every arrow points right, and a
merge stands right of everything it merges), and within a column nodes are ordered by the mean
height of the nodes that feed them, which keeps most arrows short and uncrossed.
"""

from __future__ import annotations

from typing import Any

from ..layers.base import format_shape

# Box fills by what a layer does: model inputs, layers with weights, merges, everything else.
INPUT_FILL, WEIGHTED_FILL, MERGE_FILL, OTHER_FILL = "#e8e8e8", "#d6e6f5", "#fbe3c8", "#ffffff"
# Outline colours of shared layers: every call of one layer gets the same one.
SHARED_COLORS = ("#8e44ad", "#16a085", "#d35400", "#2c3e50", "#c0392b", "#27ae60")
# Distances between box centres, and a box's size, in units of the drawing.
SPACING_X, SPACING_Y, BOX_WIDTH, BOX_HEIGHT = 2.6, 1.35, 1.9, 0.95
MAX_INCHES = 60.0  # a 6,000-pixel side at 100 dpi: a deeper graph is drawn smaller, not bigger


class GraphLayout:
    """Where each node of a graph model goes: ``column`` (longest path from an input), ``row``.

    Nodes are numbered inputs first (``0 .. n_inputs - 1``), then the layer calls in run order
    (:attr:`scratchnn.Model.graph_nodes`). ``edges`` lists ``(source, target)`` once per tensor a
    call takes, so a merge of two tensors has two edges into it.
    """

    def __init__(self, model: Any) -> None:
        inputs, outputs = model.graph
        calls = model.graph_nodes
        number = {id(t.node): i for i, t in enumerate(inputs)}
        number.update({id(node): len(inputs) + i for i, node in enumerate(calls)})
        self.inputs, self.calls = inputs, calls
        self.edges = [
            (number[id(tensor.node)], len(inputs) + i)
            for i, node in enumerate(calls)
            for tensor in node.inputs
        ]
        self.outputs = [number[id(t.node)] for t in outputs]
        count = len(inputs) + len(calls)
        parents: list[list[int]] = [[] for _ in range(count)]
        for source, target in self.edges:
            parents[target].append(source)
        self.column = [0] * count
        for index in range(len(inputs), count):  # run order: parents come first
            self.column[index] = 1 + max(self.column[p] for p in parents[index])
        self.row = [0.0] * count
        columns: list[list[int]] = [[] for _ in range(max(self.column) + 1)]
        for index in range(count):
            columns[self.column[index]].append(index)
        for members in columns:
            if members[0] >= len(inputs):  # inputs keep their order; the rest follow parents
                members.sort(key=lambda i: -sum(self.row[p] for p in parents[i]) / len(parents[i]))
            top = (len(members) - 1) / 2
            for slot, index in enumerate(members):
                self.row[index] = top - slot
        self.n_columns = len(columns)
        self.n_rows = max(len(members) for members in columns)
        spans = [self.column[t] - self.column[s] for s, t in self.edges]
        # The height an arrow bending over skipped columns rises to: a quadratic Bezier peaks
        # at half its control point's offset, ``rad * length``, with rad 0.3 (see draw_graph).
        longest = max((span for span in spans if span > 1), default=0)
        self.arc_room = 0.15 * longest * SPACING_X


def _node_text(layer: Any, shape: Any, call_index: int, shared: bool) -> str:
    kind = type(layer).__name__
    size = getattr(layer, "units", None) or getattr(layer, "filters", None)
    if size is not None:
        kind += f" {size}"
    activation = getattr(getattr(layer, "activation", None), "name", None)
    if activation not in (None, "linear"):
        kind += f", {activation}"
    name = layer.name + (f" (call {call_index + 1})" if shared else "")
    return f"{name}\n{kind}\n{format_shape(shape)}"


def draw_graph(fig: Any, model: Any) -> None:
    """Draw ``model`` (a built graph model) on ``fig``: boxes with gids ``node {i}``, arrows with
    gids ``edge {source} {target}`` (numbers as in :class:`GraphLayout`)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

    layout = GraphLayout(model)
    ax = fig.add_subplot()
    spacing_x, spacing_y, width, height = SPACING_X, SPACING_Y, BOX_WIDTH, BOX_HEIGHT
    uses: dict[int, int] = {}
    for node in layout.calls:
        uses[id(node.layer)] = uses.get(id(node.layer), 0) + 1
    shared_colors: dict[int, str] = {}
    texts, fills, outlines = [], [], []
    for tensor in layout.inputs:
        texts.append(f"{tensor.node.layer.name}\nInput\n{format_shape(tensor.shape)}")
        fills.append(INPUT_FILL)
        outlines.append(None)
    for node in layout.calls:
        layer, shared = node.layer, uses[id(node.layer)] > 1
        shapes = [t.shape for t in node.outputs]
        shape = shapes if node.several_outputs else shapes[0]
        texts.append(_node_text(layer, shape, node.call_index, shared))
        weighted, merge = layer.n_params > 0 or bool(layer.state), layer.takes_list
        fills.append(WEIGHTED_FILL if weighted else MERGE_FILL if merge else OTHER_FILL)
        if shared and id(layer) not in shared_colors:
            shared_colors[id(layer)] = SHARED_COLORS[len(shared_colors) % len(SHARED_COLORS)]
        outlines.append(shared_colors.get(id(layer)))

    def centre(index: int) -> tuple[float, float]:
        return layout.column[index] * spacing_x, layout.row[index] * spacing_y

    for index, text in enumerate(texts):
        x, y = centre(index)
        output = index in layout.outputs
        box = FancyBboxPatch(
            (x - width / 2, y - height / 2), width, height,
            boxstyle="round,pad=0.02,rounding_size=0.12", facecolor=fills[index],
            edgecolor=outlines[index] or "#333333",
            linewidth=2.4 if outlines[index] else (1.6 if output else 0.8), zorder=2,
        )  # fmt: skip
        box.set_gid(f"node {index}")
        ax.add_patch(box)
        ax.text(x, y, text, ha="center", va="center", fontsize=7, zorder=3, linespacing=1.25)
        if output:
            ax.annotate(
                "", xy=(x + width / 2 + 0.45, y), xytext=(x + width / 2, y),
                arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.0}, zorder=1,
            )  # fmt: skip

    seen: dict[tuple[int, int], int] = {}
    for source, target in layout.edges:
        repeat = seen.get((source, target), 0)
        seen[(source, target)] = repeat + 1
        (x0, y0), (x1, y1) = centre(source), centre(target)
        span = layout.column[target] - layout.column[source]
        up = y1 >= y0
        if span > 1:  # skips columns: from the top (bottom) of one box over (under) the others
            side = height / 2 if up else -height / 2
            start, end, bend = (x0, y0 + side), (x1, y1 + side), 0.3
        else:
            start, end, bend = (x0 + width / 2, y0), (x1 - width / 2, y1), 0.0
        bend += 0.4 * repeat  # a repeated edge (``Add()([x, x])``) bends away so that both show
        arrow = FancyArrowPatch(
            start, end, connectionstyle=f"arc3,rad={-bend if up else bend}", arrowstyle="-|>",
            mutation_scale=9, color="#555555", linewidth=1.0, zorder=1,
        )  # fmt: skip
        arrow.set_gid(f"edge {source} {target}")
        ax.add_patch(arrow)

    handles = [
        Patch(facecolor=INPUT_FILL, edgecolor="#333333", label="model input"),
        Patch(facecolor=WEIGHTED_FILL, edgecolor="#333333", label="layer with weights"),
        Patch(facecolor=MERGE_FILL, edgecolor="#333333", label="merge"),
    ]
    if shared_colors:
        color = next(iter(shared_colors.values()))
        handles.append(
            Line2D([], [], color=color, lw=2.4, label="same outline: one shared layer's calls")
        )
    handles.append(Line2D([], [], marker=">", color="#333333", lw=1.0, label="model output"))
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3,
        fontsize=7, frameon=False,
    )  # fmt: skip
    half = (layout.n_rows - 1) / 2 * spacing_y
    ax.set_xlim(-width / 2 - 0.2, (layout.n_columns - 1) * spacing_x + width / 2 + 0.6)
    room = height / 2 + max(0.5, layout.arc_room + 0.1)
    ax.set_ylim(-half - room, half + room)
    ax.set_aspect("equal")
    ax.axis("off")


def graph_figure_size(model: Any) -> tuple[float, float]:
    """Inches that fit the layout at about 0.55 inch per unit of the drawing, plus the legend;
    a graph too large for that is shrunk to fit :data:`MAX_INCHES` (its labels shrink too)."""
    layout = GraphLayout(model)
    width = (layout.n_columns - 1) * SPACING_X + BOX_WIDTH + 0.8
    height = (layout.n_rows - 1) * SPACING_Y + BOX_HEIGHT + 2 * max(0.5, layout.arc_room + 0.1)
    scale = min(0.55, (MAX_INCHES - 0.9) / max(width, height))
    return round(scale * width + 0.4, 1), round(scale * height + 0.9, 1)
