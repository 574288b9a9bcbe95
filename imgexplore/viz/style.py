"""One visual language for every figure, table and the explorer: a colour-blind-safe palette
(Okabe & Ito, "Color Universal Design", 2008), sizes in the units ``docker images`` uses
(powers of 1000: kB, MB, GB) said once in the axis label, and round ticks in that unit."""

from __future__ import annotations

import math

from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

# Okabe–Ito: distinguishable with every common colour-vision deficiency, and in greyscale by lightness
BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
GREY = "#BBBBBB"

COMPRESSED = BLUE  # what a pull downloads
UNCOMPRESSED = ORANGE  # what lands on disk
EMPTY = GREY  # metadata-only steps, empty layers
VISIBLE = SKY_BLUE  # bytes a container can see
WASTED = VERMILLION  # bytes shipped but never seen
SHARED = BLUISH_GREEN  # layers several images share
PROBLEM = REDDISH_PURPLE  # something that does not line up
STEP = "#F2F2F2"  # a history step that made no layer of its own

UNITS = ("B", "kB", "MB", "GB", "TB")


def byte_unit(top: float) -> tuple[str, float]:
    """The unit (and its size) for a scale whose largest value is ``top`` bytes.

    >>> byte_unit(51_200), byte_unit(999), byte_unit(3_400_000_000)
    (('kB', 1000.0), ('B', 1.0), ('GB', 1000000000.0))
    """
    power = min(int(math.log10(max(abs(top), 1.0)) // 3), len(UNITS) - 1)
    return UNITS[power], 1000.0**power


def bytes_axis(axis, label: str) -> None:
    """Label an axis ``label (unit)`` in the one decimal unit its range calls for, with round
    ticks (1, 2, 2.5 or 5 × 10ⁿ of that unit). A log axis spans several units, so each of its
    ticks (powers of ten; also 2× and 5× over less than three decades) carries its own unit:
    ``100 B``, ``1 kB``, ``10 kB``."""
    low, high = axis.get_view_interval()
    if axis.get_scale() != "linear":
        decades = math.log10(max(high, 1) / max(low, 1))
        axis.set_major_locator(LogLocator(base=10, subs=(1.0,) if decades > 3 else (1.0, 2.0, 5.0)))
        axis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
        axis.set_major_formatter(FuncFormatter(lambda value, _: _bytes_tick(value)))
        axis.set_label_text(label)
        return
    unit, factor = byte_unit(max(abs(low), abs(high)))
    axis.set_major_locator(_ScaledLocator(factor))
    axis.set_major_formatter(FuncFormatter(lambda value, _: _number(value / factor)))
    axis.set_label_text(f"{label} ({unit})")


def _bytes_tick(value: float) -> str:
    """A tick of a log bytes axis in its own unit: ``1000`` → ``1 kB``, ``0.5`` → ``""``."""
    if value < 1:
        return ""
    unit, factor = byte_unit(value)
    return f"{_number(value / factor)} {unit}"


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}"


class _ScaledLocator(MaxNLocator):
    """Round ticks in a unit of ``factor`` bytes rather than in bytes."""

    def __init__(self, factor: float):
        super().__init__(nbins=6, steps=[1, 2, 2.5, 5, 10])
        self.factor = factor

    def tick_values(self, vmin, vmax):
        return [t * self.factor for t in super().tick_values(vmin / self.factor, vmax / self.factor)]
