"""The layer DAG: schema 1 id/parent chains checked against a plain JSON reading of each
fixture, chain ids against an independent computation, merging, and malformed history."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import networkx as nx
import pandas as pd
import pytest

import imgexplore
from imgexplore.analysis import dag

CI = "containers__image/"
QUAY = "quay__quay/image/docker/schema2/test/conversion_data/"
SCHEMA1 = [
    CI + "internal/image/fixtures/oci1-to-schema1.json",
    CI + "internal/image/fixtures/schema1-for-oci-config.json",
    CI + "internal/image/fixtures/schema1.json",
    CI + "internal/manifest/testdata/v2s1.manifest.json",
    CI + "manifest/fixtures/v2s1.everything.json",
    "moby__moby/distribution/fixtures/validate_manifest/good_manifest",
    QUAY + "simple.schema1.json",
]


def plain_chain(path):
    """ids from the raw JSON: history is newest first; returns (root id, tip id, ids, parents)."""
    doc = json.loads(path.read_text())
    v1 = [json.loads(h["v1Compatibility"]) for h in doc["history"]]
    return v1[-1]["id"], v1[0]["id"], [e["id"] for e in v1], [e.get("parent") for e in v1]


@pytest.mark.parametrize("rel", SCHEMA1)
def test_schema1_chain(realdata, rel):
    root, tip, ids, parents = plain_chain(realdata / rel)
    graph = dag.image_dag(imgexplore.open_image(realdata / rel))
    v1_nodes = [n for n, d in graph.nodes(data=True) if d["kind"] == "v1"]
    assert len(v1_nodes) == len(ids)
    internal_edges = sum(1 for p in parents if p in set(ids))
    assert graph.number_of_edges() == internal_edges + sum(1 for p in parents if p and p not in set(ids))
    roots = [n for n in v1_nodes if graph.in_degree(n) == 0]
    tips = [n for n in v1_nodes if graph.out_degree(n) == 0]
    if parents[-1] is None:
        assert roots == [root]
    assert tips == [tip]
    assert nx.is_directed_acyclic_graph(graph)


def test_hello_world_chain(realdata):
    graph = dag.image_dag(imgexplore.open_image(realdata / SCHEMA1[5]))
    assert list(nx.topological_sort(graph)) == [
        "535020c3e8add9d6bb06e5ac15a261e73d9b213d62fb2c14d752b8e189b2b912",
        "af340544ed62de0680f441c71fa1a80cb084678fed42bae393e543faea3a572c",
    ]
    top = graph.nodes["af340544ed62de0680f441c71fa1a80cb084678fed42bae393e543faea3a572c"]
    assert top["digest"] == imgexplore.mediatypes.EMPTY_LAYER_SCHEMA1 and top["empty"]


def test_chain_ids_by_independent_computation(data_dir):
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    graph = dag.image_dag(image)
    diff_ids = json.loads((data_dir / "teaching" / "config.json").read_text())["rootfs"]["diff_ids"]
    expected, previous = [], None
    for diff_id in diff_ids:
        previous = (
            diff_id
            if previous is None
            else "sha256:" + hashlib.sha256(f"{previous} {diff_id}".encode()).hexdigest()
        )
        expected.append(previous)
    assert [d["chain_id"] for d in dag.layer_chain(graph)] == expected
    layers = [n for n, d in graph.nodes(data=True) if d["kind"] == "layer"]
    assert layers == expected  # nodes are keyed by chain id
    steps = [d for _, d in graph.nodes(data=True) if d["kind"] == "step"]
    assert len(steps) == 12 and sum(d["empty"] for d in steps) == 6
    # every empty step hangs off the layer on top when it ran
    assert [u for u, v in graph.in_edges("step:1")] == [expected[0]]
    assert [v for u, v in graph.out_edges("step:2")] == [expected[1]]


def test_schema1_and_schema2_of_the_teaching_image_agree(data_dir):
    s2 = dag.image_dag(imgexplore.open_image(data_dir / "teaching" / "oci"))
    image1 = imgexplore.open_image(
        data_dir / "teaching" / "schema1.json", blobs=str(data_dir / "teaching" / "oci")
    )
    image1.compute_diff_ids()
    s1 = dag.image_dag(image1)
    assert [d["chain_id"] for d in dag.layer_chain(s1)] == [d["chain_id"] for d in dag.layer_chain(s2)]
    assert [d["created_by"] for d in dag.layer_chain(s1)] == [d["created_by"] for d in dag.layer_chain(s2)]
    v1 = sorted((d for _, d in s1.nodes(data=True) if d["kind"] == "v1"), key=lambda d: d["step"])
    steps = sorted((d for _, d in s2.nodes(data=True) if d["kind"] == "step"), key=lambda d: d["step"])
    assert [d["throwaway"] for d in v1] == [d["empty"] for d in steps]


def test_quay_schema1_schema2_pair_same_shape(realdata):
    s1 = imgexplore.open_image(realdata / QUAY / "simple.schema1.json")
    s2 = imgexplore.open_image(
        realdata / QUAY / "simple.schema2.json", config=str(realdata / QUAY / "simple.config.json")
    )
    assert any("used as given, unverified" in w for w in s2.warnings)  # the fixture's config was re-formatted
    c1, c2 = dag.layer_chain(dag.image_dag(s1)), dag.layer_chain(dag.image_dag(s2))
    assert [d["digest"] for d in c1] == [d["digest"] for d in c2]
    assert len(c1) == 2
    assert [(s.created_by, s.empty_layer) for s in s1.history] == [
        (s.created_by, s.empty_layer) for s in s2.history
    ]


def test_merging_images_that_share_a_base(data_dir):
    teaching = imgexplore.open_image(data_dir / "teaching" / "oci")
    derived = imgexplore.open_image(data_dir / "derived" / "oci")
    graph = dag.merge_dags([teaching, derived], ["teaching", "derived"])
    table = dag.shared_layers(graph)
    assert int(table["shared"].sum()) == 2
    assert sorted(table.loc[table["shared"], "digest"]) == sorted(
        layer.digest for layer in teaching.layers[:2]
    )
    summary = dag.sharing_summary(graph)
    assert summary["layers"] == 6 + 5 - 2
    assert summary["bytes_saved"] == teaching.layers[0].size + teaching.layers[1].size == 18047 + 37175
    # each image is a path from scratch to its top layer
    for name, image in (("teaching", teaching), ("derived", derived)):
        path = nx.shortest_path(graph, dag.SCRATCH, f"image:{name}")
        assert len(path) == len(image.layers) + 2


def test_platform_matrix(data_dir):
    images = [
        imgexplore.open_image(data_dir / "multiarch" / "oci", p) for p in ("linux/amd64", "linux/arm64/v8")
    ]
    matrix = dag.platform_matrix(images)
    assert list(matrix.columns) == ["linux/amd64", "linux/arm64/v8"]
    assert matrix.values.tolist() == [[True, True], [True, False], [False, True]]


def test_aligned_table(data_dir):
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    tables = image.files(cache=False).tables
    table = dag.aligned_table(image, [t.attrs["tar_size"] for t in tables])
    assert len(table) == 12
    assert [None if pd.isna(v) else int(v) for v in table["layer_index"]][:4] == [0, None, 1, None]
    row = table.iloc[9]
    assert (row["digest"], row["uncompressed_size"]) == (image.layers[5].digest, 20480)


# -- malformed history ----------------------------------------------------------------------


def schema1_doc(steps):
    """steps: list of (id, parent, throwaway), oldest first."""
    history, layers = [], []
    for i, (v1_id, parent, throwaway) in enumerate(steps):
        v1 = {"id": v1_id, "container_config": {"Cmd": [f"step {i}"]}}
        if parent:
            v1["parent"] = parent
        if throwaway:
            v1["throwaway"] = True
        history.append({"v1Compatibility": json.dumps(v1)})
        layers.append({"blobSum": imgexplore.mediatypes.EMPTY_LAYER_SCHEMA1})
    return {
        "schemaVersion": 1,
        "name": "x",
        "tag": "y",
        "architecture": "amd64",
        "fsLayers": layers[::-1],
        "history": history[::-1],
    }


A, B, C = ("a" * 64, "b" * 64, "c" * 64)


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ([(A, None, False), (B, "f" * 64, False)], "not in the manifest"),
        ([(A, C, False), (B, A, False), (C, B, False)], "cycle"),
        ([(A, None, False), (A, A, False)], "is used by steps 0 and 1"),
    ],
    ids=["missing-parent", "cycle", "duplicate-id"],
)
def test_malformed_schema1_history(tmp_path, steps, problem):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(schema1_doc(steps)))
    image = imgexplore.open_image(path)
    graph = dag.image_dag(image)
    assert any(problem in p for p in graph.graph["problems"])
    assert any(d.get("problem") for _, d in graph.nodes(data=True))
    assert image.warnings  # the image says it too
    dag.layered_layout(graph)  # drawing a broken graph must not hang or crash
    dag.to_dot(graph)


def test_more_steps_than_layers(tmp_path):
    from test_image_model import D1, L1, write_image

    image = write_image(tmp_path, [L1], [D1], [{"created_by": "A"}, {"created_by": "B"}])
    graph = dag.image_dag(image)
    assert graph.nodes["step:1"]["problem"] == "no layer for this step"
    assert any("have no layer" in p for p in graph.graph["problems"])


def test_layout_is_deterministic(data_dir):
    graph = dag.merge_dags(
        [
            imgexplore.open_image(data_dir / "teaching" / "oci"),
            imgexplore.open_image(data_dir / "derived" / "oci"),
        ],
        ["t", "d"],
    )
    assert dag.layered_layout(graph) == dag.layered_layout(graph.copy())
    positions = dag.layered_layout(graph)
    assert positions[dag.SCRATCH][1] == 0


@pytest.mark.parametrize("fmt", ["json", "graphml", "dot"])
def test_cli_dag_export(data_dir, tmp_path, fmt):
    out = tmp_path / f"g.{fmt}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "imgexplore",
            "dag",
            str(data_dir / "teaching/oci"),
            str(data_dir / "derived/oci"),
            "--format",
            fmt,
            "-o",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    text = out.read_text()
    if fmt == "json":
        data = json.loads(text)
        assert sum(1 for n in data["nodes"] if n["kind"] == "layer") == 9
    elif fmt == "graphml":
        graph = nx.read_graphml(out)
        assert sum(1 for _, d in graph.nodes(data=True) if d["kind"] == "layer") == 9
    else:
        assert text.startswith("digraph layers {") and text.count("shape=box") == 9


def test_cli_diff(data_dir):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "imgexplore",
            "diff",
            str(data_dir / "teaching/oci"),
            str(data_dir / "derived/oci"),
            "--format",
            "json",
            "--files",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out)
    assert [r["in"] for r in result["layers"]].count("both") == 2
    settings = {r["setting"]: (r["a"], r["b"]) for r in result["config"]}
    assert settings["User"] == (None, "worker")
    assert settings["WorkingDir"] == ("/app", "/home/worker")
    files = {r["path"]: r["change"] for r in result["files"]}
    assert files["etc/passwd"] == "modified" and files["home/worker/worker.py"] == "added"
    assert {r["path"]: r["detail"] for r in result["files"]}["etc/passwd"] == "content"
    assert files["app/config.json"] == "deleted"


def test_merging_the_same_image_twice_numbers_the_second(data_dir):
    """`imgexplore dag A A` once ended in a ValueError traceback."""
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    graph = dag.merge_dags([image, image], ["t", "t"])
    assert sorted(n for n, d in graph.nodes(data=True) if d["kind"] == "image") == ["image:t", "image:t #2"]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "imgexplore",
            "dag",
            data_dir / "teaching" / "oci",
            data_dir / "teaching" / "oci",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
