"""What a scanned corpus says: layer sharing, file-level duplication, size distributions,
the most shared layers and the share of metadata-only steps (the questions of the Docker Hub
studies, e.g. Zhao et al., IEEE CLUSTER 2019 / TPDS 2021)."""

from __future__ import annotations

import os

import pandas as pd

from .scan import read_table


def load(out: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Every table of a scan; ``layers`` deduplicated by digest, with uncompressed sizes
    where the layer was indexed."""
    if not os.path.isdir(os.path.join(os.fspath(out), "images")):
        from ..errors import CorpusError

        raise CorpusError(
            f"{os.fspath(out)!r} is not a corpus dataset (no images/ folder): make one with corpus scan"
        )
    tables = {
        name: read_table(out, name)
        for name in (
            "images",
            "layers",
            "image_layers",
            "history",
            "files",
            "layer_sizes",
            "chunks",
            "errors",
        )
    }
    layers = tables["layers"]
    if not layers.empty:
        layers = layers.drop_duplicates("digest").reset_index(drop=True)
        sizes = tables["layer_sizes"]
        if not sizes.empty:
            layers = layers.drop(columns=["diff_id"]).merge(
                sizes.drop_duplicates("digest"), on="digest", how="left"
            )
        tables["layers"] = layers
    return tables


def layer_sharing(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per layer: how many distinct images (manifest digests) and specs (tags) use
    it, and the bytes sharing saves (size × (images − 1))."""
    uses = tables["image_layers"]
    if uses.empty:
        return pd.DataFrame(columns=["digest", "images", "specs", "size", "bytes_saved", "created_by"])
    counts = (
        uses.groupby("digest")
        .agg(
            images=("image_digest", "nunique"), specs=("spec", "nunique"), created_by=("created_by", "first")
        )
        .reset_index()
    )
    table = counts.merge(tables["layers"][["digest", "size"]], on="digest", how="left")
    table["bytes_saved"] = table["size"].clip(lower=0) * (table["images"] - 1)
    return table.sort_values(["images", "digest"], ascending=[False, True]).reset_index(drop=True)


def sharing_summary(tables: dict[str, pd.DataFrame]) -> dict:
    """Bytes if each image stored its own layers, bytes stored once, and the ratio."""
    sharing = layer_sharing(tables)
    sizes = sharing["size"].clip(lower=0)
    separate = int((sizes * sharing["images"]).sum())
    once = int(sizes.sum())
    return {
        "images": int(tables["images"]["digest"].nunique()) if not tables["images"].empty else 0,
        "specs": len(tables["images"]),
        "layers": len(sharing),
        "bytes_if_separate": separate,
        "bytes_stored_once": once,
        "bytes_saved_by_layer_sharing": separate - once,
    }


def file_duplication(tables: dict[str, pd.DataFrame]) -> dict:
    """File-level deduplication over the unique layers: all regular files, distinct contents
    (by sha256; needs a scan with ``hash_files``), their ratio, and the bytes file-level
    deduplication saves beyond layer-level sharing."""
    files = tables["files"]
    if files.empty or "sha256" not in files:
        return {
            "files": int((files["type"] == "file").sum()) if not files.empty else 0,
            "note": "scan with hash_files=True to measure duplication by content",
        }
    regular = files[(files["type"] == "file")]
    contents = regular.drop_duplicates("sha256")
    return {
        "files": len(regular),
        "unique_files": len(contents),
        "unique_ratio": len(contents) / len(regular) if len(regular) else 1.0,
        "bytes": int(regular["size"].sum()),
        "unique_bytes": int(contents["size"].sum()),
        "bytes_saved_by_file_dedup": int(regular["size"].sum() - contents["size"].sum()),
    }


def chunk_duplication(tables: dict[str, pd.DataFrame]) -> dict | None:
    """Chunk-level deduplication over the layers indexed from eStargz or zstd:chunked TOCs
    (``corpus scan --files --toc-only``): pieces of file data, distinct ones by sha256, and
    the bytes chunk-level deduplication saves; None when no layer was indexed that way."""
    chunks = tables.get("chunks", pd.DataFrame())
    if chunks.empty:
        return None
    from ..lazy.dedup import counts

    found = counts(chunks.rename(columns={"digest": "layer_digest"}))
    return {
        "layers": found["layers_counted"],
        "chunks": found["chunks"],
        "unique_chunks": found["unique_chunks"],
        "bytes": found["bytes"],
        "unique_bytes": found["unique_chunk_bytes"],
        "bytes_saved_by_chunk_dedup": found["saved_by_chunk_dedup"],
    }


def distributions(tables: dict[str, pd.DataFrame]) -> dict[str, pd.Series]:
    """The samples behind the CDFs: image size, layer size, files per layer, compression
    ratio (uncompressed / compressed) and layers per image."""
    images, layers, files = tables["images"], tables["layers"], tables["files"]
    result = {
        "image compressed size (bytes)": images.drop_duplicates("digest")["compressed_size"]
        if not images.empty
        else pd.Series(dtype=float),
        "layer compressed size (bytes)": layers["size"].clip(lower=0)
        if not layers.empty
        else pd.Series(dtype=float),
        "layers per image": images.drop_duplicates("digest")["layers"]
        if not images.empty
        else pd.Series(dtype=float),
    }
    if not files.empty:
        result["files per layer"] = files.groupby("digest").size()
    if "tar_size" in layers:
        indexed = layers[layers["tar_size"].notna() & (layers["size"] > 0)]
        result["compression ratio"] = indexed["tar_size"] / indexed["size"]
    return result


def most_shared(tables: dict[str, pd.DataFrame], n: int = 10) -> pd.DataFrame:
    """The ``n`` layers used by the most images, with the step that made them."""
    return layer_sharing(tables).head(n)


def metadata_only_share(tables: dict[str, pd.DataFrame]) -> float:
    """The share of history steps that made no layer (ENV, LABEL, CMD…)."""
    history = tables["history"]
    return float(history["empty_layer"].mean()) if not history.empty else 0.0


def write_report(out: str | os.PathLike, report_dir: str | os.PathLike) -> dict:
    """CSV tables, CDF figures (PNG+SVG) and an index.html for a scanned corpus."""
    import html
    import json

    from ..folders import make_folder
    from ..viz import plots

    tables = load(out)
    report_dir = make_folder(report_dir, "report folder")
    sharing = layer_sharing(tables)
    sharing.to_csv(os.path.join(report_dir, "layer_sharing.csv"), index=False)
    tables["images"].to_csv(os.path.join(report_dir, "images.csv"), index=False)
    if not tables["errors"].empty:
        tables["errors"].to_csv(os.path.join(report_dir, "errors.csv"), index=False)
    summary = {
        "layer_sharing": sharing_summary(tables),
        "file_duplication": file_duplication(tables),
        **({"chunk_duplication": chunks} if (chunks := chunk_duplication(tables)) else {}),
        "metadata_only_steps": metadata_only_share(tables),
        "errors": len(tables["errors"]),
    }
    with open(os.path.join(report_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    figures = []
    for name, sample in distributions(tables).items():
        if len(sample):
            stem = os.path.join(report_dir, "cdf-" + name.split(" (")[0].replace(" ", "-"))
            figures += plots.save(plots.cdf(sample, name), stem, ("png", "svg"))
    with open(os.path.join(report_dir, "index.html"), "w", encoding="utf-8") as f:
        f.write(
            "<!doctype html><meta charset='utf-8'><title>imgexplore corpus report</title>"
            f"<h1>Corpus report</h1><pre>{html.escape(json.dumps(summary, indent=2))}</pre>"
            + "".join(
                f"<img src='{os.path.basename(p)}' style='max-width:48%'>"
                for p in figures
                if p.endswith(".png")
            )
            + "<h2>Most shared layers</h2>"
            + sharing.head(20).to_html(index=False)
        )
    return {"summary": summary, "figures": figures}
