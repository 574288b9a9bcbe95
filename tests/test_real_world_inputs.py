"""Inputs built the way real tools build them (Jib, Bazel/go-containerregistry, usr-merged
distributions, aufs-era layers, zstd:chunked, configs that lie), and a property test that
reading a file agrees with the merged view and that waste is what was written and cannot be seen."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pathlib
import tarfile

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tarmaker import tar_bytes, write_layout

import imgexplore
from imgexplore import mediatypes as mt
from imgexplore.extract import read_file, resolve


def _archive(path: pathlib.Path, members: list[tuple[str, bytes | str]]) -> str:
    """A tar of (name, bytes) files and (name, "->target") symlinks, in order."""
    with tarfile.open(path, "w") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content.removeprefix("->")
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return str(path)


def _config(layer_tars: list[bytes]) -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t in layer_tars],
            },
            "history": [{"created_by": f"step {i}"} for i in range(len(layer_tars))],
        }
    ).encode()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- archives as other tools write them ----------------------------------------------------------


def test_jib_tar_with_lowercase_manifest_keys(tmp_path):
    """Jib's tarball: manifest.json with "config", "repoTags", "layers" (docker load accepts it)."""
    tars = [
        tar_bytes([{"name": "app/libs/a.jar", "data": b"jar"}]),
        tar_bytes([{"name": "app/classes/M.class", "data": b"cls"}]),
    ]
    blobs = [gzip.compress(t, mtime=0) for t in tars]
    config = _config(tars)
    manifest = [
        {
            "config": "config.json",
            "repoTags": ["jib/app:1"],
            "layers": [f"{_sha(b)[7:]}.tar.gz" for b in blobs],
        }
    ]
    path = _archive(
        tmp_path / "jib.tar",
        [("config.json", config)]
        + [(f"{_sha(b)[7:]}.tar.gz", b) for b in blobs]
        + [("manifest.json", json.dumps(manifest).encode())],
    )
    image = imgexplore.open_image(f"docker-archive:{path}:jib/app:1")
    assert [layer.digest for layer in image.layers] == [_sha(b) for b in blobs]
    assert image.config_digest == _sha(config)
    assert image.compute_diff_ids() == [_sha(t) for t in tars]
    assert list(image.files().merged()["path"]) == ["app/classes/M.class", "app/libs/a.jar"]


def test_docker_save_whose_layer_tar_is_a_symlink_to_another(tmp_path):
    """Bazel's rules_docker and go-containerregistry store a repeated layer once and make the
    second <id>/layer.tar a symlink to the first."""
    base = tar_bytes([{"name": "etc/base", "data": b"base"}])
    again = tar_bytes([{"name": "etc/base", "data": b"base"}])
    assert base == again  # the same layer twice (e.g. the same file added by two steps)
    config = _config([base, again])
    manifest = [
        {"Config": "config.json", "RepoTags": ["bazel:1"], "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}
    ]
    path = _archive(
        tmp_path / "bazel.tar",
        [("config.json", config), ("aaa/layer.tar", base), ("bbb/layer.tar", "->../aaa/layer.tar")]
        + [("manifest.json", json.dumps(manifest).encode())],
    )
    image = imgexplore.open_image(path)
    assert [layer.digest for layer in image.layers] == [_sha(base), _sha(base)]
    assert image.compute_diff_ids() == [_sha(base), _sha(base)]
    assert read_file(image, "etc/base") == b"base"


def test_a_symlink_loop_inside_an_archive_is_an_error_of_its_own(tmp_path):
    manifest = [{"Config": "config.json", "Layers": ["a/layer.tar"]}]
    path = _archive(
        tmp_path / "loop.tar",
        [
            ("config.json", _config([b""])),
            ("a/layer.tar", "->../b/layer.tar"),
            ("b/layer.tar", "->../a/layer.tar"),
        ]
        + [("manifest.json", json.dumps(manifest).encode())],
    )
    with pytest.raises(imgexplore.ImgExploreError, match="chain of over 8 links"):
        imgexplore.open_image(path)


# -- paths as the kernel resolves them ---------------------------------------------------------------


@pytest.fixture
def usr_merged(tmp_path):
    """A usr-merged base (bin -> usr/bin, as every recent Debian and Ubuntu image has), then a
    layer that writes one config file twice (the last copy is what extraction leaves)."""
    base = tar_bytes(
        [
            {"name": "usr", "type": "dir"},
            {"name": "usr/bin", "type": "dir"},
            {"name": "usr/bin/sh", "data": b"#!shell", "mode": 0o755},
            {"name": "usr/lib", "type": "dir"},
            {"name": "usr/lib/libc.so", "data": b"libc"},
            {"name": "bin", "type": "symlink", "linkname": "usr/bin"},
            {"name": "lib", "type": "symlink", "linkname": "/usr/lib"},
            {"name": "etc/alternatives/sh", "type": "symlink", "linkname": "../../bin/sh"},
            {"name": "loop/a", "type": "symlink", "linkname": "b"},
            {"name": "loop/b", "type": "symlink", "linkname": "a"},
        ]
    )
    top = tar_bytes(
        [{"name": "etc/app.conf", "data": b"first"}, {"name": "etc/app.conf", "data": b"second!"}]
    )
    return imgexplore.open_image(write_layout(tmp_path / "oci", [base, top]))


def test_cat_through_symlinked_directories(usr_merged):
    assert read_file(usr_merged, "bin/sh") == b"#!shell"
    assert read_file(usr_merged, "/lib/libc.so") == b"libc"
    assert read_file(usr_merged, "etc/alternatives/sh") == b"#!shell"
    assert read_file(usr_merged, "bin/../lib/libc.so") == b"libc"  # .. against usr/bin's real parent
    assert resolve(usr_merged, "bin/sh")["path"] == "usr/bin/sh"
    with pytest.raises(imgexplore.ImgExploreError, match="more than 40 symlinks"):
        read_file(usr_merged, "loop/a")
    with pytest.raises(imgexplore.NotInImageError, match="'usr/bin/sh' is a file"):
        read_file(usr_merged, "bin/sh/x")
    with pytest.raises(imgexplore.NotInImageError):
        read_file(usr_merged, "bin/bash")


def test_a_path_written_twice_in_one_layer_keeps_the_last_copy(usr_merged):
    files = usr_merged.files()
    row = files.merged().set_index("path").loc["etc/app.conf"]
    assert row["size"] == len(b"second!")
    assert read_file(usr_merged, "etc/app.conf") == b"second!"
    per_layer, summary = files.waste()
    assert per_layer.loc[1, "wasted_bytes"] == len(b"first") and per_layer.loc[1, "superseded_by"] == "1"
    assert summary["wasted_bytes"] == len(b"first")


def test_cli_cat_of_a_usr_merged_path(usr_merged, capsysbinary):
    from imgexplore.cli import main

    assert main(["cat", usr_merged.source.location, "bin/sh"]) == 0
    assert capsysbinary.readouterr().out == b"#!shell"


def test_aufs_metadata_is_neither_shown_nor_a_whiteout(tmp_path):
    """Layers made by Docker's aufs driver carry its bookkeeping at the top level."""
    layer = tar_bytes(
        [
            {"name": ".wh..wh.aufs", "data": b""},
            {"name": ".wh..wh.plnk", "type": "dir"},
            {"name": ".wh..wh.plnk/262.1234", "data": b"hardlink target"},
            {"name": ".wh..wh.orph", "type": "dir"},
            {"name": "srv/data", "data": b"real"},
        ]
    )
    image = imgexplore.open_image(write_layout(tmp_path / "oci", [layer]))
    files = image.files()
    assert list(files.merged()["path"]) == ["srv/data"]
    assert files.markers().empty
    assert files.waste()[1]["file_bytes_all_layers"] == len(b"real")


# -- configs that do not tell the truth --------------------------------------------------------------


def _rewrite_image(layout: pathlib.Path, edit_manifest=None, edit_config=None) -> None:
    """Edit the one image of a layout written by write_layout (new blobs, new index)."""
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_bytes())
    if edit_config:
        config = json.loads((blobs / manifest["config"]["digest"][7:]).read_bytes())
        edit_config(config)
        raw = json.dumps(config).encode()
        (blobs / _sha(raw)[7:]).write_bytes(raw)
        manifest["config"].update(digest=_sha(raw), size=len(raw))
    if edit_manifest:
        edit_manifest(manifest)
    raw = json.dumps(manifest).encode()
    (blobs / _sha(raw)[7:]).write_bytes(raw)
    index["manifests"][0].update(digest=_sha(raw), size=len(raw), mediaType=manifest["mediaType"])
    (layout / "index.json").write_text(json.dumps(index))


def test_a_config_claiming_another_layers_diff_id_is_refused_whatever_the_cache(tmp_path, isolated_cache):
    honest_tar = tar_bytes([{"name": "etc/honest", "data": b"honest"}])
    other_tar = tar_bytes([{"name": "etc/other", "data": b"other"}])
    honest = imgexplore.open_image(write_layout(tmp_path / "honest", [honest_tar]))
    liar_layout = pathlib.Path(write_layout(tmp_path / "liar", [other_tar]))
    _rewrite_image(liar_layout, edit_config=lambda c: c["rootfs"].update(diff_ids=[_sha(honest_tar)]))

    def open_liar():
        return imgexplore.open_image(str(liar_layout))

    for warm in (False, True):  # a fresh cache, then one holding the honest layer's table
        if warm:
            honest.files().load()
        with pytest.raises(imgexplore.DigestMismatchError) as caught:
            open_liar().files().load()
        assert _sha(other_tar) in str(caught.value) and _sha(honest_tar) in str(caught.value)


def test_zstd_chunked_layer_whose_tar_hashes_differently_is_listed_with_a_warning(tmp_path, isolated_cache):
    real_tar = tar_bytes([{"name": "usr/share/x", "data": b"x"}])
    claimed = _sha(real_tar[:-512])  # as if hashed without the full end-of-archive padding
    layout = pathlib.Path(write_layout(tmp_path / "oci", [real_tar]))

    def mark(manifest):
        manifest["layers"][0]["annotations"] = {
            "io.github.containers.zstd-chunked.manifest-checksum": "sha256:" + "0" * 64,
            "io.github.containers.zstd-chunked.manifest-position": "100:200:300:1",
        }

    _rewrite_image(layout, edit_manifest=mark, edit_config=lambda c: c["rootfs"].update(diff_ids=[claimed]))
    for _ in range(2):  # fresh, then from the cache
        image = imgexplore.open_image(str(layout))
        assert list(image.files().merged()["path"]) == ["usr/share/x"]
        (warning,) = [w for w in image.warnings if "zstd:chunked" in w]
        assert claimed in warning and _sha(real_tar) in warning


def test_an_ordinary_config_under_an_unusual_media_type_opens(tmp_path):
    layout = pathlib.Path(write_layout(tmp_path / "oci", [tar_bytes([{"name": "a", "data": b"a"}])]))

    def docker_with_octet_stream(manifest):
        manifest["mediaType"] = mt.DOCKER_SCHEMA2
        manifest["config"]["mediaType"] = "application/octet-stream"
        for layer in manifest["layers"]:
            layer["mediaType"] = mt.DOCKER_LAYER_GZIP

    _rewrite_image(layout, edit_manifest=docker_with_octet_stream)
    image = imgexplore.open_image(str(layout))
    assert len(image.layers) == 1 and image.layers[0].chain_id
    assert any("application/octet-stream" in w for w in image.warnings)


def test_an_artifact_is_still_refused(tmp_path):
    layout = pathlib.Path(
        write_layout(tmp_path / "oci", [b"not a tar"], media_type="application/vnd.example.thing")
    )

    def artifact(manifest):
        manifest["config"]["mediaType"] = "application/vnd.example.config+json"

    _rewrite_image(layout, edit_manifest=artifact, edit_config=lambda c: c.pop("rootfs"))
    with pytest.raises(imgexplore.ManifestError, match="artifact"):
        imgexplore.open_image(str(layout))


# -- property: cat agrees with the merged view; waste = written - visible ---------------------------

DIRS = ["a", "a/c", "b"]
FILES = ["a/f", "a/c/g", "b/f", "c", "a0"]
op = st.one_of(
    st.tuples(st.just("file"), st.sampled_from(FILES), st.binary(max_size=6)),
    st.tuples(st.just("dir"), st.sampled_from(DIRS), st.just(b"")),
    st.tuples(st.just("symlink"), st.sampled_from(FILES), st.sampled_from(["c", "a/f", "/b/f", "../a0"])),
    st.tuples(st.just("whiteout"), st.sampled_from(DIRS + FILES), st.just(b"")),
    st.tuples(st.just("opaque"), st.sampled_from(DIRS), st.just(b"")),
)


def _layer(ops) -> bytes:
    entries = []
    for kind, path, data in ops:
        parent, _, name = path.rpartition("/")
        if kind == "whiteout":
            entries.append({"name": f"{parent + '/' if parent else ''}.wh.{name}"})
        elif kind == "opaque":
            entries.append({"name": f"{path}/.wh..wh..opq"})
        elif kind == "symlink":
            entries.append({"name": path, "type": "symlink", "linkname": data})
        else:
            entries.append({"name": path, "type": kind, "data": data})
    return tar_bytes(entries)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.lists(st.lists(op, max_size=6), min_size=1, max_size=4))
# found by this test: a path written twice in one layer over a lower copy was two changes, so
# the lower copy was wasted twice and the visible bytes came out negative
@example(layers=[[("file", "a/f", b"\x00")], [("file", "a/f", b""), ("file", "a/f", b"")]])
def test_cat_matches_the_merged_view_and_waste_is_written_minus_visible(tmp_path_factory, layers):
    tars = [_layer(ops) for ops in layers]
    image = imgexplore.open_image(write_layout(tmp_path_factory.mktemp("img") / "oci", tars))
    files = image.files(cache=False)
    merged = files.merged()
    for row in merged[merged["type"] == "file"].itertuples():
        content = read_file(image, row.path)
        assert len(content) == row.size and hashlib.sha256(content).hexdigest() == row.sha256
    written = sum(
        int(t.loc[(t["type"] == "file") & t["whiteout"].isna() & ~t["opaque"], "size"].sum())
        for t in files.tables
    )
    visible = int(merged.loc[merged["type"] == "file", "size"].sum())
    _, summary = files.waste()
    assert summary["wasted_bytes"] == written - visible


# -- indexes holding more than images -----------------------------------------------------------------


def _add_index_entries(layout: pathlib.Path, entries: list[dict]) -> None:
    index = json.loads((layout / "index.json").read_text())
    index["manifests"] += entries
    (layout / "index.json").write_text(json.dumps(index))


def _artifact(layout: pathlib.Path, artifact_type: str) -> dict:
    """A signature or SBOM manifest as cosign or notation push them (OCI 1.1 artifacts)."""
    blobs = layout / "blobs" / "sha256"
    empty = b"{}"
    (blobs / _sha(empty)[7:]).write_bytes(empty)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": mt.OCI_EMPTY, "digest": _sha(empty), "size": 2},
            "layers": [{"mediaType": mt.OCI_EMPTY, "digest": _sha(empty), "size": 2}],
        }
    ).encode()
    (blobs / _sha(manifest)[7:]).write_bytes(manifest)
    return {
        "mediaType": mt.OCI_MANIFEST,
        "digest": _sha(manifest),
        "size": len(manifest),
        "artifactType": artifact_type,
    }


def test_an_index_with_signatures_and_an_sbom_opens_its_one_image(tmp_path):
    layout = pathlib.Path(write_layout(tmp_path / "oci", [tar_bytes([{"name": "a", "data": b"a"}])]))
    _add_index_entries(
        layout,
        [
            _artifact(layout, "application/vnd.dev.cosign.artifact.sig.v1+json"),
            _artifact(layout, "application/vnd.cncf.notary.signature"),
            _artifact(layout, "application/spdx+json"),
        ],
    )
    image = imgexplore.open_image(str(layout))
    assert len(image.layers) == 1
    index = json.loads((layout / "index.json").read_text())
    index["manifests"] = index["manifests"][1:]  # the artifacts alone
    (layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(imgexplore.PlatformNotFoundError, match="no image manifests, only 3 attestation"):
        imgexplore.open_image(str(layout))


def test_a_tag_shared_by_several_entries_is_not_advised(tmp_path):
    layout = pathlib.Path(write_layout(tmp_path / "oci", [tar_bytes([{"name": "a", "data": b"a"}])]))
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_bytes())
    entries = []
    for indent, (arch, tag) in enumerate((("s390x", "1.0.0"), ("ppc64le", "1.0.0"), ("riscv64", "2.0.0"))):
        raw = json.dumps(manifest, indent=indent + 1).encode()  # three distinct manifests
        (blobs / _sha(raw)[7:]).write_bytes(raw)
        entries.append(
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": _sha(raw),
                "size": len(raw),
                "platform": {"os": "linux", "architecture": arch},
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        )
    index["manifests"] = entries
    (layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(imgexplore.PlatformNotFoundError) as caught:
        imgexplore.open_image(f"{layout}:1.0.0")
    assert "1.0.0" not in str(caught.value).split("tags here")[-1]
    with pytest.raises(imgexplore.PlatformNotFoundError) as caught:
        imgexplore.open_image(str(layout))
    assert "(tags here: 2.0.0)" in str(caught.value)


def test_a_config_without_os_or_architecture_has_no_platform(tmp_path):
    layout = pathlib.Path(write_layout(tmp_path / "oci", [tar_bytes([{"name": "a", "data": b"a"}])]))
    _rewrite_image(layout, edit_config=lambda c: c.update(os="", architecture=""))
    image = imgexplore.open_image(str(layout))
    assert image.platform is None and "platform:" not in image.summary()


def test_a_schema1_cycle_is_called_a_cycle(data_dir):
    """The base step names the newest step as its parent: every parent is present, so the
    warning must not say one is missing."""
    doc = json.loads((data_dir / "teaching" / "schema1.json").read_text())
    newest = json.loads(doc["history"][0]["v1Compatibility"])
    base = json.loads(doc["history"][-1]["v1Compatibility"])
    base["parent"] = newest["id"]
    doc["history"][-1]["v1Compatibility"] = json.dumps(base)
    image = imgexplore.open_image(str(data_dir / "teaching" / "schema1.json"))  # the original is fine
    assert not [w for w in image.warnings if "cycle" in w]
    from imgexplore.manifest import parse_manifest

    cyclic = parse_manifest(json.dumps(doc, indent=3).encode())
    from imgexplore.image import _check_schema1_chain

    warnings = _check_schema1_chain(cyclic)
    assert any("the ids form a cycle" in w for w in warnings)
    assert not any("not in the manifest" in w for w in warnings)
