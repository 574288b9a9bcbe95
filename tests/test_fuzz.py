"""Property-based fuzzing (hypothesis) of the parsers that read untrusted bytes: only
imgexplore's own exceptions may escape. Example counts are sized for CI; raise them with
IMGEXPLORE_FUZZ_EXAMPLES (e.g. 20000) for a longer run. Seeds are fixed (derandomize), so a
failure reproduces."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import tarfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imgexplore
from imgexplore.compression import open_decompressed
from imgexplore.errors import ImgExploreError
from imgexplore.filetree.tarlist import list_tar

EXAMPLES = int(os.environ.get("IMGEXPLORE_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DIGEST = "sha256:" + "0" * 64

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)

manifest_keys = st.sampled_from(
    [
        "schemaVersion",
        "mediaType",
        "config",
        "layers",
        "manifests",
        "digest",
        "size",
        "platform",
        "fsLayers",
        "history",
        "signatures",
        "urls",
        "annotations",
        "blobSum",
        "v1Compatibility",
        "artifactType",
        "subject",
    ]
)
media_types = st.sampled_from(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "text/plain",
        "",
    ]
)
manifest_like = st.recursive(
    st.none() | st.integers(-3, 3) | media_types | st.just(DIGEST) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(manifest_keys, children, max_size=7),
    max_leaves=40,
)


def only_our_errors(func, *args):
    with contextlib.suppress(ImgExploreError):
        func(*args)


@FUZZ
@given(st.text(max_size=300))
def test_reference_parser(text):
    only_our_errors(imgexplore.parse_reference, text)


@FUZZ
@given(st.binary(max_size=2000))
def test_manifest_parser_on_bytes(data):
    only_our_errors(imgexplore.parse_manifest, data)


@FUZZ
@given(json_values)
def test_manifest_parser_on_any_json(value):
    only_our_errors(imgexplore.parse_manifest, json.dumps(value).encode())


@FUZZ
@given(st.dictionaries(manifest_keys, manifest_like, max_size=8), st.sampled_from([1, 2]))
def test_manifest_parser_on_manifest_shaped_json(doc, version):
    doc["schemaVersion"] = version
    raw = json.dumps(doc).encode()
    only_our_errors(imgexplore.parse_manifest, raw)
    only_our_errors(imgexplore.parse_manifest, raw, "application/vnd.oci.image.index.v1+json")


def _sample_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i, name in enumerate(["dir", "dir/file", "dir/" + "long" * 40, "link"]):
            info = tarfile.TarInfo(name)
            if name == "dir":
                info.type = tarfile.DIRTYPE
            elif name == "link":
                info.type, info.linkname = tarfile.SYMTYPE, "dir/file"
            else:
                info.size = 100 * (i + 1)
            info.pax_headers = {"comment": "x" * i}
            tar.addfile(info, io.BytesIO(b"a" * info.size) if info.isfile() else None)
    return buf.getvalue()


SAMPLE_TAR = _sample_tar()


def mutated(original: bytes, flips: list[tuple[int, int]], cut: int) -> bytes:
    """``original`` cut to ``cut`` bytes (0: whole), then with bytes set as ``flips`` says."""
    data = bytearray(original[:cut] if cut else original)
    for index, value in flips:
        if index < len(data):
            data[index] = value
    return bytes(data)


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(SAMPLE_TAR) - 1), st.integers(0, 255)), max_size=8),
    st.integers(0, len(SAMPLE_TAR)),
)
def test_tar_lister_on_mutated_tars(flips, cut):
    only_our_errors(list_tar, io.BytesIO(mutated(SAMPLE_TAR, flips, cut)))


@FUZZ
@given(st.binary(max_size=4096))
def test_tar_lister_on_random_bytes(data):
    only_our_errors(list_tar, io.BytesIO(data))


GZIPPED = gzip.compress(SAMPLE_TAR, mtime=0)


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(GZIPPED) - 1), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(0, len(GZIPPED)),
)
def test_decompression_of_mutated_gzip(flips, cut):
    data = mutated(GZIPPED, flips, cut)

    def read():
        stream, _ = open_decompressed(io.BytesIO(bytes(data)), max_uncompressed_bytes=1 << 20)
        list_tar(stream)

    only_our_errors(read)
