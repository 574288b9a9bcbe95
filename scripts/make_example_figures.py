#!/usr/bin/env python3
"""Draw the example figures the README shows (docs/figures/*.png) from the bundled images.

Rerun after changing a figure:  python scripts/make_example_figures.py
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import imgexplore  # noqa: E402
from imgexplore.analysis import dag  # noqa: E402
from imgexplore.report import report_figures  # noqa: E402
from imgexplore.viz import plots  # noqa: E402

OUT = os.path.join(ROOT, "docs", "figures")


def example_figures() -> dict:
    """Every example figure, by file name (without extension)."""
    teaching = imgexplore.open_image(os.path.join(ROOT, "data", "teaching", "oci"))
    derived = imgexplore.open_image(os.path.join(ROOT, "data", "derived", "oci"))
    figures = report_figures(teaching)
    merged = dag.merge_dags([teaching, derived], ["data/teaching", "data/derived"])
    shared = int(dag.shared_layers(merged)["shared"].sum())
    figures["shared_layers_dag"] = plots.dag(merged, title=f"Two images sharing {shared} base layers")
    platforms = imgexplore.list_platforms(os.path.join(ROOT, "data", "multiarch", "oci"))
    images = [
        imgexplore.open_image(os.path.join(ROOT, "data", "multiarch", "oci"), p)
        for p, attestation in zip(platforms["platform"], platforms["attestation"], strict=True)
        if not attestation
    ]
    figures["platform_matrix"] = plots.platform_matrix(dag.platform_matrix(images))
    return figures


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    for name, figure in example_figures().items():
        plots.save(figure, os.path.join(OUT, name), formats=("png",), dpi=110)
    print(f"wrote {len(os.listdir(OUT))} figures to {OUT}")


if __name__ == "__main__":
    main()
