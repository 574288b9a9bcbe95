"""Lazy-pulling formats on real images made by real tools: the teaching image converted to
eStargz and to zstd:chunked by Debian's stargz-snapshotter (`ctr-remote image convert`, on a
containerd the tests start), pushed to a loopback registry whose access log counts every
request. The TOC is read with Range requests only; every piece's digest is checked against
the bytes at its offset; TOC-only file tables equal the tables listed from the whole layer."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import struct
import subprocess
import tarfile

import pytest
from engines import start_containerd
from hostimages import BUSYBOX
from registry_server import start_registry

import imgexplore
from imgexplore.errors import LimitExceededError, ManifestError
from imgexplore.filetree.tarlist import COLUMNS
from imgexplore.lazy import lazy_format, read_toc
from imgexplore.lazy.plan import fetch_plan, verify_pieces
from imgexplore.lazy.read import check_uncompressed_size
from imgexplore.lazy.toc import toc_file_table
from imgexplore.transfer import push

ROOT = __import__("conftest").ROOT


@pytest.fixture(scope="module")
def lazy_images(tmp_path_factory):
    if shutil.which("ctr-remote") is None:
        pytest.skip("Debian's stargz-snapshotter (ctr-remote) is not installed (scripts/system-packages.sh)")
    registry = start_registry(str(tmp_path_factory.mktemp("lazy-registry")), access_log=True)
    daemon = start_containerd(str(tmp_path_factory.mktemp("lazy-containerd")))
    try:
        plain = f"{registry.host}/lazy/teaching:gzip"
        push(str(ROOT / "data" / "teaching" / "oci"), plain)
        daemon.ctr("images", "pull", "--plain-http", plain)
        refs = {"gzip": plain}
        for fmt, flags in (
            ("estargz", ["--estargz"]),
            ("zstd:chunked", ["--zstdchunked"]),
            ("estargz-4k", ["--estargz", "--estargz-chunk-size", "4096"]),  # big files cut in chunks
        ):
            ref = f"{registry.host}/lazy/teaching:{fmt.replace(':', '-')}"
            remote = ["ctr-remote", "--address", daemon.socket]
            for args in (
                ["image", "convert", *flags, "--oci", plain, ref],
                ["images", "push", "--plain-http", ref],
            ):
                done = subprocess.run([*remote, *args], capture_output=True, text=True)
                assert done.returncode == 0, done.stderr
            refs[fmt] = ref
        if os.path.exists(BUSYBOX):  # an image that can run: ctr-remote optimize records what a start reads
            refs["optimized"] = optimized_image(tmp_path_factory, registry, daemon)
        yield registry, refs
    finally:
        daemon.stop()
        registry.stop()


def optimized_image(tmp_path_factory, registry, daemon) -> str:
    """A static busybox, a small file the start reads and 2 MB it never reads, as eStargz
    optimized by `ctr-remote image optimize` running `cat /etc/motd` in a real container."""
    import random

    from hostimages import busybox_layer_entries
    from tarmaker import tar_bytes, write_layout

    unused = random.Random(7).randbytes(2_000_000)
    layer = tar_bytes(
        [
            *busybox_layer_entries(),
            {"name": "srv/", "type": "dir"},
            {"name": "srv/unused.bin", "data": unused},
        ]
    )
    plain = f"{registry.host}/lazy/busybox:plain"
    push(write_layout(tmp_path_factory.mktemp("busybox") / "oci", [layer]), plain)
    daemon.ctr("images", "pull", "--plain-http", plain)
    ref = f"{registry.host}/lazy/busybox:optimized"
    remote = ["ctr-remote", "--address", daemon.socket]
    for args in (
        ["image", "optimize", "--oci", '--entrypoint=["/bin/sh", "-c", "cat /etc/motd"]', plain, ref],
        ["images", "push", "--plain-http", ref],
    ):
        done = subprocess.run([*remote, *args], capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
    return ref


def range_requests(registry, digest: str) -> int:
    """GETs of that blob the registry logged with 206 Partial Content."""
    log = open(f"{registry.root}/registry.log", errors="replace").read()
    return len(re.findall(rf'"GET /v2/[^ ]*/blobs/{digest} HTTP/[0-9.]+" 206 ', log))


@pytest.mark.parametrize("fmt", ["estargz", "zstd:chunked"])
def test_the_toc_is_read_with_range_requests_only(lazy_images, fmt, isolated_cache):
    registry, refs = lazy_images
    image = imgexplore.open_image(refs[fmt])
    for layer in image.layers:
        assert lazy_format(layer) == fmt
        toc = read_toc(layer)
        assert toc.checks and all(toc.checks.values())  # TOC digest (and zstd checksum) agree
        assert len(toc.requests) <= 2 and range_requests(registry, layer.digest) == len(toc.requests) <= 3
        assert toc.landmark == ".no.prefetch.landmark" and toc.prefetch() == []
    cached = {path.name for path in isolated_cache.rglob("blobs/sha256/*")}
    assert cached and not cached & {layer.digest[7:] for layer in image.layers}  # manifest, config: no layer


@pytest.mark.parametrize("fmt", ["estargz", "zstd:chunked"])
def test_every_piece_holds_what_its_toc_entry_says(lazy_images, fmt, isolated_cache):
    image = imgexplore.open_image(lazy_images[1][fmt])
    checked = 0
    for layer in image.layers:
        toc = read_toc(layer)
        with layer.open_blob() as blob:
            pieces = verify_pieces(toc, blob.read())
        assert pieces["ok"].all(), pieces[~pieces["ok"]]
        assert check_uncompressed_size(layer) is True  # the annotation, against the whole layer
        checked += len(pieces)
    assert checked == 22 + 6  # the regular files with contents (8+4+6+1+1+2) and one landmark per layer


@pytest.mark.parametrize("fmt", ["estargz", "zstd:chunked"])
def test_toc_only_file_tables_equal_the_full_layer_tables(lazy_images, fmt, isolated_cache):
    image = imgexplore.open_image(lazy_images[1][fmt])
    full = image.files(cache=False).tables
    for layer in image.layers:
        from_toc = toc_file_table(read_toc(layer))
        assert (
            from_toc[COLUMNS]
            .astype(str)
            .equals(full[layer.index][COLUMNS].reset_index(drop=True).astype(str))
        )
    # and the image's merged view from TOCs alone is the plain gzip image's, landmarks aside
    plain = imgexplore.open_image(lazy_images[1]["gzip"]).files().merged()
    lazy = image.files(toc_only=True).merged()
    extra = {".no.prefetch.landmark", "stargz.index.json"}
    columns = ["path", "type", "size", "mode", "sha256", "linkname"]
    assert (
        lazy.loc[~lazy["path"].isin(extra), columns]
        .reset_index(drop=True)
        .equals(plain[columns].reset_index(drop=True))
    )


def test_what_reading_some_files_costs(lazy_images, isolated_cache):
    image = imgexplore.open_image(lazy_images[1]["estargz"])
    toc = read_toc(image.layers[0])
    per_file, summary = fetch_plan(toc, ["bin/sh", "etc/motd", "usr/bin/env"])
    assert list(per_file["path"]) == ["bin/sh", "etc/motd", "usr/bin/env"]
    assert summary["toc_requests"] == 2 and summary["data_requests"] <= 3
    assert summary["lazy_bytes"] < summary["layer_bytes"]
    assert summary["lazy_bytes"] == summary["toc_bytes"] + summary["data_bytes"]


# -- hostile TOCs ---------------------------------------------------------------------------------


def _estargz_layout(tmp_path, toc_json: bytes, footer_offset: int | None = None, annotations=None):
    """A one-layer OCI layout whose layer ends in an eStargz TOC member and footer."""
    from tarmaker import write_layout

    body = gzip.compress(b"\0" * 1024)
    toc_tar = io.BytesIO()
    import tarfile

    with tarfile.open(fileobj=toc_tar, mode="w") as tar:
        info = tarfile.TarInfo("stargz.index.json")
        info.size = len(toc_json)
        tar.addfile(info, io.BytesIO(toc_json))
    toc_member = gzip.compress(toc_tar.getvalue())
    offset = len(body) if footer_offset is None else footer_offset
    extra = b"SG" + struct.pack("<H", 22) + b"%016xSTARGZ" % offset
    footer = (
        b"\x1f\x8b\x08\x04\0\0\0\0\0\xff"
        + struct.pack("<H", len(extra))
        + extra
        + b"\x01\0\0\xff\xff"
        + b"\0" * 8
    )
    blob = body + toc_member + footer
    layout = write_layout(tmp_path / "oci", [blob], compress=lambda b: b)
    image = imgexplore.open_image(layout)
    layer = image.layers[0]
    layer.annotations = dict(annotations or {})
    return layer


@pytest.mark.parametrize(
    ("toc", "footer_offset", "error", "message"),
    [
        (
            b'{"entries":[{"name":"a","type":"reg","size":5,"offset":999999,"chunkDigest":"sha256:00"}]}',
            None,
            ManifestError,
            "past the TOC's start",
        ),
        (
            b'{"entries":[{"name":"a","type":"reg","size":5,"offset":20},{"name":"b","type":"reg","size":5,"offset":10}]}',
            None,
            ManifestError,
            "go backwards",
        ),
        (b'{"entries":[]}', 10_000_000, ManifestError, "outside the blob"),
        (b'{"entries": "nope"}', None, ManifestError, "not a JSON object with an entries list"),
        (b'{"entries":[{"name":"a","type":"reg","size":-1}]}', None, ManifestError, "bad size"),
    ],
    ids=[
        "offset past the end",
        "overlapping pieces",
        "footer outside the blob",
        "not a TOC",
        "negative size",
    ],
)
def test_hostile_tocs_end_in_one_clear_error(tmp_path, toc, footer_offset, error, message):
    layer = _estargz_layout(tmp_path, toc, footer_offset)
    with pytest.raises(error, match=message):
        read_toc(layer, "estargz")


def test_a_toc_that_does_not_match_its_annotation(tmp_path):
    layer = _estargz_layout(
        tmp_path,
        b'{"entries":[]}',
        annotations={"containerd.io/snapshot/stargz/toc.digest": "sha256:" + "0" * 64},
    )
    with pytest.raises(ManifestError, match="the annotation says sha256:0000"):
        read_toc(layer)


def test_a_huge_claimed_toc_is_refused_before_it_is_read(tmp_path):
    layer = _estargz_layout(tmp_path, b'{"entries":[]}')
    layer.annotations = {"io.github.containers.zstd-chunked.manifest-position": f"0:10:{1 << 30}:1"}
    with pytest.raises(LimitExceededError, match="over the limit"):
        read_toc(layer, "zstd:chunked")


# -- the bundled lazy images, offline ----------------------------------------------------------


@pytest.mark.parametrize("tag", ["estargz", "zstd-chunked", "gzip"])
def test_the_bundled_lazy_images_read_offline(data_dir, tag, tmp_path, capsys):
    """data/lazy/oci holds the teaching image as ctr-remote converted it, and the plain gzip
    image with a SOCI index beside it: the same files, from their TOCs alone."""
    from imgexplore.cli import main

    image = imgexplore.open_image(f"{data_dir}/lazy/oci:{tag}")
    plain = imgexplore.open_image(data_dir / "teaching" / "oci").files().merged()
    merged = image.files(toc_only=True).merged()
    columns = ["path", "type", "size", "mode", "linkname"] + ([] if tag == "gzip" else ["sha256"])
    kept = ~merged["path"].isin([".no.prefetch.landmark", "stargz.index.json"])
    assert merged.loc[kept, columns].reset_index(drop=True).equals(plain[columns].reset_index(drop=True))
    assert (
        main(
            [
                "lazy",
                f"{data_dir}/lazy/oci:{tag}",
                "--paths",
                "app/bin/server",
                "--figure",
                str(tmp_path / "f.png"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "layer  format" in out and (tmp_path / "f.png").stat().st_size > 5000
    assert ("soci" in out) == (tag == "gzip")
    assert main(["tree", f"{data_dir}/lazy/oci:{tag}", "--toc-only", "--format", "csv"]) == 0
    assert "app/bin/server" in capsys.readouterr().out


def test_file_and_chunk_duplication_from_tocs_alone(lazy_images, isolated_cache):
    """Zhao et al.'s question without a download: the same files as whole-file pieces and as
    4 KiB chunks. Files dedupe across the two; chunks only where a chunk is a whole file.
    Checked against sha256 computed from the layers' own bytes."""
    from imgexplore.lazy.dedup import chunk_table, duplication

    images = [imgexplore.open_image(lazy_images[1][fmt]) for fmt in ("estargz", "estargz-4k")]
    chunks, skipped = chunk_table(images)
    small = chunks[chunks["layer_digest"].isin({layer.digest for layer in images[1].layers})]
    assert (
        skipped == [] and small["chunk_size"].max() <= 4096 < small.groupby("path")["chunk_size"].sum().max()
    )
    computed = set()
    for image in images:
        for layer in image.layers:
            with layer.open_tar() as stream:
                tar = tarfile.open(fileobj=io.BytesIO(stream.read()))
            for member in tar.getmembers():
                if member.isfile() and member.size and member.name != "stargz.index.json":
                    data = tar.extractfile(member).read()
                    size = 4096 if "4k" in str(image.source.location) else len(data)
                    computed |= {
                        hashlib.sha256(data[at : at + size]).hexdigest() for at in range(0, len(data), size)
                    }
    result = duplication(images)
    assert result["unique_chunks"] == len(computed)
    alone = duplication(images[:1])  # the same files: the second conversion adds no new one
    other = duplication(images[1:])
    shared = {layer.digest for layer in images[0].layers} & {layer.digest for layer in images[1].layers}
    assert (
        result["layers_counted"] == 12 - len(shared) and 0 < len(shared) < 6
    )  # unchunked layers are the same
    assert result["unique_files"] == alone["unique_files"] == other["unique_files"]
    assert result["unique_file_bytes"] == alone["unique_file_bytes"] == other["unique_file_bytes"]
    assert result["unique_chunks"] > result["unique_files"]  # a chunked file's pieces are new chunks
    for layer in images[1].layers:  # the last chunk leaves chunkSize out: it runs to the file's end
        toc = read_toc(layer)
        with layer.open_blob() as blob:
            assert verify_pieces(toc, blob.read())["ok"].all()
        files = toc.entries[toc.entries["type"] == "file"].set_index("path")["size"]
        pieces = toc.entries.groupby("path")["chunk_size"].sum()
        assert all(pieces[path] == size for path, size in files.items())


def test_a_plain_image_has_no_toc(data_dir):
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    with pytest.raises(ManifestError, match="not a lazy layer"):
        read_toc(image.layers[0])
    with pytest.raises(imgexplore.InvalidArgumentError, match="has no lazy-pull TOC"):
        image.files(toc_only=True).merged()


def test_what_a_start_reads_of_a_pull(lazy_images, isolated_cache):
    """Slacker's question on an image at hand: `ctr-remote image optimize` ran the image and
    recorded the files its start read (the prefetch list, before .prefetch.landmark); a lazy
    start fetches the TOC and those files' pieces, not the 2 MB the start never reads."""
    from imgexplore.lazy.summary import lazy_layers

    if "optimized" not in lazy_images[1]:
        pytest.skip("Debian's busybox-static is not installed: no image that can run")
    image = imgexplore.open_image(lazy_images[1]["optimized"])
    toc = read_toc(image.layers[0])
    assert toc.landmark == ".prefetch.landmark"
    prefetch = set(toc.prefetch())
    assert {"bin/busybox", "etc/motd"} <= prefetch and "srv/unused.bin" not in prefetch
    (row,) = lazy_layers(image).itertuples()
    _, plan = fetch_plan(toc, toc.prefetch())
    assert row.lazy_bytes == plan["toc_bytes"] + plan["data_bytes"]
    unused = toc.entries.loc[toc.entries["path"] == "srv/unused.bin", "size"].sum()
    assert row.layer_bytes - row.lazy_bytes > unused * 0.9  # the unused file's compressed bytes stay behind
    assert row.fraction_of_layer < 0.5


def test_the_corpus_indexes_lazy_layers_from_their_tocs(lazy_images, tmp_path, isolated_cache):
    """A corpus scan with toc_only: the lazy images' files (and content hashes, for
    file-level dedup) come from their TOCs; no lazy layer is downloaded."""
    from imgexplore import corpus

    _, refs = lazy_images
    specs = [refs["estargz"], refs["zstd:chunked"], refs["estargz-4k"]]
    report = corpus.scan(
        specs, tmp_path / "ds", files=True, hash_files=True, toc_only=True, workers=1, progress=False
    )
    assert report.errors == 0
    # chunk-level duplication as the corpus computes it is what lazy.dedup computes
    from imgexplore.lazy.dedup import duplication

    images = [imgexplore.open_image(spec) for spec in specs]
    assert report.layers_indexed == len({layer.digest for image in images for layer in image.layers})
    expected = duplication(images)
    chunks = corpus.chunk_duplication(corpus.load(tmp_path / "ds"))
    assert (chunks["chunks"], chunks["unique_chunks"], chunks["unique_bytes"]) == (
        expected["chunks"], expected["unique_chunks"], expected["unique_chunk_bytes"]
    )  # fmt: skip
    assert "chunk_duplication" in corpus.write_report(tmp_path / "ds", tmp_path / "report")["summary"]
    tables = corpus.load(tmp_path / "ds")
    files = tables["files"]
    plain = imgexplore.open_image(ROOT / "data" / "teaching" / "oci").files().all_layers()
    server = files.loc[files["path"] == "app/bin/server", "sha256"].dropna().unique()
    assert set(server) == set(plain.loc[plain["path"] == "app/bin/server", "sha256"])
    cached = {path.name for path in isolated_cache.rglob("blobs/sha256/*")}
    lazy_layers = {layer.digest[7:] for spec in specs for layer in imgexplore.open_image(spec).layers}
    assert not cached & lazy_layers  # indexed from TOCs: no layer blob in the cache
