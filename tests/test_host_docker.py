"""`imgexplore host --engine docker`: Docker's overlay2 image store computed without a daemon,
compared file by file with what a real dockerd (Debian's docker.io, started here with its
own data root) writes when it pulls the same images from the tests' loopback registry.
Random ids (cache-ids, short links) are compared by shape and consistency; tar-split records
after decompression; the rebuilt tars by their sha256 (our own assembler and Debian's
`tar-split asm`)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import subprocess

import pytest
from engines import start_dockerd
from tarmaker import tar_bytes, write_layout

import imgexplore
from imgexplore.errors import OutputPathError, UnsafePathError
from imgexplore.host import tarsplit
from imgexplore.host.docker import write_docker_store
from imgexplore.transfer import push

ROOT = __import__("conftest").ROOT
RANDOM_FILES = {"cache-id", "tar-split.json.gz"}  # compared by shape and content, not bytes


@pytest.fixture(scope="module")
def pulled(registry, tmp_path_factory):
    """teaching and derived (which shares teaching's first two layers) on the registry, pulled
    by a real dockerd; and the same written by imgexplore."""
    refs = {
        "teaching": f"{registry.host}/hoststore/teaching:v1",
        "derived": f"{registry.host}/hoststore/derived:v1",
    }
    push(str(ROOT / "data" / "teaching" / "oci"), refs["teaching"])
    push(derived_image(tmp_path_factory.mktemp("derived")), refs["derived"])
    daemon = start_dockerd(str(tmp_path_factory.mktemp("dockerd")))
    try:
        for ref in refs.values():
            daemon.pull(ref)
        ours = tmp_path_factory.mktemp("ours") / "root"
        store = write_docker_store([imgexplore.open_image(ref) for ref in refs.values()], ours, seed=7)
        yield daemon.root, str(ours), store
    finally:
        daemon.stop()


def derived_image(folder) -> str:
    """An image on teaching's first two layers (recompressed: other blob digests, the same
    diff_ids, so the same chain ids) and a layer with what unpacking must get right: owners,
    set-uid, xattrs, an opaque directory, whiteouts, hard and symbolic links, a FIFO."""
    teaching = imgexplore.open_image(ROOT / "data" / "teaching" / "oci")
    base = [layer.open_tar().read() for layer in teaching.layers[:2]]
    own = tar_bytes(
        [
            {"name": "usr/", "type": "dir"},
            {"name": "usr/share/", "type": "dir", "mode": 0o750},
            {"name": "usr/share/.wh..wh..opq", "data": b""},
            {"name": "usr/share/only-this", "data": b"the rest is hidden\n"},
            {"name": "usr/bin/", "type": "dir"},
            {"name": "usr/bin/.wh.tool", "data": b""},
            {"name": "usr/bin/su", "data": b"#!/bin/sh\n", "mode": 0o4755},
            {"name": "usr/bin/su-again", "type": "hardlink", "linkname": "usr/bin/su"},
            {"name": "home/", "type": "dir", "mode": 0o755},
            {"name": "home/worker/", "type": "dir", "mode": 0o700, "uid": 1000, "gid": 1000},
            {"name": "home/worker/notes", "data": b"x" * 700, "uid": 1000, "gid": 1000, "mode": 0o600,
             "pax_headers": {"SCHILY.xattr.user.origin": "imgexplore-test"}},
            {"name": "home/worker/link", "type": "symlink", "linkname": "notes", "uid": 1000, "gid": 1000},
            {"name": "run/pipe", "type": "fifo", "mode": 0o620},
            {"name": "tmp/", "type": "dir", "mode": 0o1777},
        ]
    )  # fmt: skip
    return write_layout(folder / "oci", [*base, own])


def files_under(root: str) -> dict[str, str]:
    found = {}
    for parent, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(parent, name)
            found[os.path.relpath(path, root)] = "dir" if os.path.isdir(path) else "file"
    return found


def test_the_image_store_is_the_daemons(pulled):
    theirs, ours, _ = pulled
    a, b = os.path.join(theirs, "image", "overlay2"), os.path.join(ours, "image", "overlay2")
    assert files_under(a) == files_under(b)
    compared = 0
    for relative, kind in files_under(a).items():
        mode_a = stat.S_IMODE(os.stat(os.path.join(a, relative)).st_mode)
        assert mode_a == stat.S_IMODE(os.stat(os.path.join(b, relative)).st_mode), relative
        name = os.path.basename(relative)
        if kind == "dir" or name in RANDOM_FILES:
            continue
        with open(os.path.join(a, relative), "rb") as f, open(os.path.join(b, relative), "rb") as g:
            assert f.read() == g.read(), relative
        compared += 1
    # 7 layers (6 + derived's own; 2 shared) x diff/size/parent, repositories.json, configs…
    assert compared >= 30
    repositories = open(os.path.join(b, "repositories.json")).read()
    assert "hoststore/teaching:v1" in repositories and "hoststore/derived@sha256:" in repositories


def test_chain_directories_and_random_ids(pulled):
    theirs, ours, store = pulled
    layerdb = os.path.join(ours, "image", "overlay2", "layerdb", "sha256")
    chains = sorted(os.listdir(layerdb))
    assert chains == sorted(os.listdir(os.path.join(theirs, "image", "overlay2", "layerdb", "sha256")))
    assert len(chains) == 7  # derived's first two layers are teaching's: written once
    assert store.layers["written"].sum() == 7 and (~store.layers["written"]).sum() == 2
    for chain in chains:
        cache_id = open(os.path.join(layerdb, chain, "cache-id")).read()
        assert re.fullmatch(r"[0-9a-f]{64}", cache_id)
        link = open(os.path.join(ours, "overlay2", cache_id, "link")).read()
        assert re.fullmatch(r"[A-Z2-7]{26}", link)
        assert os.readlink(os.path.join(ours, "overlay2", "l", link)) == f"../{cache_id}/diff"


def test_tar_split_records_are_the_daemons(pulled):
    theirs, ours, _ = pulled
    for chain in os.listdir(os.path.join(theirs, "image", "overlay2", "layerdb", "sha256")):
        records = [
            gzip.open(
                os.path.join(root, "image", "overlay2", "layerdb", "sha256", chain, "tar-split.json.gz")
            ).read()
            for root in (theirs, ours)
        ]
        assert records[0] == records[1], chain  # the same JSON lines, byte for byte


def snapshot(directory: str) -> dict:
    """Every entry of a diff/ tree: type, mode, owner, size, content hash, link target,
    device number, xattrs, link count."""
    entries = {}
    for parent, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(parent, name)
            info = os.lstat(path)
            content = None
            if stat.S_ISREG(info.st_mode):
                with open(path, "rb") as f:
                    content = hashlib.sha256(f.read()).hexdigest()
            xattrs = {
                key: os.getxattr(path, key, follow_symlinks=False)
                for key in os.listxattr(path, follow_symlinks=False)
            }
            entries[os.path.relpath(path, directory)] = (
                stat.S_IFMT(info.st_mode),
                stat.S_IMODE(info.st_mode),
                info.st_uid,
                info.st_gid,
                0 if stat.S_ISDIR(info.st_mode) else info.st_size,
                content,
                os.readlink(path) if stat.S_ISLNK(info.st_mode) else None,
                info.st_rdev,
                xattrs,
                info.st_nlink if not stat.S_ISDIR(info.st_mode) else None,
            )
    return entries


def cache_dir(root: str, chain: str) -> str:
    cache_id = open(os.path.join(root, "image", "overlay2", "layerdb", "sha256", chain, "cache-id")).read()
    return os.path.join(root, "overlay2", cache_id)


def chain_of_link(root: str) -> dict[str, str]:
    """short link -> chain id, to compare lower files across two roots."""
    layerdb = os.path.join(root, "image", "overlay2", "layerdb", "sha256")
    return {open(os.path.join(cache_dir(root, chain), "link")).read(): chain for chain in os.listdir(layerdb)}


def test_every_layer_directory_is_the_daemons(pulled):
    theirs, ours, _ = pulled
    links = {root: chain_of_link(root) for root in (theirs, ours)}
    whiteouts = opaque = 0
    for chain in os.listdir(os.path.join(theirs, "image", "overlay2", "layerdb", "sha256")):
        a, b = cache_dir(theirs, chain), cache_dir(ours, chain)
        assert sorted(os.listdir(a)) == sorted(os.listdir(b)), chain  # diff link lower work committed
        for name in ("", "diff", "work"):
            if os.path.exists(os.path.join(a, name)):
                assert stat.S_IMODE(os.stat(os.path.join(a, name)).st_mode) == stat.S_IMODE(
                    os.stat(os.path.join(b, name)).st_mode
                )
        theirs_tree, ours_tree = snapshot(os.path.join(a, "diff")), snapshot(os.path.join(b, "diff"))
        assert theirs_tree == ours_tree, chain
        whiteouts += sum(1 for entry in ours_tree.values() if stat.S_ISCHR(entry[0]) and entry[7] == 0)
        opaque += sum(1 for entry in ours_tree.values() if "trusted.overlay.opaque" in entry[8])
        if os.path.exists(os.path.join(a, "lower")):
            lower_a = [links[theirs][part[2:]] for part in open(os.path.join(a, "lower")).read().split(":")]
            lower_b = [links[ours][part[2:]] for part in open(os.path.join(b, "lower")).read().split(":")]
            assert lower_a == lower_b  # the parents, nearest first
    assert whiteouts == 3 and opaque == 2  # etc/motd, tmp/build, usr/bin/tool; var/cache/apt, usr/share


def test_the_records_and_the_diff_rebuild_the_layer(pulled, tmp_path):
    theirs, ours, _ = pulled
    tool = shutil.which("tar-split")
    for chain in os.listdir(os.path.join(ours, "image", "overlay2", "layerdb", "sha256")):
        layer = os.path.join(ours, "image", "overlay2", "layerdb", "sha256", chain)
        diff_id = open(os.path.join(layer, "diff")).read()
        for root in (ours, theirs):  # our assembler, on our store and on the daemon's
            rebuilt = io.BytesIO()
            records = tarsplit.read(
                os.path.join(root, "image", "overlay2", "layerdb", "sha256", chain, "tar-split.json.gz")
            )
            tarsplit.assemble(records, os.path.join(cache_dir(root, chain), "diff"), rebuilt)
            assert "sha256:" + hashlib.sha256(rebuilt.getvalue()).hexdigest() == diff_id
        if tool:  # and Debian's tar-split on ours
            out = tmp_path / f"{chain}.tar"
            subprocess.run(
                [tool, "asm", "--input", os.path.join(layer, "tar-split.json.gz"),
                 "--path", os.path.join(cache_dir(ours, chain), "diff"), "--output", str(out)],
                check=True, capture_output=True,
            )  # fmt: skip
            assert "sha256:" + hashlib.sha256(out.read_bytes()).hexdigest() == diff_id


def test_a_changed_file_is_caught_when_rebuilding(tmp_path, data_dir):
    store = write_docker_store(
        [imgexplore.open_image(data_dir / "teaching" / "oci")], tmp_path / "root", seed=1
    )
    row = store.layers.iloc[0]
    diff = tmp_path / "root" / "overlay2" / row["cache_id"] / "diff"
    (diff / "etc" / "os-release").write_bytes(b"NAME=changed\n")
    records = tarsplit.read(
        tmp_path
        / "root"
        / "image"
        / "overlay2"
        / "layerdb"
        / "sha256"
        / row["chain_id"][7:]
        / "tar-split.json.gz"
    )
    with pytest.raises(imgexplore.TarSplitError, match="etc/os-release"):
        tarsplit.assemble(records, diff, io.BytesIO())


def test_disassembly_equals_debians_tar_split(tmp_path, data_dir):
    """On a plain file, our records equal `tar-split disasm`'s (its reads end with an empty one)."""
    tool = shutil.which("tar-split")
    if tool is None:
        pytest.skip("Debian's tar-split is not installed (scripts/system-packages.sh installs it)")
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    for layer in image.layers:
        with layer.open_tar() as stream:
            tar = stream.read()
        (tmp_path / "layer.tar").write_bytes(tar)
        subprocess.run(
            [tool, "disasm", "--no-stdout", "--output", str(tmp_path / "ts.json.gz"), str(tmp_path / "layer.tar")],
            check=True, capture_output=True,
        )  # fmt: skip
        ours = b"".join(tarsplit.encode(r) for r in tarsplit.disassemble(io.BytesIO(tar), reads="file"))
        assert ours == gzip.open(tmp_path / "ts.json.gz").read(), layer.index


def test_names_that_are_not_utf8_or_need_escaping_round_trip():
    tar = tar_bytes(
        [
            {"name": "a<b>&c\u2028.txt", "data": b"x"},
            {"name": "caf\udce9", "data": b"latin-1 name"},  # the byte 0xE9: not UTF-8
            {"name": "tab\there", "data": b""},
        ]
    )
    records = list(tarsplit.disassemble(io.BytesIO(tar)))
    lines = b"".join(tarsplit.encode(r) for r in records)
    assert b'"name":"a\\u003cb\\u003e\\u0026c\\u2028.txt"' in lines  # as Go's encoding/json escapes
    assert b'"name_raw":"Y2Fm6Q=="' in lines  # b"caf\xe9"
    assert [tarsplit.decode(line) for line in lines.splitlines()] == records


def test_an_unsafe_layer_is_refused_before_anything_is_written(tmp_path):
    for name, entries in {
        "escape": [{"name": "../outside", "data": b"x"}],
        "device": [{"name": "dev/sda", "type": "char", "devmajor": 8, "devminor": 0}],
        "through-link": [
            {"name": "etc", "type": "symlink", "linkname": "/etc"},
            {"name": "etc/passwd", "data": b"x"},
        ],
    }.items():
        layout = write_layout(
            tmp_path / name, [tar_bytes([{"name": "ok", "data": b"fine"}]), tar_bytes(entries)]
        )
        root = tmp_path / f"{name}-root"
        with pytest.raises(UnsafePathError):
            write_docker_store([imgexplore.open_image(layout)], root)
        assert os.listdir(root) == [], name  # nothing left behind
    assert not (tmp_path / "outside").exists()


def test_a_root_that_holds_something_is_refused_unless_forced(tmp_path, data_dir):
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "keep").write_text("mine")
    with pytest.raises(OutputPathError, match="not empty"):
        write_docker_store([image], tmp_path / "root")
    assert os.listdir(tmp_path / "root") == ["keep"]
    write_docker_store([image], tmp_path / "root", force=True)
    assert (tmp_path / "root" / "keep").read_text() == "mine"


def test_the_seed_makes_the_ids_reproducible(tmp_path, data_dir):
    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    first = write_docker_store([image], tmp_path / "a", seed=42).layers["cache_id"].tolist()
    second = write_docker_store([image], tmp_path / "b", seed=42).layers["cache_id"].tolist()
    third = write_docker_store([image], tmp_path / "c").layers["cache_id"].tolist()
    assert first == second and first != third


def test_the_command(tmp_path, data_dir):
    from imgexplore.cli import main

    assert (
        main(["host", str(data_dir / "teaching" / "oci"), "--root", str(tmp_path / "root"), "--seed", "1"])
        == 0
    )
    chains = os.listdir(tmp_path / "root" / "image" / "overlay2" / "layerdb" / "sha256")
    assert len(chains) == 6
    assert (
        main(["host", str(data_dir / "teaching" / "oci"), "--root", str(tmp_path / "root")]) == 1
    )  # not empty
