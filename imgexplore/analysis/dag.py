"""The layer DAG recovered from history, for one image and for many.

* Schema 1: one node per ``v1Compatibility`` entry, keyed by its ``id``, with an edge from
  ``parent`` to child. (Never from blobSums: every metadata-only step shares the same
  32-byte empty blob.)
* Schema 2 / OCI: one node per layer keyed by its **chain id** (the identity of the whole
  stack up to that layer), an edge from each layer to the next, and one node per history
  step: a step that made a layer points at it (``made``); a metadata-only step hangs off the
  layer that was on top when it ran (``on``), or off ``scratch`` before the first layer.
* Many images: layers merge by chain id, so a base shared by several images is one node;
  each image is a node pointing at its top layer.

Nothing here does I/O: the functions take :class:`~imgexplore.image.Image` objects (whose
metadata is already loaded) and return networkx graphs or DataFrames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import networkx as nx
import pandas as pd

from ..digest import short
from ..rows import layer_row

if TYPE_CHECKING:
    from ..image import Image

SCRATCH = "scratch"


def layer_key(image: Image, index: int) -> str:
    """The node key of a layer: its chain id, or a stand-in while diff_ids are unknown."""
    layer = image.layers[index]
    return layer.chain_id or f"layer:{index}:{layer.digest}"


def image_dag(image: Image) -> nx.DiGraph:
    """The DAG of one image (see the module docstring). ``graph.graph["problems"]`` lists
    anything that did not line up (missing parents, cycles, duplicate ids, history that
    does not match the layers); the nodes involved carry a ``problem`` attribute."""
    if image.schema_version == 1:
        return _schema1_dag(image)
    return _schema2_dag(image)


def _schema1_dag(image: Image) -> nx.DiGraph:
    graph = nx.DiGraph(kind="schema1", problems=[])
    problems: list[str] = graph.graph["problems"]
    seen: dict[str, int] = {}
    for step, layer in zip(image.history, image.layers, strict=True):
        node = step.v1_id or f"step:{step.step}"
        if node in seen:
            problems.append(f"v1 id {short(node)} is used by steps {seen[node]} and {step.step}")
            node = f"{node}#dup{step.step}"
            graph.add_node(node, problem="duplicate id")
        seen.setdefault(step.v1_id or node, step.step)
        # (this add_node and the step nodes' below share a shape, not logic: each kind of
        # node carries its own attributes)
        row = {**layer_row(layer), "created_by": step.created_by}
        del row["index"], row["history_step"]
        graph.add_node(
            node,
            kind="v1",
            step=step.step,
            v1_id=step.v1_id,
            parent=step.v1_parent,
            throwaway=layer.throwaway,
            created=step.created,
            **row,
        )
    ids = {data["v1_id"]: n for n, data in graph.nodes(data=True) if data.get("v1_id")}
    for node, data in list(graph.nodes(data=True)):
        parent = data.get("parent")
        if not parent:
            continue
        if parent in ids:
            graph.add_edge(ids[parent], node, kind="parent")
        else:
            missing = f"missing:{parent}"
            graph.add_node(missing, kind="missing", v1_id=parent, problem="parent not in the manifest")
            graph.add_edge(missing, node, kind="parent")
            graph.nodes[node]["problem"] = "parent not in the manifest"
            problems.append(f"step {data['step']} names parent {short(parent)}, which is not in the manifest")
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = []
    if cycle:
        nodes = sorted({u for u, _ in cycle})
        for node in nodes:
            graph.nodes[node]["problem"] = "cycle"
        problems.append(
            f"the id/parent chain has a cycle through {len(nodes)} steps: "
            + ", ".join(short(n) for n in nodes[:5])
        )
    roots = [n for n in graph if graph.in_degree(n) == 0 and graph.nodes[n].get("kind") == "v1"]
    if len(roots) > 1:
        problems.append(f"the id/parent chain has {len(roots)} roots; a single image has one")
    return graph


def _schema2_dag(image: Image) -> nx.DiGraph:
    graph = nx.DiGraph(kind="schema2", problems=list(_alignment_problems(image)))
    graph.add_node(SCRATCH, kind="scratch", label="scratch")
    previous = SCRATCH
    for layer in image.layers:
        key = layer_key(image, layer.index)
        row = layer_row(layer)
        graph.add_node(key, kind="layer", step=row.pop("history_step"), **row)
        graph.add_edge(previous, key, kind="parent")
        previous = key
    top = SCRATCH
    for step in image.history:
        node = f"step:{step.step}"
        graph.add_node(
            node,
            kind="step",
            step=step.step,
            created=step.created,
            created_by=step.created_by,
            empty=step.empty_layer,
            layer_index=step.layer_index,
        )
        if step.layer_index is not None:
            top = layer_key(image, step.layer_index)
            graph.add_edge(node, top, kind="made")
        else:
            graph.add_edge(top, node, kind="on")
            if not step.empty_layer:
                graph.nodes[node]["problem"] = "no layer for this step"
    for layer in image.layers:
        if layer.history_step is None:
            graph.nodes[layer_key(image, layer.index)]["problem"] = "no history step"
    return graph


def _alignment_problems(image: Image) -> list[str]:
    keywords = ("history", "diff_ids", "layer(s)")
    return [w for w in image.warnings if any(k in w for k in keywords)]


def layer_chain(graph: nx.DiGraph) -> list[dict]:
    """The layers of a single-image DAG from base to top, as attribute dicts. For schema 1
    only the steps that are in the root filesystem (not ``throwaway``) count."""
    if graph.graph.get("kind") == "schema1":
        order = [n for n in nx.topological_sort(graph) if graph.nodes[n].get("kind") == "v1"]
        return [graph.nodes[n] for n in order if not graph.nodes[n].get("throwaway")]
    layers = [n for n in nx.dfs_preorder_nodes(graph, SCRATCH) if graph.nodes[n].get("kind") == "layer"]
    return [graph.nodes[n] for n in layers]


# -- many images --------------------------------------------------------------------------


def _unique(names: list[str]) -> list[str]:
    """Names as given, a repeated one numbered (``x``, ``x #2``): image nodes need distinct names."""
    seen: dict[str, int] = {}
    result = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        result.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return result


def merge_dags(images: Sequence[Image], names: Sequence[str] | None = None) -> nx.DiGraph:
    """One graph for several images: layers keyed by chain id (so shared layers are shared
    nodes), an ``image`` node per image pointing at its top layer. Each layer node lists the
    ``images`` that contain it."""
    names = _unique(
        list(names) if names is not None else [image.name or f"image {i}" for i, image in enumerate(images)]
    )
    graph = nx.DiGraph(kind="merged", problems=[])
    graph.add_node(SCRATCH, kind="scratch", images=[])
    for name, image in zip(names, images, strict=True):
        previous = SCRATCH
        if any(layer.chain_id is None for layer in image.layers if not layer.throwaway):
            graph.graph["problems"].append(
                f"{name}: some diff_ids are unknown (schema 1?); compute_diff_ids() first to merge by chain id"
            )
        for layer in image.layers:
            if layer.throwaway:
                continue
            key = layer_key(image, layer.index)
            if key not in graph:
                row = layer_row(layer)
                del row["index"], row["history_step"]  # they differ from image to image
                graph.add_node(key, kind="layer", images=[], **row)
            if name not in graph.nodes[key]["images"]:
                graph.nodes[key]["images"].append(name)
            graph.add_edge(previous, key, kind="parent")
            previous = key
        graph.add_node(
            f"image:{name}",
            kind="image",
            name=name,
            digest=image.digest,
            platform=str(image.platform) if image.platform else "",
        )
        graph.add_edge(previous, f"image:{name}", kind="top")
    return graph


def shared_layers(graph: nx.DiGraph) -> pd.DataFrame:
    """Layers of a merged graph with the images that contain them, and the bytes that
    sharing saves (a registry or a host stores a shared blob once)."""
    rows = []
    for _key, data in graph.nodes(data=True):
        if data.get("kind") != "layer":
            continue
        count = len(data["images"])
        size = data["size"] if data["size"] >= 0 else 0
        rows.append(
            {
                "chain_id": data["chain_id"],
                "digest": data["digest"],
                "size": data["size"],
                "images": ", ".join(data["images"]),
                "image_count": count,
                "shared": count > 1,
                "bytes_saved": size * (count - 1),
                "created_by": data["created_by"],
            }
        )
    columns = ["chain_id", "digest", "size", "images", "image_count", "shared", "bytes_saved", "created_by"]
    return pd.DataFrame(rows, columns=columns)


def sharing_summary(graph: nx.DiGraph) -> dict:
    """Totals: bytes if every image stored its own layers, bytes stored once, bytes saved."""
    table = shared_layers(graph)
    sizes = table["size"].clip(lower=0)
    separate = int((sizes * table["image_count"]).sum())
    once = int(sizes.sum())
    return {
        "images": sum(1 for _, d in graph.nodes(data=True) if d.get("kind") == "image"),
        "layers": len(table),
        "shared_layers": int(table["shared"].sum()),
        "bytes_if_separate": separate,
        "bytes_stored_once": once,
        "bytes_saved": separate - once,
    }


def platform_matrix(images: Sequence[Image]) -> pd.DataFrame:
    """Rows: layers (by digest, base first); columns: platforms; True where the platform's
    image uses the layer. For the images of one multi-platform index."""
    columns: dict[str, set[str]] = {}
    order: list[str] = []
    for image in images:
        platform = str(image.platform) if image.platform else image.name
        columns[platform] = {layer.digest for layer in image.layers}
        for layer in image.layers:
            if layer.digest not in order:
                order.append(layer.digest)
    matrix = pd.DataFrame({p: [d in digests for d in order] for p, digests in columns.items()}, index=order)
    matrix.index.name = "digest"
    return matrix


# -- the aligned table ---------------------------------------------------------------------


def aligned_table(image: Image, uncompressed_sizes: Sequence[int] | None = None) -> pd.DataFrame:
    """One row per history step with the layer it produced (see :func:`imgexplore.rows.aligned_table`)."""
    from ..rows import aligned_table as build

    return build(image, list(uncompressed_sizes) if uncompressed_sizes is not None else None)


# -- drawing ---------------------------------------------------------------------------------


STEP_OFFSET = -1.3  # steps sit left of their layer, so their arrows never cross its label
STEP_SPREAD = 0.26  # vertical distance between the steps of one layer


def layered_layout(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Deterministic positions: one rank per layer from the base (y = 0) upwards; steps sit
    to the left of the layer they belong to, spread around its rank, images above their top
    layer. Needs no Graphviz."""
    positions: dict[str, tuple[float, float]] = {}
    structural = graph.subgraph(
        n for n, d in graph.nodes(data=True) if d.get("kind") in ("scratch", "layer", "v1", "missing")
    )
    ranks: dict[str, int] = {}
    for node in (
        nx.topological_sort(structural) if nx.is_directed_acyclic_graph(structural) else sorted(structural)
    ):
        preds = [p for p in structural.predecessors(node) if p in ranks]
        ranks[node] = max((ranks[p] + 1 for p in preds), default=0)
    by_rank: dict[int, list[str]] = {}
    for node, rank in ranks.items():
        by_rank.setdefault(rank, []).append(node)
    for rank in sorted(by_rank):  # bottom up: each layer under the mean of its parents (fewer crossings)
        nodes = by_rank[rank]

        def below(n: str) -> float:
            xs = [positions[p][0] for p in structural.predecessors(n) if p in positions]
            return sum(xs) / len(xs) if xs else 0.0

        nodes.sort(key=lambda n: (below(n), str(graph.nodes[n].get("images", "")), n))
        for i, node in enumerate(nodes):
            positions[node] = (i - (len(nodes) - 1) / 2, float(rank))
    steps_of: dict[str, list[str]] = {}
    images_of: dict[str, list[str]] = {}
    for node, data in sorted(graph.nodes(data=True), key=lambda item: (item[1].get("step") or 0, item[0])):
        kind = data.get("kind")
        if kind == "step":
            anchor = next(iter(graph.successors(node)), None) if graph.out_degree(node) else None
            if anchor is None or graph.nodes[anchor].get("kind") == "step":
                anchor = next(iter(graph.predecessors(node)), SCRATCH)
            steps_of.setdefault(anchor, []).append(node)
        elif kind == "image":
            images_of.setdefault(next(iter(graph.predecessors(node)), SCRATCH), []).append(node)
    # images in a row of their own above the highest layer, each over its top layer (an image
    # placed just above its top layer could land on another image's layer)
    top_rank = max(by_rank, default=0) + 1
    wanted = sorted(
        (positions.get(anchor, (0.0, 0.0))[0], node)
        for anchor, images in images_of.items()
        for node in images
    )
    previous = None
    for x, node in wanted:  # over its top layer where it can, a node apart from the next image
        x = x if previous is None else max(x, previous + 1.0)
        positions[node] = (x, float(top_rank))
        previous = x
    for anchor, steps in steps_of.items():
        x, y = positions.get(anchor, (0.0, 0.0))
        for k, node in enumerate(steps):  # the first step lowest, centred on the layer's rank
            positions[node] = (x + STEP_OFFSET, y + STEP_SPREAD * (k - (len(steps) - 1) / 2))
    for node in graph:
        positions.setdefault(node, (0.0, -1.0))
    return positions


# -- export ------------------------------------------------------------------------------------


def _scalar_attrs(graph: nx.DiGraph) -> nx.DiGraph:
    """A copy whose attributes are all strings, numbers or booleans (GraphML, DOT)."""
    out = nx.DiGraph()
    out.graph.update({k: "; ".join(v) if isinstance(v, list) else str(v) for k, v in graph.graph.items()})

    def clean(attrs: dict) -> dict:
        result = {}
        for key, value in attrs.items():
            if value is None:
                continue
            if isinstance(value, (list, tuple, set)):
                value = ", ".join(str(v) for v in value)
            elif not isinstance(value, (str, int, float, bool)):
                value = str(value)
            result[key] = value
        return result

    for node, data in graph.nodes(data=True):
        out.add_node(node, **clean(data))
    for u, v, data in graph.edges(data=True):
        out.add_edge(u, v, **clean(data))
    return out


def to_graphml(graph: nx.DiGraph) -> str:
    """GraphML text (for Gephi, yEd, Cytoscape)."""
    return "\n".join(nx.generate_graphml(_scalar_attrs(graph)))


def to_json(graph: nx.DiGraph) -> dict:
    """networkx node-link data (JSON-ready)."""
    return nx.node_link_data(_scalar_attrs(graph), edges="links")


def to_dot(graph: nx.DiGraph) -> str:
    """Graphviz DOT text (render with ``dot -Tsvg``; not needed by imgexplore itself)."""

    def escape(text) -> str:
        return str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")

    def quote(text) -> str:
        return f'"{escape(text)}"'

    shapes = {
        "layer": "box",
        "v1": "box",
        "step": "note",
        "image": "house",
        "scratch": "plaintext",
        "missing": "octagon",
    }
    lines = ["digraph layers {", "  rankdir=BT;", '  node [fontname="Helvetica", fontsize=10];']
    for node, data in graph.nodes(data=True):
        kind = data.get("kind", "")
        if kind in ("layer", "v1"):
            label = [short(data.get("digest")), (data.get("created_by") or "")[:40]]
        elif kind == "step":
            label = [f"step {data.get('step')}: {(data.get('created_by') or '')[:40]}"]
        elif kind == "image":
            label = [data.get("name", node)]
        else:
            label = [node]
        style = ", style=dashed" if data.get("empty") else ""
        color = ", color=red" if data.get("problem") else ""
        text = "\\n".join(escape(part) for part in label)  # DOT's own line break
        lines.append(f'  {quote(node)} [label="{text}", shape={shapes.get(kind, "ellipse")}{style}{color}];')
    for u, v, data in graph.edges(data=True):
        lines.append(f"  {quote(u)} -> {quote(v)} [label={quote(data.get('kind', ''))}];")
    lines.append("}")
    return "\n".join(lines)
