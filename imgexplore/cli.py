"""The ``imgexplore`` command line: the notebooks' tables without a notebook."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import os
import sys
from collections.abc import Callable, Sequence

from .errors import ImgExploreError, NotInImageError
from .heap import tune_heap

# httpx imports its own command line (click and pygments, 12-19 ms) whenever they are
# installed, as they are beside JupyterLab and Dask; this process never runs it, and the
# registry commands are timed against skopeo
sys.modules.setdefault("httpx._main", None)

FORMATS = ("table", "csv", "json")  # what imgexplore.output.render writes

SOURCE_HELP = (
    "an OCI layout folder or tar (oci:PATH[:TAG]), a docker save tarball "
    "(docker-archive:PATH[:TAG]), a saved manifest file (manifest:PATH), an image in a local "
    "engine (docker-daemon:NAME, docker-root:[DIR]NAME, containerd:NAME, "
    "containers-storage:[ROOT]NAME; see imgexplore engines), or a registry reference such as "
    "docker.io/library/centos:7"
)


def render(table, fmt: str, **options) -> str:
    """imgexplore.output.render, imported when a command has a table to print: pandas stays
    out of ``--help``, argument errors and the commands that print no table."""
    from .output import render as render_table

    return render_table(table, fmt, **options)


class Streamed:
    """A table a command hands back to be written a chunk at a time (CSV, JSON) rather than
    built into one string: a 200,000-entry file tree as JSON is hundreds of megabytes. An
    Arrow table is written by :mod:`imgexplore.arrowtext` (no pandas), a DataFrame by
    :func:`imgexplore.output.write`: the same bytes."""

    def __init__(self, table, fmt: str):
        self.table, self.fmt = table, fmt

    def write(self, out) -> None:
        if type(self.table).__module__.startswith("pyarrow"):
            import io

            from . import arrowtext

            binary = getattr(out, "buffer", None)
            target = binary if binary is not None else io.BytesIO()
            out.flush()
            (arrowtext.write_csv if self.fmt == "csv" else arrowtext.write_json)(self.table, target)
            if binary is None:
                out.write(target.getvalue().decode())
            return
        from .output import write

        write(self.table, self.fmt, out)


def octal_modes(table):
    from .output import octal_modes as in_octal

    return in_octal(table)


class UsageError(ImgExploreError):
    """A command line that does not parse: an unknown option, a missing or malformed value."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own prints the whole usage and exits
        raise UsageError(f"{message} (see: {self.prog} --help)")


def _layer_number(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a layer is a number (0, 1, …), not {text!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"layers are numbered from 0 (the base layer), not {number}")
    return number


def _layer_or_all(text: str) -> int | str:
    return text if text == "all" else _layer_number(text)


def _registry_options(args: argparse.Namespace):
    """The registry settings of a command's flags (one object, for every registry it reaches)."""
    from .registry.options import RegistryOptions

    return RegistryOptions(
        insecure=bool(getattr(args, "insecure", False)),
        ca_bundle=getattr(args, "ca_bundle", None),
        schema1=bool(getattr(args, "schema1", False)),
    )


def _open(args: argparse.Namespace):
    from .opener import open_image

    return open_image(
        args.source,
        args.platform,
        config=getattr(args, "config", None),
        blobs=getattr(args, "blobs", None),
        registry=_registry_options(args),
    )


def cmd_inspect(args: argparse.Namespace) -> str:
    image = _open(args)
    if args.format == "json":
        import json

        from .output import records

        return json.dumps(
            {
                "source": image.name,
                "media_type": image.media_type,
                "digest": image.digest,
                "platform": str(image.platform) if image.platform else None,
                "config_digest": image.config_digest,
                "layers": records(image.layers_table()),
                "history": records(image.history_table()),
                "warnings": image.warnings,
            },
            indent=2,
        )
    return image.summary()


def cmd_layers(args: argparse.Namespace) -> str:
    image = _open(args)
    if args.diff_ids:
        image.compute_diff_ids()
    return render(image.layers_table(), args.format, wide=args.wide)


def cmd_history(args: argparse.Namespace) -> str:
    return render(_open(args).history_table(), args.format, wide=args.wide)


def _table_view(table, fmt: str):
    """Octal modes for people; numbers for programs."""
    return octal_modes(table) if fmt == "table" else table


TREE_COLUMNS = [
    "layer",
    "path",
    "type",
    "size",
    "mode",
    "uid",
    "gid",
    "linkname",
    "whiteout",
    "opaque",
    "sha256",
]


def cmd_tree(args: argparse.Namespace) -> str:
    image = _open(args)
    layer = None if args.layer in (None, "all") else args.layer
    if (
        args.format in ("csv", "json")
        and args.layer is not None
        and not (args.changes or args.merged or args.toc_only)
    ):
        # one layer's entries or every layer's, as listed: written from Arrow, without pandas
        from .filetree.arrowviews import layers_listing

        listing = layers_listing(
            image, TREE_COLUMNS[1:], layer=layer, path=args.path, progress=args.progress, write_behind=True
        )
        return Streamed(listing, args.format)
    files = image.files(progress=args.progress, toc_only=args.toc_only)
    if args.changes:
        table = files.changes(layer)
    elif args.merged or args.layer is None:
        table = files.merged(layer)
        table = table[[c for c in TREE_COLUMNS if c in table]]
    elif layer is None:
        table = files.all_layers()[TREE_COLUMNS]
    else:
        table = files.layer(layer).assign(layer=layer % len(image.layers))[TREE_COLUMNS]
    if args.path:
        prefix = args.path.strip("/")
        table = table[(table["path"] == prefix) | table["path"].str.startswith(prefix + "/")]
    if args.format == "table" and not args.wide:
        table = table.drop(columns=[c for c in ("sha256",) if c in table])
    if args.format in ("csv", "json"):
        return Streamed(_table_view(table, args.format), args.format)
    return render(_table_view(table, args.format), args.format, wide=args.wide, max_text=100)


def cmd_lineage(args: argparse.Namespace) -> str:
    image = _open(args)
    table = image.files(progress=args.progress).lineage(args.path)
    if table.empty:
        raise NotInImageError(f"no layer adds, changes or deletes {args.path!r}")
    return render(table, args.format, wide=args.wide)


def cmd_waste(args: argparse.Namespace) -> str:
    import json

    from .present import human_bytes

    image = _open(args)
    files = image.files(progress=args.progress)
    per_layer, summary = files.waste()
    duplicates = files.duplicates()
    if args.format == "json":
        from .output import records

        return json.dumps(
            {"summary": summary, "layers": records(per_layer), "duplicates": records(duplicates)}, indent=2
        )
    if args.format == "csv":
        return render(per_layer, "csv")
    import textwrap

    lines = [
        textwrap.fill(summary["explanation"], 88),
        "",
        render(per_layer, "table"),
        "",
        f"file bytes in all layers: {summary['file_bytes_all_layers']} ({human_bytes(summary['file_bytes_all_layers'])})",
        f"wasted:                   {summary['wasted_bytes']} ({human_bytes(summary['wasted_bytes'])}) "
        f"in {summary['wasted_files']} superseded file copies",
    ]
    if "wasted_compressed_estimate" in summary:
        lines.append(
            f"wasted, compressed (est): {summary['wasted_compressed_estimate']} "
            f"({human_bytes(summary['wasted_compressed_estimate'])})"
        )
    lines.append(f"efficiency:               {summary['efficiency']:.1%}")
    if len(duplicates):
        lines += ["", "files with the same content in several places:", render(duplicates.head(20), "table")]
    return "\n".join(lines)


def cmd_cat(args: argparse.Namespace) -> str:
    from .extract import read_file

    image = _open(args)
    data = read_file(image, args.path, layer=args.layer, max_bytes=args.max_bytes)
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return ""


def cmd_extract(args: argparse.Namespace) -> str:
    from .extract import extract

    image = _open(args)
    report = extract(image, args.path, args.dest, layer=args.layer, max_file_size=args.max_file_size)
    lines = [f"extracted {len(report.written)} entries of {args.path!r} to {args.dest}"]
    lines += [f"skipped {path}: {reason}" for path, reason in report.skipped]
    return "\n".join(lines)


def _open_many(args: argparse.Namespace) -> list:
    from .opener import open_image

    options = _registry_options(args)
    return [open_image(source, args.platform, registry=options) for source in args.sources]


def cmd_host(args: argparse.Namespace) -> str:
    images = _open_many(args)
    if args.name and len(args.name) != len(images):
        raise UsageError(f"--name is given {len(args.name)} times for {len(images)} sources: one per source")
    names = args.name or None
    if args.engine == "containerd":
        from .host.containerd import METADATA, write_containerd_store

        store = write_containerd_store(images, args.root, names=names, force=args.force)
        lines = [
            f"wrote containerd's content store and overlayfs snapshots for {len(images)} image(s) under {store.root}"
        ]
        lines += [f"  image {row.name} -> {row.digest[:19]}" for row in store.images.itertuples()]
        lines += [
            f"  blob  {row.digest[:19]}  {row.kind:8}  {len(row.labels)} labels"
            for row in store.content.itertuples()
        ]
        lines += [
            f"  snapshot {row.id:3}  {row.key[:19]}  ({'written' if row.written else 'shared, already there'})"
            for row in store.snapshots.itertuples()
        ]
        lines.append(
            f"note: containerd keeps names, labels and snapshot keys in bolt databases; they are in {METADATA} here"
        )
        return "\n".join(lines)
    from .host.docker import write_docker_store

    store = write_docker_store(images, args.root, names=names, seed=args.seed, force=args.force)
    lines = [f"wrote Docker's overlay2 image store for {len(images)} image(s) under {store.root}"]
    for row in store.images.itertuples():
        lines.append(
            f"  image {row.image_id[:19]}  {', '.join(row.names) or '(no name: as docker load of an untagged image)'}"
        )
    for row in store.layers.itertuples():
        state = "written" if row.written else "shared, already there"
        lines.append(
            f"  layer {row.layer}  chain {row.chain_id[7:19]}  cache-id {row.cache_id[:12]}  "
            f"l/{row.link}  size {row.size}  ({state})"
        )
    lines += [f"note: {note}" for note in store.notes]
    return "\n".join(lines)


def _host_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "sources", nargs="+", metavar="SOURCE", help=SOURCE_HELP + "; several share their common layers"
    )
    p.add_argument(
        "--engine",
        choices=("docker", "containerd"),
        default="docker",
        help="whose store to write (default: docker)",
    )
    p.add_argument(
        "--root",
        required=True,
        help="the data root to write (new or empty; Docker's is /var/lib/docker, containerd's /var/lib/containerd)",
    )
    p.add_argument(
        "--name", action="append", help="name an image NAME:TAG in repositories.json (once per SOURCE)"
    )
    p.add_argument("--seed", type=int, help="draw cache-ids and short links reproducibly")
    p.add_argument("--force", action="store_true", help="add to a root that already holds a store")
    p.add_argument("--platform", help="os/arch[/variant] of multi-platform images")
    _tls_options(p)


def cmd_lazy(args: argparse.Namespace) -> str:
    from .lazy import read_toc
    from .lazy.summary import lazy_layers, toc_headline

    image = _open(args)
    if args.toc is not None:
        layer = image.layers[_checked_layer(image, args.toc)]
        toc = read_toc(layer)
        head = f"layer {layer.index}: {toc_headline(toc)}"
        return head + "\n" + render(toc.entries, args.format, wide=args.wide)
    table = lazy_layers(image, args.paths)
    if args.figure:
        from .viz import lazyplots, plots

        plots.save(
            lazyplots.lazy_cost(table),
            args.figure.rsplit(".", 1)[0],
            formats=(args.figure.rsplit(".", 1)[-1],),
        )
    return render(table, args.format, wide=args.wide)


def _checked_layer(image, index: int) -> int:
    if not 0 <= index < len(image.layers):
        raise UsageError(f"--toc {index}: the image has layers 0..{len(image.layers) - 1}")
    return index


def _lazy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--paths", nargs="+", metavar="PATH", help="files to read (default: each layer's prefetch list)"
    )
    p.add_argument("--toc", type=int, metavar="LAYER", help="print this layer's TOC entries instead")
    p.add_argument("--figure", metavar="FILE.png", help="also draw what a lazy pull fetches, per layer")


def cmd_engines(args: argparse.Namespace) -> str:
    import json

    from .engines import find_engines

    rows = find_engines(
        docker_host=args.docker_host,
        docker_root=args.docker_root,
        containerd_root=args.containerd_root,
        containerd_address=args.containerd_address,
        storage_root=args.storage_root,
    )
    if args.format == "json":
        return json.dumps(rows, indent=2)
    columns = ["engine", "status", "images", "where", "details"]
    cells = [[("" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    readable = [row["source"] for row in rows if row["status"] in ("running", "readable")]
    lines.append("open one with: " + ", ".join(readable) if readable else "no engine found here")
    return "\n".join(lines)


def _engines_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--docker-host",
        help="the daemon to ask (default: DOCKER_HOST, else the docker context in use, else the local socket)",
    )
    p.add_argument("--docker-root", help="Docker's data root (default /var/lib/docker)")
    p.add_argument("--containerd-root", help="containerd's root (default /var/lib/containerd)")
    p.add_argument(
        "--containerd-address",
        help="containerd's socket, for image names (default /run/containerd/containerd.sock)",
    )
    p.add_argument("--storage-root", help="a containers/storage root (default /var/lib/containers/storage)")
    p.add_argument(
        "--format", choices=("table", "json"), default="table", help="output format (default: table)"
    )


def cmd_dag(args: argparse.Namespace) -> str:
    import json

    from .analysis import dag

    images = _open_many(args)
    if args.diff_ids:
        for image in images:
            image.compute_diff_ids()
    graph = dag.image_dag(images[0]) if len(images) == 1 else dag.merge_dags(images, args.sources)
    if args.format == "graphml":
        text = dag.to_graphml(graph)
    elif args.format == "dot":
        text = dag.to_dot(graph)
    else:
        text = json.dumps(dag.to_json(graph), indent=2)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
        return f"wrote {graph.number_of_nodes()} nodes and {graph.number_of_edges()} edges to {args.output}"
    return text


def cmd_diff(args: argparse.Namespace) -> str:
    import json

    from .analysis.compare import compare_images
    from .opener import open_image

    options = _registry_options(args)
    a = open_image(args.source_a, args.platform, registry=options)
    b = open_image(args.source_b, args.platform, registry=options)
    result = compare_images(a, b, files=args.files)
    if args.format == "json":
        from .output import records

        return json.dumps({name: records(table) for name, table in result.items()}, indent=2, default=str)
    sections = []
    for name, table in result.items():
        sections.append(f"== {name} ==")
        sections.append(render(table, args.format, wide=args.wide))
    return "\n".join(sections)


def cmd_pull(args: argparse.Namespace) -> str:
    from .transfer import pull

    report = pull(
        args.source,
        args.dest,
        platform=args.platform,
        jobs=args.jobs,
        progress=None if not args.quiet else False,
        registry=_registry_options(args),
    )
    return f"pulled {args.source} into {args.dest}: {report.summary()}"


def cmd_push(args: argparse.Namespace) -> str:
    from .transfer import push

    report = push(
        args.source,
        args.dest,
        platform=args.platform or "all",
        chunk_size=args.chunk_size,
        mount_from=args.mount_from,
        registry=_registry_options(args),
    )
    return f"pushed {args.source} to {args.dest}: {report.summary()}"


def cmd_tags(args: argparse.Namespace) -> str:
    from .reference import parse_reference

    ref = parse_reference(args.repository)
    with _registry_options(args).client(ref.api_host) as client:
        tags = client.list_tags(ref.repository, page_size=args.page_size)
    if args.format == "json":
        import json

        return json.dumps(tags)
    return "\n".join(tags)


def cmd_report(args: argparse.Namespace) -> str:
    from .report import build_report

    result = build_report(_open(args), args.output)
    return (
        f"wrote {len(result['tables'])} tables and {len(result['figures'])} figure files to {args.output}; "
        f"open {result['index']}"
    )


def cmd_corpus_scan(args: argparse.Namespace) -> str:
    from .corpus import registry_specs, scan

    source = args.list
    if args.registry:
        source = registry_specs(args.list, registry=_registry_options(args))
    report = scan(
        source,
        args.out,
        files=args.files or args.hash_files,
        hash_files=args.hash_files,
        platform=args.platform,
        scheduler=args.scheduler,
        workers=args.workers,
        progress=None if not args.quiet else False,
        workers_write=True if args.workers_write else None,
        registry=_registry_options(args),
        toc_only=args.toc_only,
        keep_layers=not args.no_keep_layers,
    )
    lines = [
        f"images: {report.images_done} scanned, {report.images_skipped} already done; "
        f"layers: {report.layers_indexed} indexed, {report.layers_skipped} already done; "
        f"errors: {report.errors}; {report.seconds:.1f} s → {args.out}"
    ]
    lines += [f"failed: {item}" for item in report.failed[:20]]
    return "\n".join(lines)


def cmd_corpus_report(args: argparse.Namespace) -> str:
    import json

    from .corpus import write_report

    result = write_report(args.dataset, args.output)
    return (
        json.dumps(result["summary"], indent=2)
        + f"\nwrote {len(result['figures'])} figure files to {args.output}"
    )


def _corpus_parser(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="corpus_command", required=True, metavar="ACTION")
    s = sub.add_parser("scan", help="scan a list of images into a Parquet dataset (resumable)")
    s.add_argument(
        "list", help="a text file of image specs, one per line (or a registry host with --registry)"
    )
    s.add_argument("--out", required=True, help="dataset folder (created, or resumed)")
    s.add_argument(
        "--registry", action="store_true", help="LIST is a registry host: walk its catalog and tags"
    )
    s.add_argument("--files", action="store_true", help="also index every unique layer's files")
    s.add_argument("--hash-files", action="store_true", help="with --files, a sha256 of each regular file")
    s.add_argument(
        "--toc-only",
        action="store_true",
        help="with --files, index eStargz, zstd:chunked and SOCI-indexed layers from their TOCs (no layer download)",
    )
    s.add_argument(
        "--no-keep-layers",
        action="store_true",
        help="with --files, remove each layer blob the scan downloads from the local cache once it is listed "
        "(by default they are kept, like any image pulled: a whole registry's worth of disk)",
    )
    s.add_argument("--platform", help="os/arch[/variant] for multi-platform images")
    s.add_argument("--scheduler", help="address of an existing Dask scheduler (default: a local cluster)")
    s.add_argument(
        "--workers", type=int, help="worker processes of the local cluster (default: one per core)"
    )
    s.add_argument(
        "--workers-write",
        action="store_true",
        help="with --scheduler: workers write file tables into --out themselves (a shared filesystem)",
    )
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--schema1", action="store_true", help="ask the registry for schema 1 manifests")
    _tls_options(s)
    s.set_defaults(func=cmd_corpus_scan)
    r = sub.add_parser("report", help="tables, CDF figures and a summary of a scanned dataset")
    r.add_argument("dataset", help="the folder given to scan --out")
    r.add_argument("-o", "--output", required=True, help="folder to write")
    r.set_defaults(func=cmd_corpus_report)


def cmd_cache(args: argparse.Namespace) -> str:
    from .cache import cache_root, cache_usage, clear_cache, remove_leftovers
    from .present import human_bytes
    from .rowtext import render_rows

    lines = []
    if args.clear:
        lines.append(f"cleared {human_bytes(clear_cache())}")
    elif args.clean:
        removed = remove_leftovers(older_than=args.older_than)
        lines.append(f"removed {len(removed)} leftover temporary file(s)")
    usage = cache_usage()
    if args.format != "table":
        return render_rows(usage, args.format)
    usage = [{**row, "size": human_bytes(row["bytes"])} for row in usage]
    return "\n".join([*lines, f"cache: {cache_root()}", render_rows(usage, "table")])


def _cache_parser(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--clean", action="store_true", help="remove temporary files left by interrupted downloads"
    )
    what.add_argument("--clear", action="store_true", help="remove every cached blob and file table")
    p.add_argument(
        "--older-than",
        type=float,
        default=3600.0,
        help="with --clean: only files untouched for this many seconds (default 3600)",
    )
    p.add_argument("--format", choices=FORMATS, default="table")


def cmd_platforms(args: argparse.Namespace) -> str:
    from .opener import list_platforms

    return render(list_platforms(args.source, registry=_registry_options(args)), args.format, wide=args.wide)


def _add_common(parser: argparse.ArgumentParser, *, platform: bool = True, fmt: bool = True) -> None:
    parser.add_argument("source", help=SOURCE_HELP)
    if platform:
        parser.add_argument(
            "--platform", help="os/arch[/variant] of a multi-platform image, e.g. linux/arm64/v8"
        )
        parser.add_argument(
            "--config", help="config file for a saved schema 2 / OCI manifest (manifest:PATH)"
        )
        parser.add_argument("--blobs", help="folder holding blobs for a saved manifest")
        parser.add_argument("--schema1", action="store_true", help="ask the registry for a schema 1 manifest")
    _tls_options(parser)
    if fmt:
        parser.add_argument(
            "--format", choices=FORMATS, default="table", help="output format (default: table)"
        )
        parser.add_argument(
            "--wide", action="store_true", help="full digests and commands in the table format"
        )


def _layers_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--diff-ids",
        action="store_true",
        help="decompress the layers to compute (and check) diff_ids and chain ids",
    )


def _progress_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", action="store_true", help="show a progress bar while listing layers")


def _tree_options(p: argparse.ArgumentParser) -> None:
    _progress_option(p)
    p.add_argument("--layer", type=_layer_or_all, help="a layer index, or 'all' for every layer's entries")
    p.add_argument("--merged", action="store_true", help="the merged view after --layer (default: the top)")
    p.add_argument(
        "--changes",
        action="store_true",
        help="added / modified / deleted paths of --layer (or of every layer)",
    )
    p.add_argument("--path", help="only entries at or below this path")
    p.add_argument(
        "--toc-only",
        action="store_true",
        help="from the layers' lazy-pull TOCs (eStargz, zstd:chunked, SOCI zTOCs) alone: no layer download",
    )


def _lineage_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="a path inside the image, e.g. etc/passwd")
    _progress_option(p)


def _read_options(p: argparse.ArgumentParser, *, dest: bool) -> None:
    p.add_argument("path", help="a path inside the image, e.g. etc/passwd")
    p.add_argument(
        "--layer", type=_layer_number, help="read from this layer alone instead of the merged view"
    )
    limit = "--max-file-size" if dest else "--max-bytes"
    p.add_argument(
        limit, type=int, default=256 * 1024 * 1024, help="refuse files larger than this (default 256 MiB)"
    )
    if dest:
        p.add_argument("--dest", required=True, help="folder to extract into (created if missing)")


def _tls_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--insecure", action="store_true", help="allow plain HTTP to a registry that is not on this machine"
    )
    p.add_argument("--ca-bundle", help="PEM file of CA certificates to trust for the registry's TLS")


def _pull_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="a registry reference, e.g. docker.io/library/alpine:3.19")
    p.add_argument("--dest", required=True, help="OCI layout folder to write (created, or added to)")
    p.add_argument("--platform", help="os/arch[/variant], or 'all' to keep every platform of an index")
    p.add_argument("--jobs", type=int, default=4, help="layers downloaded at once (default 4)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _tls_options(p)


def _push_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help=SOURCE_HELP)
    p.add_argument("dest", help="registry reference with a tag, e.g. localhost:5000/class/teaching:latest")
    p.add_argument("--platform", help="push one platform of an index (default: all)")
    p.add_argument("--chunk-size", type=int, help="upload blobs in chunks of this many bytes (PATCH)")
    p.add_argument("--mount-from", help="repository on the same registry to mount existing blobs from")
    _tls_options(p)


def _tags_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("repository", help="e.g. docker.io/library/alpine or localhost:5000/samples/teaching")
    p.add_argument("--page-size", type=int, help="tags per request (the n= parameter)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    _tls_options(p)


def _dag_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "sources", nargs="+", metavar="SOURCE", help=SOURCE_HELP + "; several are merged by chain id"
    )
    p.add_argument("--platform", help="os/arch[/variant] of multi-platform images")
    p.add_argument(
        "--format", choices=("json", "graphml", "dot"), default="json", help="graph format (default: json)"
    )
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    _tls_options(p)
    p.add_argument(
        "--diff-ids",
        action="store_true",
        help="decompress layers to learn diff_ids first (schema 1 manifests need it to merge)",
    )


def _diff_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("source_a", metavar="SOURCE_A", help=SOURCE_HELP)
    p.add_argument("source_b", metavar="SOURCE_B")
    p.add_argument("--platform", help="os/arch[/variant] of multi-platform images")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--wide", action="store_true", help="full digests and commands in the table format")
    p.add_argument("--files", action="store_true", help="also compare the files of the two merged views")
    _tls_options(p)


COMMANDS: list[tuple[str, str, Callable, dict | None, Callable | None]] = [
    ("inspect", "a readable summary of an image", cmd_inspect, {}, None),
    (
        "layers",
        "one row per layer: digest, size, diff_id, chain id, empty, the step that made it",
        cmd_layers,
        {},
        _layers_options,
    ),
    ("history", "one row per build step, with the layer it made (or none)", cmd_history, {}, None),
    ("platforms", "the images of a multi-platform index", cmd_platforms, {"platform": False}, None),
    (
        "tree",
        "file tables: the merged view (default), one layer, every layer, or changes",
        cmd_tree,
        {},
        _tree_options,
    ),
    ("lineage", "every layer that adds, changes or deletes a path", cmd_lineage, {}, _lineage_options),
    (
        "waste",
        "wasted space per layer and for the image, and duplicated files",
        cmd_waste,
        {},
        _progress_option,
    ),
    ("pull", "download an image from a registry into an OCI layout folder", cmd_pull, None, _pull_parser),
    ("push", "upload an image (any SOURCE) to a registry", cmd_push, None, _push_parser),
    ("tags", "list the tags of a registry repository", cmd_tags, None, _tags_parser),
    (
        "report",
        "every table (CSV) and figure (PNG, SVG) of an image, with an index.html",
        cmd_report,
        {"fmt": False},
        lambda p: p.add_argument("-o", "--output", required=True, help="folder to write"),
    ),
    (
        "corpus",
        "many images at once on Dask: scan a list into Parquet, report on it",
        None,
        None,
        _corpus_parser,
    ),
    (
        "cache",
        "what the download and file-table cache holds; clean up interrupted downloads or clear it",
        cmd_cache,
        None,
        _cache_parser,
    ),
    ("dag", "the layer DAG of one image, or of several merged by chain id", cmd_dag, None, _dag_parser),
    (
        "lazy",
        "lazy-pull formats (eStargz, zstd:chunked, SOCI): TOC costs and the bytes reading some files needs",
        cmd_lazy,
        {},
        _lazy_options,
    ),
    (
        "engines",
        "the container engines on this machine and what imgexplore can read of them",
        cmd_engines,
        None,
        _engines_parser,
    ),
    (
        "host",
        "write the image store an engine makes when it pulls (Docker overlay2, containerd), without a daemon",
        cmd_host,
        None,
        _host_parser,
    ),
    (
        "diff",
        "compare two images: layers, config, history (and files with --files)",
        cmd_diff,
        None,
        _diff_parser,
    ),
    (
        "cat",
        "print one file of the image (the merged view, or --layer N)",
        cmd_cat,
        {"fmt": False},
        lambda p: _read_options(p, dest=False),
    ),
    (
        "extract",
        "extract a file or folder safely into --dest",
        cmd_extract,
        {"fmt": False},
        lambda p: _read_options(p, dest=True),
    ),
]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="imgexplore",
        description="Look inside container images: manifests, layers, history, file trees.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"imgexplore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text, func, options, extra in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if options is not None:
            _add_common(p, **options)
        if extra is not None:
            extra(p)
        if func is not None:
            p.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``imgexplore`` console script; returns the exit code."""
    # A command makes a great many small containers (a listing's rows, tuples, lists) and
    # leaves almost nothing cyclic behind: collecting after every 700 of them (the default)
    # took ~8 % of a 200,000-entry `tree`. The caller's setting is restored after.
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        return _run(argv)
    finally:
        gc.set_threshold(*thresholds)
        # file tables a command handed to the cache while it wrote its output (only a
        # command that listed layers has loaded the module)
        listing = sys.modules.get("imgexplore.filetree.arrowtable")
        if listing is not None:
            listing.wait_for_cache_writes()


def _run(argv: Sequence[str] | None) -> int:
    # Arrow's default allocator (mimalloc) keeps what it frees for reuse; a command builds
    # its tables once, and the system allocator gives the pages back: ~60 MB less at peak on
    # a 200,000-entry file tree, at the same speed. The user's own choice is kept.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    # numpy's OpenBLAS starts a thread per core that spins, waiting for work, for ~0.1 s of
    # CPU; no command does the large matrix products that would pay for it
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        text = args.func(args)
    except UsageError as exc:
        print(f"imgexplore: error: {exc}", file=sys.stderr)
        return 2
    except ImgExploreError as exc:
        print(f"imgexplore: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a path the user gave that cannot be read or written
        where = f": {exc.filename}" if exc.filename else ""
        print(f"imgexplore: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("imgexplore: interrupted", file=sys.stderr)
        return 130
    try:
        if isinstance(text, Streamed):
            text.write(sys.stdout)
        elif text:
            print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
    return 0


def console() -> None:
    """The ``imgexplore`` command (and ``python -m imgexplore``): :func:`main`, then a quick
    exit.

    Once a command has finished, all that is left is freeing: the interpreter would take
    every module and object apart one by one, ~0.1-0.15 s after a command that loaded numpy
    and pyarrow. Here the process ends as soon as everything else that runs at exit has run
    (threads joined, other exit handlers, output flushed), as mypy's command line does."""
    finished: list[int] = []
    atexit.register(_quick_exit, finished)  # registered before any other: run after them all
    tune_heap()  # the process is the command's own: set up to stream layers (see imgexplore.heap)
    code = main()
    finished.append(code)
    sys.exit(code)


def _quick_exit(finished: list[int]) -> None:
    if not finished:  # main() raised: the interpreter reports it and exits as usual
        return
    for stream in (sys.stdout, sys.stderr):
        # closed (a pipe read no further), or none at all
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(finished[0])


if __name__ == "__main__":
    console()
