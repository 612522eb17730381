"""Plotly figures from run histories and predictions: pure functions, no streamlit.

Pages draw them with ``st.plotly_chart``; tests can inspect their traces.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import plotly.graph_objects as go

from cnn.records import History, TestMetrics
from ui.text import plotly_text

INK = "#1f3b73"
HIGHLIGHT = "#e4572e"
VALIDATION = "#17a398"
SMOOTHING = 0.9  # weight of the past in the smoothed curves (TensorBoard-style)
MAX_CURVE_POINTS = 1000  # per line of a training curve: more is invisible at chart width


def smooth(values: Sequence[float], weight: float = SMOOTHING) -> list[float]:
    """Exponential moving average with TensorBoard's bias correction (no lag at the start)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return out


def thin(n: int, limit: int = MAX_CURVE_POINTS) -> np.ndarray:
    """Indices of at most ``limit`` evenly spaced points out of ``n``, the first and last kept."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def accuracy_axis(values: Sequence[float]) -> dict:
    """A y-axis zoomed on the interesting part of accuracy curves: from just below their
    lowest value (leaving out each run's first fifth, done by the caller) up to 100%."""
    low = min(values, default=0.9)
    return {"range": [max(0.0, min(low, 0.98) - 0.02), 1.0], "tickformat": ".0%"}


def training_curves(history: History, metric: str = "loss", title: str | None = None) -> go.Figure:
    """Per-step ``metric`` ('loss' or 'accuracy'), raw and smoothed, validation points, epoch lines.

    The live page rebuilds this twice a second while the job trains, so it must stay cheap
    however long the run (~6 ms a figure at 900 steps, sent; plotly's builder methods took
    ~25): numpy arrays (plotly checks a list element by element), at most ``MAX_CURVE_POINTS``
    a line (smoothed over every step first), and the figure given as one plain spec.
    """
    steps = np.asarray(history.step)  # copies: the job's thread keeps appending
    raw = np.asarray(getattr(history, metric)[: len(steps)], float)
    steps = steps[: len(raw)]
    val_steps = np.asarray(history.val_step)
    val = np.asarray(getattr(history, f"val_{metric}")[: len(val_steps)], float)
    val_steps = val_steps[: len(val)]
    shown = thin(len(steps))
    epoch_ends = list(history.epoch_end_steps)
    traces = [
        {
            "x": steps[shown],
            "y": raw[shown],
            "name": f"{metric} (each step)",
            "mode": "lines",
            "line": {"color": INK, "width": 1},
            "opacity": 0.3,
        },
        {
            "x": steps[shown],
            "y": np.asarray(smooth(raw))[shown],
            "name": f"{metric} (smoothed)",
            "mode": "lines",
            "line": {"color": INK, "width": 2.5},
        },
        {
            "x": val_steps,
            "y": val,
            "name": f"validation {metric}",
            "mode": "markers+lines",
            "marker": {"color": VALIDATION, "size": 8},
            "line": {"color": VALIDATION, "dash": "dot"},
        },
    ]
    layout = {
        "title": {"text": title or metric.capitalize()},
        "height": 320,
        "xaxis": {"title": {"text": "step"}},
        "yaxis": {"title": {"text": metric}},
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "legend": {"orientation": "h", "y": -0.25},
        "uirevision": metric,
        "shapes": [
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": s,
                "x1": s,
                "y0": 0,
                "y1": 1,
                "line": {"color": "#999", "dash": "dash", "width": 1},
            }
            for s in epoch_ends
        ],
        "annotations": [
            {
                "x": s,
                "xref": "x",
                "y": 1,
                "yref": "paper",
                "text": f"epoch {i}",
                "showarrow": False,
                "xanchor": "right",
                "yanchor": "top",
                "font": {"color": "#777"},
            }
            for i, s in enumerate(epoch_ends, start=1)
        ],
    }
    if metric == "accuracy":
        layout["yaxis"].update(accuracy_axis([*raw[len(raw) // 5 :], *val]))
    return go.Figure(data=[{"type": "scatter", **t} for t in traces], layout=layout)


# Every digit labelled: plotly reads "0".."9" as numbers and would label every other one.
DIGIT_AXIS = {"title": {"text": "digit"}, "type": "category"}
# For the charts redrawn after every stroke, which set every colour themselves: without it
# plotly copies in the default template (Streamlit's: placeholder colours for traces that set
# none), ~7 KB a chart to copy, serialise, hash and send. Streamlit's theme (fonts,
# background, axes) is applied in the browser either way. Written as plotly's validation
# writes an empty template (one blank scatter default marks it as set on purpose).
NO_TEMPLATE = {"data": {"scatter": [{"type": "scatter"}]}}
# The hidden axes of a picture (without a template plotly.js would still draw tick marks).
BARE_AXIS = {"showticklabels": False, "showgrid": False, "zeroline": False, "ticks": ""}


def _as_validated(data: list[dict], layout: dict) -> go.Figure:
    """A figure from a spec already written the way plotly's validation leaves it (named
    colour scales spelt out, an empty template marked), taken as it is.

    For the charts redrawn after every stroke: checking a spec again costs ~0.4 ms a chart
    (plotly's Layout alone sets its ~200 properties one by one), and Streamlit only copies
    the figure's dict and serialises it. tests/test_charts.py checks that validating these
    specs changes nothing."""
    return go.Figure(data=data, layout=layout, _validate=False)


@cache
def _colorscale(name: str) -> tuple:
    """A named colour scale as plotly spells it out in a validated figure."""
    return go.Heatmap(colorscale=name).colorscale


def probability_bars(probabilities: np.ndarray) -> go.Figure:
    """The ten probabilities, the predicted digit highlighted.

    Drawn after every stroke, so built as one plain spec, written as plotly validates it
    (``_as_validated``: ~0.12 ms, where validating it took ~0.6 ms and plotly's
    ``update_layout`` path ~2.7 ms)."""
    p = np.asarray(probabilities, float)
    top = int(p.argmax())
    bars = {
        "type": "bar",
        "x": [str(d) for d in range(10)],
        "y": p,
        "marker": {"color": [HIGHLIGHT if d == top else INK for d in range(10)]},
        "text": [f"{v:.0%}" if v >= 0.01 else "" for v in p],
        "textposition": "outside",
    }
    layout = {
        "xaxis": DIGIT_AXIS,
        "yaxis": {"range": [0, 1.1], "tickformat": ".0%", "title": {"text": "probability"}},
        "height": 300,
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
        "template": NO_TEMPLATE,
    }
    return _as_validated([bars], layout)


def digit_image(
    image: np.ndarray, title: str = "", *, colorscale: str = "gray_r", zmax: float | None = 1.0, height: int = 280
) -> go.Figure:
    """A small image shown enlarged with crisp pixels (each pixel one square).

    Drawn after every stroke (the 28x28 the model sees), so built as one plain spec, written
    as plotly validates it (``_as_validated``: ~0.12 ms, where validating it took ~0.5 ms
    and plotly's ``update_*`` path ~3.5 ms)."""
    pixels = {
        "type": "heatmap",
        "z": np.asarray(image, np.float32),  # half the bytes of float64, the same picture
        "colorscale": _colorscale(colorscale),
        "zmin": 0 if zmax else None,
        "zmax": zmax,
        "showscale": False,
        "xgap": 0,
        "ygap": 0,
        "hovertemplate": "row %{y}, col %{x}: %{z:.2f}<extra></extra>",
    }
    layout = {
        "xaxis": {**BARE_AXIS, "constrain": "domain"},
        "yaxis": {**BARE_AXIS, "autorange": "reversed", "scaleanchor": "x"},
        "title": {"text": title} if title else None,
        "height": height,
        "margin": {"l": 0, "r": 0, "t": 30 if title else 0, "b": 0},
        "template": NO_TEMPLATE,
    }
    return _as_validated([pixels], layout)


def confusion_heatmap(confusion: Sequence[Sequence[int]]) -> go.Figure:
    """Rows: the true digit; columns: the predicted digit. Off-diagonal cells are the mistakes."""
    c = np.asarray(confusion)
    off = c.astype(float).copy()
    np.fill_diagonal(off, np.nan)  # colour by mistakes, so the diagonal does not wash out the rest
    fig = go.Figure(
        go.Heatmap(
            z=off,
            x=[str(d) for d in range(10)],
            y=[str(d) for d in range(10)],
            colorscale="Reds",
            showscale=False,
            text=c,
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title="true digit", dtick=1)
    fig.update_xaxes(title="predicted digit", side="top", dtick=1)
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def per_class_bars(accuracy: Sequence[float]) -> go.Figure:
    a = np.asarray(accuracy, float)
    fig = go.Figure(
        go.Bar(
            x=[str(d) for d in range(10)], y=a, marker_color=INK, text=[f"{v:.1%}" for v in a], textposition="outside"
        )
    )
    fig.update_layout(
        xaxis=DIGIT_AXIS,
        yaxis={"range": [max(0.0, a.min() - 0.05), 1.0], "tickformat": ".0%", "title": "test accuracy"},
        height=300,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
    )
    return fig


# ---------------------------------------------------------------------------------------
# How a drawing was prepared (the Draw page's teaching view)
# ---------------------------------------------------------------------------------------


def _shrunk(a: np.ndarray, max_side: int) -> tuple[np.ndarray, float, float]:
    """``a`` averaged down to at most ``max_side`` pixels a side (a big photo's ink map would
    be megabytes of chart data), with the input pixels per shown pixel (rows, columns)."""
    from PIL import Image

    h, w = a.shape
    if max(h, w) <= max_side:
        return a, 1.0, 1.0
    f = max(h, w) / max_side
    sh, sw = max(1, round(h / f)), max(1, round(w / f))
    small = np.asarray(Image.fromarray(np.asarray(a, np.float32)).resize((sw, sh), Image.BOX))
    return small, h / sh, w / sw


def ink_with_box(ink: np.ndarray, box: tuple[int, int, int, int], title: str = "", *, max_side: int = 140) -> go.Figure:
    """The ink map of the whole input (shrunk if large) with the crop box outlined.

    ``box`` is (top, left, bottom, right) in input pixels, bottom/right exclusive."""
    small, fy, fx = _shrunk(np.asarray(ink, np.float32), max_side)
    fig = digit_image(small, title)
    fig.add_shape(_outline(box, fy, fx, {"color": HIGHLIGHT, "width": 2}))
    return fig


def _outline(box: tuple[int, int, int, int], fy: float, fx: float, line: dict) -> dict:
    """A rectangle around ``box`` (input pixels) on an image shown shrunk by ``fy``, ``fx``:
    input pixel edge u lands at u / f - 0.5 (shown pixel m spans m +- 0.5)."""
    top, left, bottom, right = box
    return {
        "type": "rect",
        "x0": left / fx - 0.5,
        "x1": right / fx - 0.5,
        "y0": top / fy - 0.5,
        "y1": bottom / fy - 0.5,
        "line": line,
    }


UNSURE = "#d19a00"  # a digit the model is not sure about


def number_boxes(
    ink: np.ndarray,
    boxes: Sequence[tuple[int, int, int, int]],
    digits: Sequence[int],
    unsure: Sequence[bool],
    *,
    max_side: int = 280,
    height: int = 220,
) -> go.Figure:
    """A drawn number's ink map (shrunk if large) with a box around each digit found and the
    digit read above it; a digit the model is unsure of gets a dashed amber box and a "?".

    ``boxes`` are (top, left, bottom, right) in input pixels, bottom/right exclusive.

    Drawn after every stroke in Number mode, so the ink goes as a PNG (4 KB for a 280x112
    view, where a heatmap's values were 170 KB of JSON to serialise, send and draw) in one
    plain spec, written as plotly validates it (``_as_validated``)."""
    small, fy, fx = _shrunk(np.asarray(ink, np.float32), max_side)
    h, w = small.shape
    picture = {"type": "image", "source": _png_url(1.0 - small), "hoverinfo": "skip"}
    shapes, labels = [], []
    for box, digit, doubt in zip(boxes, digits, unsure):
        top, left, _, right = box
        colour = UNSURE if doubt else HIGHLIGHT
        shapes.append(_outline(box, fy, fx, {"color": colour, "width": 2, "dash": "dash" if doubt else "solid"}))
        labels.append(
            {
                "x": (left + right) / 2 / fx - 0.5,
                "y": top / fy - 0.5,
                "text": f"{digit}?" if doubt else str(digit),
                "showarrow": False,
                "yanchor": "bottom",
                "font": {"color": colour, "size": 16},
            }
        )
    layout = {
        "xaxis": {**BARE_AXIS, "range": [-0.5, w - 0.5], "constrain": "domain"},
        "yaxis": {**BARE_AXIS, "range": [h - 0.5, -0.5], "scaleanchor": "x"},  # row 0 at the top
        "shapes": shapes,
        "annotations": labels,
        "height": height,
        "margin": {"l": 0, "r": 0, "t": 26, "b": 0},  # room for the labels above the boxes
        "template": NO_TEMPLATE,
    }
    return _as_validated([picture], layout)


def _png_url(grey: np.ndarray) -> str:
    """A [0, 1] grey image (1 white) as a PNG data URL."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.round(np.clip(grey, 0, 1) * 255).astype(np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def centred_digit(
    image: np.ndarray, shift: tuple[float, float], fitted_shape: tuple[int, int], title: str = "", centre: float = 14.0
) -> go.Figure:
    """The 28x28 input with where the fitted digit was placed (dashed box) and the centre
    (a cross) its centre of mass was moved to."""
    fig = digit_image(image, title)
    dy, dx = shift
    fh, fw = fitted_shape
    fig.add_shape(
        type="rect",
        x0=dx - 0.5,
        x1=dx + fw - 0.5,
        y0=dy - 0.5,
        y1=dy + fh - 0.5,
        line={"color": VALIDATION, "width": 2, "dash": "dash"},
    )
    fig.add_scatter(
        x=[centre],
        y=[centre],
        mode="markers",
        showlegend=False,
        hoverinfo="skip",
        marker={"symbol": "cross-thin", "size": 18, "line": {"color": HIGHLIGHT, "width": 3}},
    )
    return fig


# --- pictures of test digits (numpy images for st.image) -----------------------------------
def enlarge(image: np.ndarray, scale: int = 4) -> np.ndarray:
    """A uint8 MNIST digit as dark ink on white, each pixel a crisp ``scale`` x ``scale`` square."""
    paper = 255 - np.asarray(image, np.uint8)
    return np.kron(paper, np.ones((scale, scale), np.uint8))


def confident_mistakes(
    test: TestMetrics, images: np.ndarray, labels: np.ndarray, limit: int = 24, scale: int = 4
) -> list[tuple[np.ndarray, str]]:
    """The misclassified test digits the model was surest about: (enlarged image, caption), surest first."""
    order = np.argsort(-np.asarray(test.confidence, float), kind="stable")[:limit]
    return [
        (
            enlarge(images[test.misclassified[k]], scale),
            f"{int(labels[test.misclassified[k]])} read as {test.predicted[k]} ({test.confidence[k]:.0%})",
        )
        for k in order
    ]


# ---------------------------------------------------------------------------------------
# Comparing runs (the Compare page)
# ---------------------------------------------------------------------------------------

RUN_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)  # one per run, in the order the runs were picked


def overlay_curves(curves: Sequence, metric: str = "loss", x_title: str = "training step") -> go.Figure:
    """Several runs' ``metric`` ('loss' or 'accuracy'): each run one colour, its per-step values
    smoothed (line) and its validation points (dots). ``curves`` are ``ui.runs_table.Curve``s.

    Built like ``training_curves`` (numpy arrays, lines thinned after smoothing, one plain
    spec), since long runs have tens of thousands of steps."""
    traces, lows = [], []
    for i, c in enumerate(curves):
        name = plotly_text(c.name)  # user text: shown literally, never as HTML
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        x, raw = np.asarray(c.x, float), np.asarray(getattr(c, metric), float)
        val = np.asarray(getattr(c, f"val_{metric}"), float)
        shown = thin(len(x))
        traces += [
            {
                "x": x[shown],
                "y": np.asarray(smooth(raw))[shown],
                "name": name,
                "legendgroup": name,
                "mode": "lines",
                "line": {"color": colour, "width": 2.5},
                "hovertemplate": "%{fullData.name}<br>%{x:.3~f}: %{y:.3f} (smoothed)<extra></extra>",
            },
            {
                "x": np.asarray(c.val_x, float),
                "y": val,
                "name": f"{name} · validation",
                "legendgroup": name,
                "showlegend": False,
                "mode": "markers",
                "marker": {"color": colour, "size": 8, "line": {"color": "white", "width": 1}},
                "hovertemplate": "%{fullData.name}<br>%{x:.3~f}: %{y:.3f}<extra></extra>",
            },
        ]
        lows += [*raw[len(raw) // 5 :], *val]
    layout = {
        "title": {"text": metric.capitalize()},
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": metric}},
        "height": 340,
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "legend": {"orientation": "h", "y": -0.25},
        "uirevision": metric,
    }
    if metric == "accuracy":
        layout["yaxis"].update(accuracy_axis(lows))
    return go.Figure(data=[{"type": "scatter", **t} for t in traces], layout=layout)


def knob_scatter(points: dict[str, Sequence], labels: dict[str, str] | None = None, columns: int = 3) -> go.Figure:
    """Small multiples: test accuracy against each setting, one point per run (its name on hover),
    and where a value was run with several seeds, its mean and standard deviation.

    ``points`` maps a setting to ``ui.runs_table.Point``s (name, value, test_accuracy)."""
    from plotly.subplots import make_subplots

    labels = labels or {}
    names = list(points)
    cols = max(1, min(columns, len(names)))
    rows = max(1, -(-len(names) // cols))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        shared_yaxes="all",
        horizontal_spacing=0.06,
        vertical_spacing=0.5 / rows,
        subplot_titles=[labels.get(n, n) for n in names],
    )
    for i, name in enumerate(names):
        ps = points[name]
        fig.add_scatter(
            x=[p.value for p in ps],
            y=[p.test_accuracy for p in ps],
            text=[plotly_text(p.name) for p in ps],
            name=labels.get(name, name),
            mode="markers",
            showlegend=False,
            marker={"color": INK, "size": 11, "opacity": 0.8, "line": {"color": "white", "width": 1}},
            hovertemplate="%{text}<br>%{x}: %{y:.2%}<extra></extra>",
            row=i // cols + 1,
            col=i % cols + 1,
        )
        by_setting: dict = {}
        for p in ps:
            by_setting.setdefault((p.setting, p.value), []).append(p.test_accuracy)
        repeated = {key: v for key, v in by_setting.items() if len(v) > 1}
        if repeated:  # a setting run with several seeds: its mean and standard deviation
            fig.add_scatter(
                x=[value for _, value in repeated],
                y=[float(np.mean(v)) for v in repeated.values()],
                error_y={
                    "type": "data",
                    "array": [float(np.std(v, ddof=1)) for v in repeated.values()],
                    "color": HIGHLIGHT,
                },
                name=f"{labels.get(name, name)}: mean",
                mode="markers",
                showlegend=False,
                marker={"color": HIGHLIGHT, "symbol": "line-ew-open", "size": 26, "line": {"width": 3}},
                hovertemplate="mean over seeds %{y:.2%} ± %{error_y.array:.2%}<extra></extra>",
                row=i // cols + 1,
                col=i % cols + 1,
            )
    fig.update_yaxes(tickformat=".0%")
    fig.update_yaxes(title_text="test accuracy", col=1)
    fig.update_layout(height=60 + 240 * rows, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


# ---------------------------------------------------------------------------------------
# Looking inside the network (the Draw page's "Look inside" views)
# ---------------------------------------------------------------------------------------

DIVERGING = [[0.0, "#2166ac"], [0.5, "#f7f7f7"], [1.0, "#b2182b"]]  # negative blue, zero white, positive red


def saliency_overlay(image: np.ndarray, saliency: np.ndarray, title: str = "") -> go.Figure:
    """The 28x28 input in grey with the saliency laid over it, red to yellow as it grows.

    Both in [0, 1]. One RGB picture (``go.Image``), each pixel a crisp square; hovering a
    pixel gives its ink and saliency."""
    ink = np.clip(np.asarray(image, np.float32), 0, 1)
    s = np.clip(np.asarray(saliency, np.float32), 0, 1)
    paper = (1 - 0.7 * ink)[..., None] * np.array([255, 255, 255], np.float32)  # ink dark grey, so red shows on it
    hot = np.stack([np.full_like(s, 255), 40 + 215 * s, np.zeros_like(s)], axis=-1)  # red -> yellow
    alpha = np.clip(1.5 * s, 0, 1)[..., None]  # faint saliency still visible
    rgb = np.round(paper * (1 - alpha) + hot * alpha).astype(np.uint8)
    text = [[f"ink {ink[r, c]:.2f}, saliency {s[r, c]:.2f}" for c in range(s.shape[1])] for r in range(s.shape[0])]
    fig = go.Figure(
        go.Image(z=rgb, name="saliency", text=text, hovertemplate="row %{y}, col %{x}: %{text}<extra></extra>")
    )
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_layout(title=title or None, height=280, margin={"l": 0, "r": 0, "t": 30 if title else 0, "b": 0})
    return fig


def tile_grid(
    grid: np.ndarray,
    title: str = "",
    *,
    name: str = "",
    colorscale="viridis",
    zmin: float = 0.0,
    zmax: float = 1.0,
    width: int = 450,
    max_height: int = 520,
) -> go.Figure:
    """A grid of tiles from ``cnn.explain.tile`` (NaN gaps between them), crisp pixels.

    The height follows the grid's shape for a chart about ``width`` pixels wide, so the tiles
    fill the chart instead of floating in white space."""
    a = np.asarray(grid, np.float32)  # half the bytes sent per stroke
    top = 30 if title else 0
    height = int(min(max_height, max(100, width * a.shape[0] / a.shape[1] + top)))
    fig = go.Figure(
        go.Heatmap(
            z=a,
            name=name or None,
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            showscale=False,
            hoverongaps=False,
            hovertemplate="%{z:.2f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_layout(title=title or None, height=height, margin={"l": 0, "r": 0, "t": top, "b": 0})
    return fig
