"""SOCI indexes: zTOCs built to soci-snapshotter's published format (no SOCI tool is packaged
for Debian), checked with independent tools — Debian's `flatc` reads and writes the
FlatBuffers against the published schema (tests/soci/ztoc.fbs), Python's zlib checks every
checkpoint's window and offset, tarfile every file's bytes — then found in a real registry
(distribution, which has no referrers API: through the tag schema), in an image index (v2),
and behind a proxy that answers the referrers API (the only part mocked: Debian's registry
cannot serve that route)."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import random
import re
import shutil
import subprocess
import tarfile
import zlib

import pytest
from faultproxy import FaultProxy

import imgexplore
from imgexplore import mediatypes as mt
from imgexplore.errors import DigestMismatchError, LimitExceededError, ManifestError
from imgexplore.filetree.tarlist import COLUMNS
from imgexplore.lazy import lazy_format, read_toc
from imgexplore.lazy.plan import fetch_plan, verify_pieces
from imgexplore.lazy.soci import find_soci_index, read_file
from imgexplore.lazy.socibuild import EMPTY_JSON_DIGEST, build_checkpoints, build_soci_index, build_ztoc
from imgexplore.lazy.summary import lazy_layers
from imgexplore.lazy.toc import toc_file_table
from imgexplore.lazy.zinfo import WINDOW, encode_zinfo, parse_zinfo
from imgexplore.lazy.ztoc import SOCI_INDEX_DIGEST, SOCI_INDEX_V1, SOCI_INDEX_V2, parse_ztoc
from imgexplore.registry.client import RegistryClient
from imgexplore.transfer import push

ROOT = __import__("conftest").ROOT
SCHEMA = ROOT / "tests" / "soci" / "ztoc.fbs"
SPAN = 1 << 20


@pytest.fixture(scope="module")
def big_layer():
    """A 9 MB tar of text files (gzip level 6): nine 1 MiB spans, checkpoints mid-byte."""
    rnd = random.Random(1)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folder = tarfile.TarInfo("docs")
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, 1700000000
        tar.addfile(folder)
        for number in range(300):
            data = bytes(rnd.choice(b"abcdefghij \n") for _ in range(rnd.randint(0, 60000)))
            info = tarfile.TarInfo(f"docs/d{number % 7}/file-{number}.txt")
            info.size, info.mtime, info.mode = len(data), 1700000000 + number, 0o644
            if number == 5:
                info.pax_headers = {"SCHILY.xattr.user.note": "kept"}
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("docs/latest")
        link.type, link.linkname = tarfile.SYMTYPE, "d0/file-0.txt"
        tar.addfile(link)
    tar_bytes = buffer.getvalue()
    return tar_bytes, gzip.compress(tar_bytes, mtime=0)


def test_checkpoints_are_where_zlib_says_blocks_end(big_layer):
    """Each checkpoint's window is the 32 KiB of tar before its uncompressed offset (zlib's
    own decompression of the whole blob says what those bytes are), and some start mid-byte."""
    tar, blob = big_layer
    zinfo = build_checkpoints(blob, SPAN)
    assert len(zinfo.checkpoints) == 9
    assert zinfo.checkpoints[0].in_ == 10 and zinfo.checkpoints[0].out == 0  # after the gzip header
    assert any(point.bits for point in zinfo.checkpoints)
    assert zlib.decompress(blob, wbits=31) == tar
    for before, point in zip(zinfo.checkpoints, zinfo.checkpoints[1:], strict=False):
        assert point.out - before.out > SPAN
        expected = tar[max(0, point.out - WINDOW) : point.out]
        assert point.window == bytes(WINDOW - len(expected)) + expected
    assert parse_zinfo(encode_zinfo(zinfo), "here") == zinfo


def test_every_file_read_from_its_spans_equals_the_tar(big_layer):
    tar, blob = big_layer
    ztoc = parse_ztoc(build_ztoc(blob, SPAN), "here")
    zinfo = parse_zinfo(ztoc.checkpoints, "here")
    end = tarfile.open(fileobj=io.BytesIO(tar)).getmembers()[-1].offset + 512  # the symlink's header
    assert ztoc.compressed_size == len(blob) and ztoc.uncompressed_size == end + 1024 < len(tar)
    members = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(tar))}
    files = [e for e in ztoc.entries if e.type == "reg"]
    assert len(files) == 300
    from imgexplore.lazy.toc import Toc

    toc = Toc("soci", "sha256:x", len(blob), b"", len(blob), 0, None)
    toc.ztoc, toc.zinfo = ztoc, zinfo
    for entry in files:
        member = members[entry.name]
        assert entry.offset == member.offset_data and entry.size == member.size
        fetched = []

        def fetch(start, end, fetched=fetched):
            fetched.append((start, end))
            return blob[start:end]

        assert read_file(toc, entry.name, fetch) == tar[entry.offset : entry.offset + entry.size]
        assert len(fetched) == 1 and fetched[0][1] - fetched[0][0] < len(blob) / 3  # its span or two of nine
    assert ztoc.entries[0].name == "docs/" and ztoc.entries[0].type == "dir"
    assert ztoc.entries[-1].type == "symlink" and ztoc.entries[-1].linkname == "d0/file-0.txt"
    noted = next(e for e in ztoc.entries if e.name == "docs/d5/file-5.txt")
    assert noted.xattrs["SCHILY.xattr.user.note"] == "kept"


def _flatc():
    tool = shutil.which("flatc")
    if tool is None:
        pytest.skip("Debian's flatbuffers-compiler (flatc) is not installed (scripts/system-packages.sh)")
    return tool


def test_flatc_reads_our_ztoc_as_we_do(big_layer, tmp_path):
    """Debian's flatc decodes the zTOC against the published schema: every field equals ours."""
    tool = _flatc()
    _, blob = big_layer
    data = build_ztoc(blob, SPAN)
    (tmp_path / "layer.ztoc").write_bytes(data)
    subprocess.run(
        [tool, "--json", "--strict-json", "--raw-binary", "-o", str(tmp_path), str(SCHEMA), "--", str(tmp_path / "layer.ztoc")],
        check=True, capture_output=True,
    )  # fmt: skip
    theirs = json.loads((tmp_path / "layer.json").read_text())
    ours = parse_ztoc(data, "here")
    assert theirs["version"] == "0.9" and theirs["compressed_archive_size"] == len(blob)
    assert theirs["uncompressed_archive_size"] == ours.uncompressed_size
    info = theirs["compression_info"]
    assert info["max_span_id"] == 8 and info["span_digests"] == ours.span_digests
    assert bytes(info["checkpoints"]) == ours.checkpoints
    listed = theirs["toc"]["metadata"]
    assert [m["name"] for m in listed] == [e.name for e in ours.entries]
    assert [m.get("uncompressed_offset", 0) for m in listed] == [e.offset for e in ours.entries]
    assert [m.get("uncompressed_size", 0) for m in listed] == [e.size for e in ours.entries]
    assert [m.get("mode", 0) for m in listed] == [e.mode for e in ours.entries]
    assert [m["mod_time"] for m in listed][:2] == ["2023-11-14T22:13:20Z", "2023-11-14T22:13:20Z"]


def test_we_read_a_ztoc_flatc_wrote(tmp_path):
    """A zTOC written by flatc from JSON (another FlatBuffers encoder, another field layout)
    reads back field for field; the checkpoints blob is the older form without checkpoint 0."""
    tool = _flatc()
    window = bytes(range(256)) * 128
    checkpoints = struct_pack_v1(span=65536, points=[(70000, 140000, 3, window)])
    document = {
        "version": "0.9",
        "build_tool_identifier": "flatc by hand",
        "compressed_archive_size": 200000,
        "uncompressed_archive_size": 300000,
        "toc": {"metadata": [
            {"name": "etc/", "type": "dir", "mode": 493, "mod_time": "2024-01-02T03:04:05.123456789+02:00"},
            {"name": "etc/hosts", "type": "reg", "uncompressed_offset": 1536, "uncompressed_size": 20,
             "uid": 1000, "gid": 1000, "uname": "me", "gname": "us", "mode": 420,
             "xattrs": [{"key": "SCHILY.xattr.user.a", "value": "b"}]},
        ]},
        "compression_info": {"max_span_id": 1, "span_digests": ["sha256:" + "a" * 64, "sha256:" + "b" * 64],
                             "checkpoints": list(checkpoints)},
    }  # fmt: skip
    (tmp_path / "z.json").write_text(json.dumps(document))
    subprocess.run([tool, "-b", "-o", str(tmp_path), str(SCHEMA), str(tmp_path / "z.json")], check=True)
    ztoc = parse_ztoc((tmp_path / "z.bin").read_bytes(), "here")
    assert (ztoc.version, ztoc.build_tool, ztoc.compressed_size, ztoc.uncompressed_size) == (
        "0.9", "flatc by hand", 200000, 300000
    )  # fmt: skip
    hosts = ztoc.entries[1]
    assert (hosts.offset, hosts.size, hosts.uid, hosts.uname, hosts.mode) == (1536, 20, 1000, "me", 420)
    assert hosts.xattrs == {"SCHILY.xattr.user.a": "b"} and ztoc.compression == "gzip"
    zinfo = parse_zinfo(ztoc.checkpoints, "here")
    assert zinfo.version == 1 and [(p.in_, p.out, p.bits) for p in zinfo.checkpoints] == [
        (10, 0, 0),
        (70000, 140000, 3),
    ]
    assert zinfo.checkpoints[1].window == window
    from imgexplore.lazy.toc import _mtime

    assert _mtime(ztoc.entries[0].mod_time) == 1704157445  # 01:04:05 UTC


def struct_pack_v1(span: int, points: list) -> bytes:
    import struct

    out = struct.pack("<iq", len(points) + 1, span)
    for in_, out_, bits, window in points:
        out += struct.pack("<qqB", in_, out_, bits) + window
    return out


@pytest.fixture(scope="module")
def soci_registry(tmp_path_factory):
    from registry_server import start_registry

    registry = start_registry(str(tmp_path_factory.mktemp("soci-registry")), access_log=True)
    yield registry
    registry.stop()


def _put(client, repository, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    client.upload_blob(repository, digest, io.BytesIO(data), len(data))
    return digest


def put_soci_index(client, repository: str, raw: bytes, ztocs: dict[str, bytes]) -> str:
    """The zTOCs and the "{}" config as blobs, then the index manifest by its digest."""
    for data in ztocs.values():
        _put(client, repository, data)
    assert _put(client, repository, b"{}") == EMPTY_JSON_DIGEST
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    client.put_manifest(repository, digest, raw, mt.OCI_MANIFEST)
    return digest


def push_soci(
    host: str, reference: str, *, span: int = 1 << 16, tag_schema: bool = True
) -> tuple[str, bytes]:
    """Build a v1 SOCI index for the image and push it as soci-snapshotter does on a registry
    without the referrers API: zTOCs and the "{}" config as blobs, the index by digest, and
    the tag-schema index (tag sha256-<hex>) listing it."""
    image = imgexplore.open_image(reference)
    repository = reference.split("/", 1)[1].rsplit(":", 1)[0]
    index, ztocs = build_soci_index(image, span_size=span)
    client = RegistryClient(host)
    digest = put_soci_index(client, repository, index, ztocs)
    if tag_schema:
        referrers = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [{"mediaType": mt.OCI_MANIFEST, "digest": digest, "size": len(index), "artifactType": SOCI_INDEX_V1}],
        }  # fmt: skip
        client.put_manifest(
            repository, image.digest.replace(":", "-"), json.dumps(referrers).encode(), mt.OCI_INDEX
        )
    return digest, index


def log_lines(registry) -> list[tuple[str, str, str]]:
    """(method, path, status) of every GET and HEAD the registry logged, once its log has
    stopped growing (it writes a request's line after answering it)."""
    import time

    text, previous = "", None
    while text != previous:
        previous, text = text, open(f"{registry.root}/registry.log", errors="replace").read()
        time.sleep(0.1)
    return re.findall(r'"(GET|HEAD) (/v2/\S+) HTTP/[0-9.]+" (\d+)', text)


def test_a_soci_index_found_through_the_tag_schema(soci_registry, data_dir, isolated_cache):
    host = soci_registry.host
    reference = f"{host}/soci/teaching:gzip"
    push(str(data_dir / "teaching" / "oci"), reference)
    digest, _ = push_soci(host, reference)
    before = len(log_lines(soci_registry))
    image = imgexplore.open_image(reference)
    assert [lazy_format(layer) for layer in image.layers] == ["soci"] * 6
    index = find_soci_index(image)
    assert index.digest == digest and index.version == "v1"
    assert "tag schema" in index.found_by and len(index.requests) == 3  # referrers 404, tag, index
    tables = {layer.index: toc_file_table(read_toc(layer)) for layer in image.layers}
    requests = log_lines(soci_registry)[before:]
    assert (
        "GET",
        f"/v2/soci/teaching/referrers/{image.digest}?artifactType={SOCI_INDEX_V1}",
        "404",
    ) in requests
    layer_digests = {layer.digest for layer in image.layers}
    assert not [r for r in requests if r[1].rsplit("/", 1)[-1] in layer_digests]  # no layer was fetched
    full = imgexplore.open_image(reference).files(cache=False).tables
    compared = [c for c in COLUMNS if c != "sha256"]  # a zTOC records no content digests
    for number, table in tables.items():
        assert table["sha256"].isna().all()
        assert (
            table[compared].astype(str).equals(full[number][compared].reset_index(drop=True).astype(str))
        ), number
    summary = lazy_layers(image)
    assert list(summary["format"]) == ["soci"] * 6
    assert summary.loc[0, "toc_requests"] == 4  # the index's three, and the zTOC
    for layer in image.layers:
        with layer.open_blob() as stream:
            assert verify_pieces(read_toc(layer), stream.read())["ok"].all()


def test_reading_a_file_fetches_only_its_spans(soci_registry, isolated_cache, tmp_path):
    """A layer of several spans in the registry: the plan for one file is the spans holding
    it, fetched with Range requests, and the bytes decompressed from them are the file's."""
    from tarmaker import write_layout

    rnd = random.Random(3)
    files = {f"data/part-{n}.txt": bytes(rnd.choice(b"xyz \n") for _ in range(300_000)) for n in range(6)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    reference = f"{soci_registry.host}/soci/parts:v1"
    push(write_layout(tmp_path / "oci", [buffer.getvalue()]), reference)
    push_soci(soci_registry.host, reference, span=1 << 18)  # reads the layer whole to index it
    before = len(log_lines(soci_registry))
    image = imgexplore.open_image(reference)
    toc = read_toc(image.layers[0])
    assert len(toc.zinfo.checkpoints) >= 5
    per_file, summary = fetch_plan(toc, ["data/part-3.txt"])
    assert summary["data_requests"] == 1 and summary["data_bytes"] < image.layers[0].size / 2
    client = image.source.client

    def fetch(start, end):
        return client.get_blob_range(image.source.repository, image.layers[0].digest, start, end - start)

    assert read_file(toc, "data/part-3.txt", fetch) == files["data/part-3.txt"]
    ranges = [r for r in log_lines(soci_registry)[before:] if image.layers[0].digest in r[1]]
    assert [status for _, _, status in ranges] == ["206"]  # one Range request, nothing else


def test_a_registry_with_the_referrers_api(soci_registry, data_dir, isolated_cache):
    """Debian's registry has no referrers API; a proxy answers that one route (as a registry
    with it would: an OCI index of the referrers) and passes everything else through."""
    host = soci_registry.host
    reference = f"{host}/soci/api:gzip"
    push(str(data_dir / "teaching" / "oci"), reference)
    digest, index = push_soci(host, reference, tag_schema=False)
    image_digest = imgexplore.open_image(reference).digest
    proxy = FaultProxy(host)
    address = proxy.start()
    answer = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "digest": digest, "size": len(index), "artifactType": SOCI_INDEX_V1}]}  # fmt: skip
    proxy.add(match=f"/referrers/{image_digest}", status=200, body=json.dumps(answer).encode(),
              content_type=mt.OCI_INDEX, times=-1)  # fmt: skip
    image = imgexplore.open_image(f"{address}/soci/api:gzip")
    index_found = find_soci_index(image)
    assert index_found.digest == digest and "referrers API" in index_found.found_by
    assert len(index_found.requests) == 2
    assert not [p for _, p, _ in proxy.log if "sha256-" in p]  # no tag-schema lookup


def test_a_registry_that_refuses_the_lookup(soci_registry, data_dir, isolated_cache):
    """A registry answering the referrers lookup with an error: no SOCI index, a warning
    saying why, and the image's other views unharmed."""
    reference = f"{soci_registry.host}/soci/refused:gzip"
    push(str(data_dir / "teaching" / "oci"), reference)
    proxy = FaultProxy(soci_registry.host)
    address = proxy.start()
    proxy.add(match="/referrers/", status=403, times=-1)
    image = imgexplore.open_image(f"{address}/soci/refused:gzip")
    assert lazy_format(image.layers[0]) is None
    assert any("SOCI index could not be looked for" in w for w in image.warnings)
    assert list(lazy_layers(image)["format"]) == ["none (pulled whole)"] * 6


def test_a_v2_index_named_by_the_image_index(soci_registry, data_dir, isolated_cache):
    """SOCI v2: no subject; the image index's entry for the manifest names the index."""
    host = soci_registry.host
    reference = f"{host}/soci/v2:plain"
    push(str(data_dir / "teaching" / "oci"), reference)
    image = imgexplore.open_image(reference)
    built, ztocs = build_soci_index(image, span_size=1 << 16)
    manifest = json.loads(built)
    del manifest["subject"]
    manifest["artifactType"] = manifest["config"]["mediaType"] = SOCI_INDEX_V2
    raw = json.dumps(manifest).encode()
    client = RegistryClient(host)
    soci_digest = put_soci_index(client, "soci/v2", raw, ztocs)
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [
        {"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest.raw),
         "platform": {"os": "linux", "architecture": "amd64"}, "annotations": {SOCI_INDEX_DIGEST: soci_digest}},
        {"mediaType": mt.OCI_MANIFEST, "digest": soci_digest, "size": len(raw), "artifactType": SOCI_INDEX_V2,
         "annotations": {"com.amazon.soci.image-manifest-digest": image.digest}},
    ]}  # fmt: skip
    client.put_manifest("soci/v2", "soci", json.dumps(index).encode(), mt.OCI_INDEX)
    opened = imgexplore.open_image(f"{host}/soci/v2:soci", platform="linux/amd64")
    found = find_soci_index(opened)
    assert found.digest == soci_digest and found.version == "v2" and "index-digest" in found.found_by
    assert [lazy_format(layer) for layer in opened.layers] == ["soci"] * 6


def test_a_plain_image_has_no_soci_index(soci_registry, data_dir, isolated_cache):
    reference = f"{soci_registry.host}/soci/none:gzip"
    push(str(data_dir / "teaching" / "oci"), reference)
    image = imgexplore.open_image(reference)
    assert find_soci_index(image) is None and lazy_format(image.layers[0]) is None
    assert list(lazy_layers(image)["format"]) == ["none (pulled whole)"] * 6


def _damaged(blob: bytes, **change):
    ztoc = parse_ztoc(build_ztoc(blob, SPAN), "here")
    from imgexplore.lazy.ztoc import encode_ztoc

    fields = dict(version=ztoc.version, build_tool=ztoc.build_tool, compressed_size=ztoc.compressed_size,
                  uncompressed_size=ztoc.uncompressed_size, entries=ztoc.entries, max_span_id=ztoc.max_span_id,
                  span_digests=ztoc.span_digests, checkpoints=ztoc.checkpoints)  # fmt: skip
    fields.update(change)
    return encode_ztoc(**fields)


def test_hostile_ztocs_end_in_one_clear_error(big_layer):
    tar, blob = big_layer
    good = build_ztoc(blob, SPAN)
    with pytest.raises(ManifestError, match="too few|not a readable zTOC"):
        parse_ztoc(good[:6], "zTOC x")
    with pytest.raises(ManifestError, match="not a readable zTOC"):
        parse_ztoc(b"\xff\xff\xff\x7f" + good[4:], "zTOC x")  # the root table far outside
    with pytest.raises(ManifestError, match="span digests for"):
        parse_ztoc(_damaged(blob, max_span_id=3), "zTOC x")
    ztoc = parse_ztoc(_damaged(blob, checkpoints=parse_ztoc(good, "x").checkpoints[:-5]), "zTOC x")
    with pytest.raises(ManifestError, match="do not hold the"):
        parse_zinfo(ztoc.checkpoints, "zTOC x")
    with pytest.raises(LimitExceededError, match="checkpoints"):
        parse_zinfo(b"\xff\xff\xff\x7f" + bytes(8), "zTOC x")
    with pytest.raises(ManifestError, match="prefetch list"):
        parse_ztoc(good + b"---SOCI-PREFETCH---{not json", "zTOC x")
    rnd = random.Random(5)
    from tarmaker import tar_bytes

    small = build_ztoc(gzip.compress(tar_bytes([{"name": "a/b.txt", "data": b"x" * 3000}]), mtime=0), SPAN)
    with pytest.raises(ManifestError, match="not a tar"):
        build_ztoc(gzip.compress(tar[:20000], mtime=0), SPAN)
    for _ in range(300):  # damage anywhere: our error, or a zTOC that still parses; never a crash
        data = bytearray(small)
        for _ in range(rnd.randint(1, 8)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        with contextlib.suppress(ManifestError, LimitExceededError):
            parse_zinfo(parse_ztoc(bytes(data), "zTOC x").checkpoints, "zTOC x")


def test_a_ztoc_that_lies_about_its_layer(soci_registry, data_dir, isolated_cache, tmp_path):
    """Entries past the tar's end, a zTOC made for another layer size, a zTOC whose bytes do
    not match its descriptor: one clear error each, none of them a crash."""
    from imgexplore.lazy.soci import _entries
    from imgexplore.lazy.ztoc import ZtocEntry

    _, blob = big_layer_bytes()
    ztoc = parse_ztoc(build_ztoc(blob, SPAN), "here")
    ztoc.entries.append(ZtocEntry(name="ghost", type="reg", offset=ztoc.uncompressed_size - 10, size=100))
    with pytest.raises(ManifestError, match="ghost"):
        _entries(ztoc, parse_zinfo(ztoc.checkpoints, "here"), len(blob), "layer 0")
    reference = f"{soci_registry.host}/soci/lies:gzip"
    push(str(data_dir / "teaching" / "oci"), reference)
    image = imgexplore.open_image(reference)
    index, ztocs = build_soci_index(image, span_size=1 << 16)
    manifest = json.loads(index)
    manifest["layers"][0]["digest"] = manifest["layers"][1]["digest"]  # a zTOC under another's digest
    manifest["layers"][0]["size"] = manifest["layers"][1]["size"]
    swapped = json.dumps(manifest).encode()
    client = RegistryClient(soci_registry.host)
    digest = put_soci_index(client, "soci/lies", swapped, ztocs)
    tag_index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "digest": digest, "size": len(swapped), "artifactType": SOCI_INDEX_V1}]}  # fmt: skip
    client.put_manifest(
        "soci/lies", image.digest.replace(":", "-"), json.dumps(tag_index).encode(), mt.OCI_INDEX
    )
    image = imgexplore.open_image(reference)
    with pytest.raises(ManifestError, match="made for a .*-byte layer"):
        read_toc(image.layers[0])
    assert read_toc(image.layers[1]).format == "soci"


def big_layer_bytes():
    rnd = random.Random(2)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = bytes(rnd.choice(b"ab \n") for _ in range(3_000_000))
        info = tarfile.TarInfo("big.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), gzip.compress(buffer.getvalue(), mtime=0)


def test_a_digest_mismatch_in_a_ztoc_is_caught(tmp_path, data_dir, isolated_cache):
    """A layout whose zTOC blob was altered after the index was written."""
    layout = tmp_path / "oci"
    shutil.copytree(data_dir / "teaching" / "oci", layout)
    image = imgexplore.open_image(str(layout))
    index, ztocs = build_soci_index(image, span_size=1 << 16)
    for digest, data in ztocs.items():
        (layout / "blobs" / "sha256" / digest[7:]).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    (layout / "blobs" / "sha256" / EMPTY_JSON_DIGEST[7:]).write_bytes(b"{}")
    index_digest = hashlib.sha256(index).hexdigest()
    (layout / "blobs" / "sha256" / index_digest).write_bytes(index)
    document = json.loads((layout / "index.json").read_text())
    document["manifests"].append({"mediaType": mt.OCI_MANIFEST, "digest": "sha256:" + index_digest,
                                  "size": len(index), "artifactType": SOCI_INDEX_V1})  # fmt: skip
    (layout / "index.json").write_text(json.dumps(document))
    image = imgexplore.open_image(f"{layout}:latest")
    assert lazy_format(image.layers[0]) == "soci"
    with pytest.raises(DigestMismatchError):
        read_toc(image.layers[0])
