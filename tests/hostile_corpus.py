"""The hostile-input corpus: every case is made here by code, states what must happen, and
the small ones are also written to tests/hostile/ (``python tests/hostile_corpus.py``) so
they can be read and replayed by hand; the test checks those files still match this code.

Kinds: ``manifest`` (parse_manifest on the bytes), ``tar`` (list_tar on the bytes),
``blob`` (decompress then list, as a layer is read), ``reference`` (parse_reference on the
text). ``expect`` is an imgexplore error class name, or ``ok``."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import sys
import tarfile
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "hostile")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DIGEST = "sha256:" + "ab" * 32


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    data: bytes
    expect: str
    message: str = ""  # a regular expression the error message must match
    small: bool = True  # written to tests/hostile/


def _manifest(**overrides) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": DIGEST, "size": 2},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": DIGEST, "size": 10}
        ],
    }
    doc.update(overrides)
    return json.dumps(doc).encode()


def _layer(**overrides) -> bytes:
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": DIGEST, "size": 10}
    layer.update(overrides)
    return _manifest(layers=[layer])


def _schema1(history=None, fs_layers=None, signatures=None) -> bytes:
    doc = {
        "schemaVersion": 1,
        "name": "x/y",
        "tag": "t",
        "architecture": "amd64",
        "fsLayers": fs_layers if fs_layers is not None else [{"blobSum": DIGEST}],
        "history": history if history is not None else [{"v1Compatibility": json.dumps({"id": "a" * 64})}],
    }
    if signatures is not None:
        doc["signatures"] = signatures
    return json.dumps(doc, indent=3).encode()


def _tar(entries, fmt=tarfile.USTAR_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, kind, data, link in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.type = kind
            info.linkname = link
            if kind == tarfile.REGTYPE:
                info.size = len(data)
            if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = 1, 3
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return buf.getvalue()


def _set_header_field(raw: bytes, start: int, value: bytes, offset: int = 0) -> bytes:
    block = bytearray(raw[offset : offset + 512])
    block[start : start + len(value)] = value
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return raw[:offset] + bytes(block) + raw[offset + 512 :]


def cases() -> list[Case]:
    plain = _tar([("a.txt", tarfile.REGTYPE, b"hello", "")])
    result = [
        # manifests
        Case("m-not-json", "manifest", b"\x00\x01\x02garbage", "ManifestError", "not UTF-8|not valid JSON"),
        Case("m-truncated", "manifest", _manifest()[:50], "ManifestError", "not valid JSON"),
        Case("m-deep-nesting", "manifest", b"[" * 50_000 + b"]" * 50_000, "LimitExceededError", "too deeply"),
        Case(
            "m-oversized",
            "manifest",
            b" " * (4 * 1024 * 1024) + b"{}",
            "LimitExceededError",
            "over the limit",
            small=False,
        ),
        Case("m-not-an-object", "manifest", b"[1, 2, 3]", "ManifestError", "must be a JSON object"),
        Case(
            "m-config-wrong-type",
            "manifest",
            _manifest(config="x"),
            "ManifestError",
            "config must be an object",
        ),
        Case(
            "m-layers-wrong-type",
            "manifest",
            _manifest(layers={"a": 1}),
            "ManifestError",
            "layers must be an array",
        ),
        Case("m-size-is-string", "manifest", _layer(size="10"), "ManifestError", "size must be an integer"),
        Case("m-size-is-bool", "manifest", _layer(size=True), "ManifestError", "size must be an integer"),
        Case("m-negative-size", "manifest", _layer(size=-5), "ManifestError", "negative"),
        Case(
            "m-digest-uppercase",
            "manifest",
            _layer(digest="sha256:" + "AB" * 32),
            "ManifestError",
            "lowercase hex",
        ),
        Case(
            "m-digest-unknown-algorithm",
            "manifest",
            _layer(digest="md5:" + "ab" * 16),
            "ManifestError",
            "unsupported digest algorithm",
        ),
        Case(
            "m-layer-without-media-type",
            "manifest",
            _layer(mediaType=None),
            "ManifestError",
            "mediaType must be a string",
        ),
        Case(
            "m-unknown-layer-media-type",
            "manifest",
            _layer(mediaType="application/vnd.oci.image.layer.v1.tar+evil"),
            "UnsupportedMediaTypeError",
            "unknown layer media type",
        ),
        Case(
            "m-unknown-manifest-media-type",
            "manifest",
            _manifest(mediaType="text/html"),
            "UnsupportedMediaTypeError",
            "unknown manifest media type",
        ),
        Case(
            "m-duplicate-keys",
            "manifest",
            b'{"schemaVersion": 2, "schemaVersion": 1}',
            "ManifestError",
            "duplicate JSON key",
        ),
        Case("m-nan", "manifest", b'{"schemaVersion": NaN}', "ManifestError", "invalid JSON number"),
        Case(
            "m-huge-number",
            "manifest",
            b'{"schemaVersion": 1e999}',
            "ManifestError",
            "invalid JSON number|schemaVersion",
        ),
        Case("m-no-schema-version", "manifest", b'{"layers": []}', "ManifestError", "no schemaVersion"),
        Case(
            "m-both-index-and-manifest",
            "manifest",
            b'{"schemaVersion": 2, "manifests": [], "layers": []}',
            "ManifestError",
            "cannot tell its kind",
        ),
        Case(
            "m-annotations-not-object",
            "manifest",
            _manifest(annotations=[1]),
            "ManifestError",
            "annotations must be an object",
        ),
        Case(
            "s1-layers-history-mismatch",
            "manifest",
            _schema1(fs_layers=[{"blobSum": DIGEST}] * 2),
            "ManifestError",
            "pair up",
        ),
        Case("s1-no-layers", "manifest", _schema1(fs_layers=[], history=[]), "ManifestError", "no fsLayers"),
        Case(
            "s1-v1compat-not-json",
            "manifest",
            _schema1(history=[{"v1Compatibility": "{not json"}]),
            "ManifestError",
            "not valid JSON",
        ),
        Case(
            "s1-v1compat-no-id",
            "manifest",
            _schema1(history=[{"v1Compatibility": "{}"}]),
            "ManifestError",
            "id must be a string",
        ),
        Case(
            "s1-bad-blobsum",
            "manifest",
            _schema1(fs_layers=[{"blobSum": "sha256:nothex"}]),
            "ManifestError",
            "blobSum",
        ),
        Case(
            "s1-signature-not-base64",
            "manifest",
            _schema1(signatures=[{"protected": "!!!", "signature": "x", "header": {}}]),
            "ManifestError",
            "base64url|not valid JSON|not UTF-8",
        ),
        Case(
            "s1-format-length-out-of-range",
            "manifest",
            _schema1(
                signatures=[
                    {
                        "protected": base64.urlsafe_b64encode(
                            json.dumps({"formatLength": 10**9, "formatTail": "Cn0"}).encode()
                        )
                        .decode()
                        .rstrip("=")
                    }
                ]
            ),
            "ManifestError",
            "outside",
        ),
        Case("s1-signatures-empty", "manifest", _schema1(signatures=[]), "ManifestError", "empty"),
        # tars
        Case("t-traversal-listed", "tar", _tar([("../../etc/passwd", tarfile.REGTYPE, b"x", "")]), "ok"),
        Case("t-absolute-listed", "tar", _tar([("/etc/shadow", tarfile.REGTYPE, b"x", "")]), "ok"),
        Case(
            "t-symlink-escape-listed",
            "tar",
            _tar([("evil", tarfile.SYMTYPE, b"", "/etc"), ("evil/passwd", tarfile.REGTYPE, b"x", "")]),
            "ok",
        ),
        Case("t-hardlink-outside-listed", "tar", _tar([("l", tarfile.LNKTYPE, b"", "../../outside")]), "ok"),
        Case("t-device-listed", "tar", _tar([("dev/null", tarfile.CHRTYPE, b"", "")]), "ok"),
        Case(
            "t-negative-size",
            "tar",
            _set_header_field(plain, 124, b"\xff" * 12),
            "ArchiveError",
            "negative size",
        ),
        Case(
            "t-absurd-size",
            "tar",
            _set_header_field(plain, 124, b"77777777777\0"),
            "ArchiveError",
            "truncated",
        ),
        Case("t-bad-checksum", "tar", plain[:10] + b"X" + plain[11:], "ArchiveError", "bad checksum"),
        Case("t-truncated-header", "tar", plain[:300], "ArchiveError", "truncated"),
        Case(
            "t-truncated-data",
            "tar",
            _tar([("a", tarfile.REGTYPE, b"x" * 5000, "")])[:1500],
            "ArchiveError",
            "truncated",
        ),
        Case("t-not-octal", "tar", _set_header_field(plain, 100, b"zzzzzzz\0"), "ArchiveError", "not octal"),
        Case("t-pax-malformed", "tar", _pax_header(b"99999 path=x\n"), "ArchiveError", "PAX"),
        Case("t-pax-no-equals", "tar", _pax_header(b"9 pathx\n"), "ArchiveError", "PAX"),
        Case(
            "t-pax-oversized",
            "tar",
            _set_header_field(_pax_header(b"10 path=x\n"), 124, b"%011o\0" % (2 << 20)),
            "LimitExceededError",
            "max_header_bytes",
        ),
        Case("t-random-bytes", "tar", bytes(range(256)) * 8, "ArchiveError", "bad checksum|not octal"),
        # compressed blobs
        Case(
            "z-truncated-gzip",
            "blob",
            gzip.compress(plain, mtime=0)[:40],
            "ArchiveError",
            "truncated|corrupt",
        ),
        Case(
            "z-corrupt-gzip",
            "blob",
            _flip(gzip.compress(plain * 20, mtime=0), 30),
            "ArchiveError",
            "corrupt|truncated",
        ),
        Case("z-truncated-zstd", "blob", _zstd(plain)[:-8], "ArchiveError", "truncated|corrupt"),
        Case("z-bzip2", "blob", b"BZh91AY&SY" + bytes(30), "ArchiveError", "bzip2-compressed"),
        Case(
            "z-gzip-bomb",
            "blob",
            gzip.compress(bytes(80 * 1024 * 1024), 9, mtime=0),
            "LimitExceededError",
            "max_uncompressed_bytes",
            small=False,
        ),
    ]
    bad_references = [
        "",
        "UPPER",
        "a//b",
        "repo:",
        "repo:-x",
        "repo@sha256:short",
        "x" * 300 + "/y",
        "host:port:x/y",
        "a b",
        "repo@",
        "-leading",
        "trailing-",
        "a/./b",
        "repo:tag@sha256:" + "g" * 64,
    ]
    result += [
        Case(f"r-{i:02d}", "reference", text.encode(), "InvalidReferenceError")
        for i, text in enumerate(bad_references)
    ]
    return result


def _pax_header(records: bytes) -> bytes:
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = len(records)
    header = info.tobuf(tarfile.USTAR_FORMAT)
    body = records + bytes(-len(records) % 512)
    return header + body + _tar([("a.txt", tarfile.REGTYPE, b"hello", "")])


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x5A]) + data[index + 1 :]


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=3, write_checksum=True).compress(data)


def write(folder: str = OUT) -> None:
    os.makedirs(folder, exist_ok=True)
    index = []
    for case in cases():
        if not case.small:
            index.append(
                {
                    "name": case.name,
                    "kind": case.kind,
                    "expect": case.expect,
                    "message": case.message,
                    "file": None,
                    "note": "made at test time (too large to keep)",
                }
            )
            continue
        name = f"{case.name}.bin"
        with open(os.path.join(folder, name), "wb") as f:
            f.write(case.data)
        index.append(
            {
                "name": case.name,
                "kind": case.kind,
                "expect": case.expect,
                "message": case.message,
                "file": name,
            }
        )
    with open(os.path.join(folder, "cases.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else OUT)
