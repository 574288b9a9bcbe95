"""`imgexplore host --engine docker`: Docker's overlay2 image store computed without a daemon,
compared file by file with what a real dockerd (Debian's docker.io, started here with its
own data root) writes when it pulls the same images from the tests' loopback registry.
Random ids (cache-ids, short links) are compared by shape and consistency; tar-split records
after decompression; the rebuilt tars by their sha256 (our own assembler and Debian's
`tar-split asm`)."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import pathlib
import re
import shutil
import stat
import subprocess
import time

import pytest
from engines import run_unprivileged, start_dockerd, start_sshd
from hostimages import BUSYBOX, busybox_image, derived_image
from tarmaker import tar_bytes, write_layout

import imgexplore
from imgexplore.errors import OutputPathError, UnsafePathError
from imgexplore.host import tarsplit
from imgexplore.host.docker import write_docker_store
from imgexplore.transfer import push

ROOT = __import__("conftest").ROOT
RANDOM_FILES = {"cache-id", "tar-split.json.gz"}  # compared by shape and content, not bytes
PULLED: dict = {}  # the daemon and references of the module's fixture, for the container tests


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
    if os.path.exists(BUSYBOX):
        refs["busybox"] = f"{registry.host}/hoststore/busybox:v1"
        push(busybox_image(tmp_path_factory.mktemp("busybox")), refs["busybox"])
    daemon = start_dockerd(str(tmp_path_factory.mktemp("dockerd")), tls=True)
    try:
        for ref in refs.values():
            daemon.pull(ref)
        ours = tmp_path_factory.mktemp("ours") / "root"
        store = write_docker_store([imgexplore.open_image(ref) for ref in refs.values()], ours, seed=7)
        PULLED.update(daemon=daemon, refs=refs)
        yield daemon.root, str(ours), store
    finally:
        daemon.stop()


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
    expected = 7 + ("busybox" in PULLED["refs"])  # derived's first two layers are teaching's: written once
    assert len(chains) == expected
    assert store.layers["written"].sum() == expected and (~store.layers["written"]).sum() == 2
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
    device number, xattrs, link count. The kernel's own bookkeeping xattrs (overlay's
    ``origin``/``impure``, file handles written when it copies a directory up into a layer
    Docker has mounted) are left out: only the opaque flag is the layer's."""
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
                if not key.startswith("trusted.overlay.") or key == "trusted.overlay.opaque"
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


def test_the_tar_size_scan_survives_names_that_look_like_keys(tmp_path):
    """The byte search for sizes and payloads must not be fooled by a name holding
    `"size":`, `"position":` or `{"type":2,"payload":"` (escaped in JSON), a long PAX name, empty files
    (no "size" key) or lines not in the Go encoder's form (decoded the slow way)."""
    tar = tar_bytes(
        [
            {"name": 'x"size":99999,"a', "data": b"12345"},
            {"name": '{"type":2,"payload":"AAAA', "data": b""},
            {"name": 'p","position":7,"q', "data": b"pp"},
            {"name": "d/" + "long-name-" * 40, "data": b"y" * 700},
            {"name": "empty", "data": b""},
        ]
    )
    records = list(tarsplit.disassemble(io.BytesIO(tar), reads="file"))
    path = tmp_path / "ts.json.gz"
    tarsplit.write(records, path)
    assert tarsplit.file_tar_size(path) == len(tar) == tarsplit.tar_size(records)
    # the same records as another writer might put them: keys in another order
    other = tmp_path / "other.json.gz"
    with gzip.open(other, "wb") as out:
        for line in gzip.open(path).read().splitlines():
            out.write(json.dumps(dict(reversed(list(json.loads(line).items())))).encode() + b"\n")
    assert tarsplit.file_tar_size(other) == len(tar)
    # one more segment in another writer's form (spaces) is counted; a line that is no
    # record at all (no position) is refused, never passed over
    lines = gzip.decompress(path.read_bytes())
    for extra, expected in ((b'{"type": 2, "payload": "AAAA", "position": 99}\n', len(tar) + 3),
                            (b'{"kind":"segment","data":"AAAA"}\n', None),
                            # a payload with no closing quote on its line, then a stray line
                            (b'{"type":2,"payload":"AAAA\n","position":9}\n', None)):  # fmt: skip
        (tmp_path / "extra.json.gz").write_bytes(gzip.compress(lines + extra))
        if expected is None:
            with pytest.raises(imgexplore.TarSplitError, match="not a tar-split record"):
                tarsplit.file_tar_size(tmp_path / "extra.json.gz")
        else:
            assert tarsplit.file_tar_size(tmp_path / "extra.json.gz") == expected
    whole = path.read_bytes()
    for damaged in (b"\x1f\x8bnot gzip", whole[: len(whole) // 2], whole[:12] + b"\xff" * 40 + whole[52:]):
        (tmp_path / "bad.json.gz").write_bytes(damaged)
        with pytest.raises(imgexplore.TarSplitError, match="bad.json.gz"):
            tarsplit.file_tar_size(tmp_path / "bad.json.gz")


def test_a_layers_tar_size_is_kept_until_its_tar_split_changes(tmp_path, monkeypatch):
    """docker-root: keeps each tar size in the cache under the tar-split file's identity; a
    kept value is used only while that identity holds and only when it was written whole
    (the file is not fsynced, so a crash may leave it without its last newline)."""
    from imgexplore.sources import docker_root

    monkeypatch.setenv("IMGEXPLORE_CACHE", str(tmp_path / "cache"))
    tar = tar_bytes([{"name": f"f{i}", "data": b"x" * i} for i in range(50)])
    path = tmp_path / "tar-split.json.gz"
    tarsplit.write(list(tarsplit.disassemble(io.BytesIO(tar), reads="file")), path)
    assert docker_root._tar_size(str(path)) == len(tar) == 61440  # 99 blocks + 2 zero blocks, padded to 10240
    (kept,) = (tmp_path / "cache" / "docker-root").iterdir()
    key, size = kept.read_text().split()
    assert size == "61440" and kept.read_text().endswith("\n")
    scans = []
    monkeypatch.setattr(tarsplit, "file_tar_size", lambda p: scans.append(p) or len(tar))
    assert docker_root._tar_size(str(path)) == len(tar) and scans == []  # kept
    kept.write_text(f"{key} 47")  # cut short by a crash: not trusted
    assert docker_root._tar_size(str(path)) == len(tar) and len(scans) == 1
    assert kept.read_text() == f"{key} 61440\n"
    os.utime(path, ns=(1, 1))  # the tar-split changed: scanned again
    assert docker_root._tar_size(str(path)) == len(tar) and len(scans) == 2


@pytest.mark.parametrize("piece", [997, 1 << 20])
def test_the_tar_size_scan_reads_in_pieces(piece, tmp_path, monkeypatch):
    """The JSON is inflated and scanned a piece at a time: lines cut between pieces, a file
    of several gzip members, one not compressed and one without its last newline all give
    the size of the tar."""
    monkeypatch.setattr(tarsplit._inflated, "__defaults__", (piece,))
    tar = tar_bytes([{"name": f"d{i % 7}/file-{i}", "data": b"z" * (i * 37 % 1500)} for i in range(1500)])
    records = list(tarsplit.disassemble(io.BytesIO(tar), reads="file"))
    path = tmp_path / "ts.json.gz"
    tarsplit.write(records, path)
    lines = gzip.decompress(path.read_bytes())
    monkeypatch.setattr(tarsplit, "read", None)  # never the slow way (decoding every record)
    assert len(lines) > 1 << 20 and tarsplit.file_tar_size(path) == len(tar)
    half = lines.index(b"\n", len(lines) // 2) + 1
    for name, data in {
        "members.json.gz": gzip.compress(lines[:half]) + gzip.compress(lines[half:]),
        "plain.json": lines,
        "no-newline.json.gz": gzip.compress(lines.rstrip(b"\n")),
    }.items():
        (tmp_path / name).write_bytes(data)
        assert tarsplit.file_tar_size(tmp_path / name) == len(tar), name


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


# -- the container's own layers and the mount ---------------------------------------------------


def needs_busybox():
    if "busybox" not in PULLED.get("refs", {}):
        pytest.skip("Debian's busybox-static is not installed (scripts/system-packages.sh installs it)")


def test_docker_create_writes_what_create_container_writes(pulled, tmp_path):
    theirs, ours, store = pulled
    needs_busybox()
    daemon, ref = PULLED["daemon"], PULLED["refs"]["busybox"]
    container = daemon.run(ref, ["/bin/sh", "-c", "true"])
    mounts = os.path.join(theirs, "image", "overlay2", "layerdb", "mounts", container)
    recorded = {name: open(os.path.join(mounts, name)).read() for name in sorted(os.listdir(mounts))}
    chain = store.layers.loc[store.layers["image"] == ref, "chain_id"].iloc[-1]
    assert recorded["parent"] == chain and recorded["init-id"] == recorded["mount-id"] + "-init"

    from imgexplore.host.container import create_container

    mine = create_container(ours, chain, seed=3)
    assert re.fullmatch(r"[0-9a-f]{64}", mine.mount_id) and mine.init_id == mine.mount_id + "-init"
    ours_mounts = os.path.join(ours, "image", "overlay2", "layerdb", "mounts", mine.container_id)
    assert {
        name: open(os.path.join(ours_mounts, name)).read() for name in sorted(os.listdir(ours_mounts))
    } == {
        "init-id": mine.init_id,
        "mount-id": mine.mount_id,
        "parent": chain,
    }
    links = {root: chain_of_link(root) for root in (theirs, ours)}
    for theirs_name, ours_name in (
        (recorded["init-id"], mine.init_id),
        (recorded["mount-id"], mine.mount_id),
    ):
        a, b = os.path.join(theirs, "overlay2", theirs_name), os.path.join(ours, "overlay2", ours_name)
        assert sorted(os.listdir(a)) == sorted(os.listdir(b)), theirs_name
        if theirs_name.endswith("-init"):
            assert snapshot(os.path.join(a, "diff")) == snapshot(os.path.join(b, "diff"))
            lower_a = [
                links[theirs].get(part[2:]) for part in open(os.path.join(a, "lower")).read().split(":")
            ]
            lower_b = [links[ours].get(part[2:]) for part in open(os.path.join(b, "lower")).read().split(":")]
            assert lower_a == lower_b and None not in lower_a
        else:  # the read-write layer: the init layer's link first, then the image's layers
            for root, layer_dir, init_name in ((theirs, a, recorded["init-id"]), (ours, b, mine.init_id)):
                lowers = open(os.path.join(layer_dir, "lower")).read().split(":")
                init_dir = os.path.join(root, "overlay2", init_name)
                assert lowers[0] == "l/" + open(os.path.join(init_dir, "link")).read()
                assert lowers[1:] == open(os.path.join(init_dir, "lower")).read().split(":")


def proc_mount(upper: str) -> dict[str, str]:
    with open("/proc/mounts") as f:
        for line in f:
            if f"upperdir={upper}," in line:
                options = line.split()[3].split(",")
                return dict(option.split("=", 1) for option in options if "=" in option)
    raise AssertionError(f"no overlay mount with upperdir={upper}")


def test_the_mount_options_are_the_running_containers(pulled):
    theirs, _, _ = pulled
    needs_busybox()
    daemon, ref = PULLED["daemon"], PULLED["refs"]["busybox"]
    container = daemon.run(
        ref,
        ["/bin/sh", "-c", "rm /etc/motd && echo hi > /new && echo changed >> /etc/issue && sleep 60"],
        wait=False,
    )
    try:
        data = daemon.inspect(container)["GraphDriver"]["Data"]
        upper = data["UpperDir"]
        for _ in range(100):
            if os.path.exists(os.path.join(upper, "new")):
                break
            time.sleep(0.1)
        mounted = proc_mount(upper)
        mount_id = os.path.basename(os.path.dirname(upper))
        from imgexplore.host.mount import docker_mount

        computed = docker_mount(theirs, mount_id)
        assert computed.lowerdirs == mounted["lowerdir"].split(":")
        assert f"upperdir={mounted['upperdir']}" in computed.options
        assert f"workdir={mounted['workdir']}" in computed.options
        assert all(os.path.dirname(p) == os.path.join(theirs, "overlay2", "l") for p in computed.lowerdirs)
    finally:
        daemon.kill(container)
    from imgexplore.host.container import container_changes

    image = imgexplore.open_image(ref)
    changes = container_changes(image, upper, data["LowerDir"].split(":")[0])
    found = {(row.path, row.change, row.detail) for row in changes.itertuples()}
    assert ("etc/motd", "deleted", "whiteout") in found
    assert ("new", "added", "") in found
    assert ("etc/issue", "modified", "content") in found


def test_our_store_mounted_is_the_merged_view(tmp_path, data_dir):
    """The written layers, mounted read-only by the kernel's overlayfs, show exactly the merged
    view imgexplore computes: path by path, type, size, mode, link target and content."""
    if os.geteuid() != 0:
        pytest.skip("mounting overlayfs needs root")
    from imgexplore.host.mount import docker_mount, mount, unmount

    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    store = write_docker_store([image], tmp_path / "root", seed=5)
    spec = docker_mount(tmp_path / "root", store.layers["cache_id"].iloc[-1])
    assert spec.options.startswith("lowerdir=" + str(tmp_path / "root" / "overlay2"))
    target = mount(spec, str(tmp_path / "mnt"), read_only=True)
    try:
        seen = mounted_tree(target)
    finally:
        unmount(target)
    merged = image.files().merged()
    expected = expected_tree(merged)
    # A layer that writes tmp/build/x without an entry for tmp/ makes Docker create tmp/ in
    # its diff as 0755 root (moby UnpackLayer), and overlayfs shows the topmost copy: such an
    # implied directory is 0755 in the container whatever mode the layer below gave it. (The
    # merged view keeps the mode of the last entry the image has for it; containerd copies the
    # lower directory's attributes instead, so this is Docker's own.)
    implied = set()
    for position, table in enumerate(image.files().tables):
        own = set(table["path"])
        for path in table["path"]:
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                parent = "/".join(parts[:depth])
                if parent not in own and merged.loc[merged["path"] == parent, "layer"].iloc[0] < position:
                    implied.add(parent)
    assert "tmp" in implied  # layer 2 writes tmp/build/... over layer 0's tmp/ (mode 1777)
    assert expected["tmp"][2] == 0o1777
    for path in implied:
        kind, size, _, link, digest = expected[path]
        expected[path] = (kind, size, 0o755, link, digest)
    hardlinks = set(merged.loc[merged["type"] == "hardlink", "path"])
    for path in hardlinks:  # listed as links to their target; on disk, the target's inode
        seen_kind, size, mode, _, digest = seen[path]
        assert seen_kind == "file" and digest is not None
        seen.pop(path), expected.pop(path)
    assert seen == expected


def test_a_container_on_our_store(tmp_path, data_dir):
    """A container created on the written store, its overlay mounted for real: a deleted file
    becomes a whiteout in the upper directory, and its changes read as an image layer's."""
    if os.geteuid() != 0:
        pytest.skip("mounting overlayfs needs root")
    from imgexplore.host.container import container_changes, create_container
    from imgexplore.host.mount import docker_mount, mount, unmount

    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    store = write_docker_store([image], tmp_path / "root", seed=5)
    container = create_container(tmp_path / "root", store.layers["chain_id"].iloc[-1], seed=6)
    spec = docker_mount(tmp_path / "root", container.mount_id)
    assert "upperdir=" in spec.options and spec.lowerdirs[0].endswith(
        open(tmp_path / "root" / "overlay2" / container.init_id / "link").read()
    )
    target = mount(spec, str(tmp_path / "merged"))
    try:
        os.remove(os.path.join(target, "app", "README.md"))
        with open(os.path.join(target, "app", "config.json"), "a") as f:
            f.write("\n")
        with open(os.path.join(target, "app", "new.txt"), "w") as f:
            f.write("made in the container")
        assert os.path.exists(os.path.join(target, ".dockerenv"))  # the init layer is in the stack
    finally:
        unmount(target)
    upper = tmp_path / "root" / "overlay2" / container.mount_id / "diff"
    assert stat.S_ISCHR(os.lstat(upper / "app" / "README.md").st_mode)  # the kernel's whiteout
    changes = container_changes(image, upper, tmp_path / "root" / "overlay2" / container.init_id / "diff")
    found = {(row.path, row.change, row.detail) for row in changes.itertuples()}
    assert {
        ("app/README.md", "deleted", "whiteout"),
        ("app/config.json", "modified", "content"),
        ("app/new.txt", "added", ""),
    } <= found


# -- docker-root: reading the store back -------------------------------------------------------


def mounted_tree(target: str) -> dict:
    """What a mount shows: path -> (kind, size, mode, link target, content sha256)."""
    seen = {}
    for parent, dirs, files in os.walk(target):
        for name in dirs + files:
            path = os.path.join(parent, name)
            info = os.lstat(path)
            kind = (
                "dir" if stat.S_ISDIR(info.st_mode) else "symlink" if stat.S_ISLNK(info.st_mode) else "file"
            )
            digest = None
            if kind == "file":
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            seen[os.path.relpath(path, target)] = (
                kind,
                info.st_size if kind == "file" else 0,
                stat.S_IMODE(info.st_mode),
                os.readlink(path) if kind == "symlink" else "",
                digest,
            )
    return seen


def expected_tree(merged) -> dict:
    """The same from a merged view (a hardlink is a file on disk)."""
    expected = {}
    for row in merged.itertuples():
        kind = "file" if row.type == "hardlink" else row.type
        expected[row.path] = (
            kind,
            row.size if kind == "file" else 0,
            row.mode,
            row.linkname if kind == "symlink" else "",
            row.sha256 if kind == "file" else None,
        )
    return expected


def same_image(local, remote) -> None:
    """What a source must agree on with the registry copy: diff_ids, chain ids, history, the
    merged file tree; and its rebuilt layer tars hash to the diff_ids."""
    assert local.diff_ids == remote.diff_ids
    assert [layer.chain_id for layer in local.layers] == [layer.chain_id for layer in remote.layers]
    assert [(s.created_by, s.empty_layer) for s in local.history] == [
        (s.created_by, s.empty_layer) for s in remote.history
    ]
    columns = ["path", "type", "size", "mode", "uid", "gid", "linkname", "sha256"]
    mine = local.files().merged()[columns].reset_index(drop=True)
    theirs = remote.files().merged()[columns].reset_index(drop=True)
    assert mine.equals(theirs)
    for layer in local.layers:
        assert layer.compute_diff_id()[0] == layer.diff_id  # the rebuilt tar, checked as it is read


@pytest.mark.parametrize("which", ["teaching", "derived", "busybox"])
def test_docker_root_reads_what_the_daemon_pulled(pulled, which, isolated_cache):
    theirs, ours, _ = pulled
    if which not in PULLED["refs"]:
        pytest.skip("Debian's busybox-static is not installed")
    ref = PULLED["refs"][which]
    remote = imgexplore.open_image(ref)
    for root in (theirs, ours):  # the daemon's store, and the one imgexplore wrote
        local = imgexplore.open_image(f"docker-root:[{root}]{ref}")
        assert local.source.kind == "docker-root" and local.config_digest == local.source.image_id
        same_image(local, remote)


def test_docker_root_reads_an_image_built_locally(pulled, isolated_cache, tmp_path):
    """An image that exists only in the daemon: `docker build` on the busybox image."""
    theirs, _, _ = pulled
    needs_busybox()
    import tarfile as tarmod

    daemon, base = PULLED["daemon"], PULLED["refs"]["busybox"]
    context = io.BytesIO()
    dockerfile = f"FROM {base}\nRUN echo built here > /built && rm /etc/motd\nENV STAGE=lesson\n".encode()
    with tarmod.open(fileobj=context, mode="w") as tar:
        info = tarmod.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    with daemon.api() as api:
        reply = api.post(
            "/build", params={"t": "local/built:v1", "networkmode": "none"}, content=context.getvalue(),
            headers={"Content-Type": "application/x-tar"}, timeout=120,
        )  # fmt: skip
    assert reply.status_code == 200 and '"error"' not in reply.text, reply.text[-500:]
    image = imgexplore.open_image(f"docker-root:[{theirs}]local/built:v1")
    assert len(image.layers) == 2 and image.history[-1].empty_layer
    merged = image.files().merged().set_index("path")
    assert "built" in merged.index and "etc/motd" not in merged.index
    for layer in image.layers:
        assert layer.compute_diff_id()[0] == layer.diff_id
    assert "ENV STAGE=lesson" in image.history[-1].created_by


def test_docker_root_errors_name_the_place_and_the_fix(pulled, tmp_path, isolated_cache):
    theirs, ours, store = pulled
    with pytest.raises(
        imgexplore.SourceError,
        match=r"no image 'nothing/here:v9' in .* \(names there: .*hoststore/teaching:v1",
    ):
        imgexplore.open_image(f"docker-root:[{ours}]nothing/here:v9")
    with pytest.raises(
        imgexplore.SourceError,
        match=r"is missing .*is this a Docker overlay2 data root\? \(a Docker daemon with the containerd "
        r"image store keeps its images in containerd: open docker-daemon:NAME, or containerd:moby/NAME\)",
    ):
        imgexplore.open_image(f"docker-root:[{tmp_path}]alpine")
    # a file changed after unpacking: the rebuilt layer cannot be trusted, and says why
    copy = tmp_path / "copy"
    written = write_docker_store(
        [imgexplore.open_image(ROOT / "data" / "teaching" / "oci")], copy, names=["lesson/teaching:v1"]
    )
    row = written.layers.iloc[0]
    (copy / "overlay2" / row["cache_id"] / "diff" / "etc" / "os-release").write_bytes(b"NAME=changed\n")
    image = imgexplore.open_image(f"docker-root:[{copy}]lesson/teaching:v1")
    with pytest.raises(imgexplore.TarSplitError, match="etc/os-release .* changed after it was unpacked"):
        image.layers[0].compute_diff_id()


# -- docker-daemon: asking the daemon ----------------------------------------------------------


@pytest.mark.parametrize("read_root", [True, False], ids=["data root", "export"])
def test_docker_daemon_opens_what_the_daemon_has(pulled, read_root, isolated_cache, monkeypatch):
    from imgexplore.filetree import passing
    from imgexplore.filetree.arrowtable import TreeCache, layer_arrow
    from imgexplore.opener import open_docker_daemon

    daemon, ref = PULLED["daemon"], PULLED["refs"]["teaching"]
    monkeypatch.setenv("DOCKER_HOST", f"unix://{daemon.socket}")
    monkeypatch.setattr(passing, "LIST_FROM_BYTES", 0)  # the teaching layers are small: list them all
    source = open_docker_daemon(ref, read_root=read_root)
    assert source.kind == ("docker-root" if read_root else "docker-archive")
    local = imgexplore.open_image(source)
    if not read_root:  # exported once, into the cache, by image id
        exported = list((isolated_cache / "docker-daemon").glob("*.tar"))
        assert [p.name for p in exported] == [local.config_digest[7:] + ".tar"]
        # and every layer listed as the export streamed past (before anything else lists
        # them): found by the digest the archive names it by, the table of the exported copy
        for layer in local.layers:
            assert TreeCache().diff_id_for(layer.digest) == layer.diff_id
            assert layer_arrow(layer).equals(layer_arrow(layer, cache=False))
    same_image(local, imgexplore.open_image(ref))
    # through the command line, as users name it
    from imgexplore.cli import main

    assert main(["history", f"docker-daemon:{ref}"]) == 0


def test_docker_daemon_errors_say_what_to_do(pulled, monkeypatch, tmp_path, capsys):
    from imgexplore.cli import main

    daemon = PULLED["daemon"]
    monkeypatch.setenv("DOCKER_HOST", f"unix://{daemon.socket}")
    assert main(["inspect", "docker-daemon:no/such:image"]) == 1
    assert "the daemon has no such image (docker pull or docker build it first)" in capsys.readouterr().err
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    assert main(["inspect", "docker-daemon:alpine"]) == 1
    err = capsys.readouterr().err
    assert (
        f"cannot reach unix://{tmp_path}/nothing.sock (no daemon answers there): "
        "start dockerd, or point DOCKER_HOST at a running daemon" in err
    )
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("read_root", [True, False], ids=["data root", "export"])
def test_docker_daemon_over_tcp_with_tls(pulled, read_root, isolated_cache, monkeypatch):
    """DOCKER_HOST=tcp://… with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as the docker CLI reads
    them: the daemon (listening with --tlsverify on loopback) checked against ca.pem, our
    cert.pem and key.pem presented; the image is the registry's."""
    from imgexplore.opener import open_docker_daemon

    daemon, ref = PULLED["daemon"], PULLED["refs"]["teaching"]
    monkeypatch.setenv("DOCKER_HOST", daemon.tcp)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", daemon.cert_path)
    source = open_docker_daemon(ref, read_root=read_root)
    assert source.kind == ("docker-root" if read_root else "docker-archive")
    same_image(imgexplore.open_image(source), imgexplore.open_image(ref))
    from imgexplore.engines import find_engines

    (row,) = [row for row in find_engines() if row["engine"] == "docker daemon"]
    assert row["where"] == daemon.tcp and row["status"] == "running" and daemon.root in row["details"]


@pytest.fixture(scope="module")
def plain_dockerd(pulled, registry, tmp_path_factory):
    """A second dockerd, listening on tcp://127.0.0.1:PORT in plain HTTP (dockerd's TLS
    settings cover every tcp listener, so the module's TLS daemon cannot also do this), with
    the teaching image pulled."""
    daemon = start_dockerd(str(tmp_path_factory.mktemp("plain-dockerd")), plain_tcp=True)
    try:
        daemon.pull(PULLED["refs"]["teaching"])
        yield daemon
    finally:
        daemon.stop()


@pytest.mark.parametrize("read_root", [True, False], ids=["data root", "export"])
def test_docker_daemon_over_plain_tcp(plain_dockerd, read_root, isolated_cache, monkeypatch):
    """DOCKER_HOST=tcp://127.0.0.1:PORT with no DOCKER_TLS_VERIFY: plain HTTP, as the docker
    CLI speaks it; the image is the registry's."""
    from imgexplore.engines import find_engines
    from imgexplore.opener import open_docker_daemon

    ref = PULLED["refs"]["teaching"]
    monkeypatch.setenv("DOCKER_HOST", plain_dockerd.tcp)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    source = open_docker_daemon(ref, read_root=read_root)
    assert source.kind == ("docker-root" if read_root else "docker-archive")
    if read_root:
        assert source.root == plain_dockerd.root
    same_image(imgexplore.open_image(source), imgexplore.open_image(ref))
    (row,) = [row for row in find_engines() if row["engine"] == "docker daemon"]
    assert row["where"] == plain_dockerd.tcp and row["status"] == "running"
    assert plain_dockerd.root in row["details"]


def test_tls_asked_of_a_plain_tcp_daemon_says_to_unset_it(plain_dockerd, monkeypatch, tmp_path, capsys):
    """TLS asked for (DOCKER_TLS_VERIFY, or a docker context holding TLS files) of a listener
    that takes plain HTTP: OpenSSL reads the plain answer as a wrong version number; the
    error says what is wrong and what to change."""
    from imgexplore.cli import main

    def one_line_error() -> str:
        assert main(["inspect", "docker-daemon:hoststore/teaching:v1"]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        return err

    monkeypatch.setenv("DOCKER_HOST", plain_dockerd.tcp)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", PULLED["daemon"].cert_path)  # real certificates, unused here
    assert (
        f"cannot reach {plain_dockerd.tcp} (it answered the TLS hello in plain HTTP): "
        "unset DOCKER_TLS_VERIFY: this daemon's tcp listener takes plain HTTP" in one_line_error()
    )
    config = tmp_path / "docker-config"
    docker_context(config, "wrong", plain_dockerd.tcp, tls_from=PULLED["daemon"].cert_path)
    for name in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.setenv("DOCKER_CONTEXT", "wrong")
    assert "make docker context wrong use no TLS files, as the daemon takes none" in one_line_error()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    daemon = start_sshd(str(tmp_path_factory.mktemp("sshd")))
    yield daemon
    daemon.stop()


@pytest.mark.parametrize("read_root", [True, False], ids=["data root", "export"])
def test_docker_daemon_over_ssh(pulled, sshd, read_root, isolated_cache, monkeypatch):
    """DOCKER_HOST=ssh://root@127.0.0.1:PORT/SOCKET, reached as the docker CLI reaches it:
    ssh (a real sshd on loopback, a key made for the test) runs ``docker
    --host=unix://SOCKET system dial-stdio`` on the host, which carries the Engine API; the
    image is the registry's, through the data root (the "host" is this machine) and through
    the export."""
    from imgexplore.engines import find_engines
    from imgexplore.opener import open_docker_daemon

    daemon, ref = PULLED["daemon"], PULLED["refs"]["teaching"]
    monkeypatch.setenv("PATH", f"{sshd.client_bin}:{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_HOST", sshd.url(daemon.socket))
    source = open_docker_daemon(ref, read_root=read_root)
    assert source.kind == ("docker-root" if read_root else "docker-archive")
    same_image(imgexplore.open_image(source), imgexplore.open_image(ref))
    (row,) = [row for row in find_engines() if row["engine"] == "docker daemon"]
    assert row["where"] == sshd.url(daemon.socket) and row["status"] == "running"
    assert daemon.root in row["details"]
    if read_root:  # the same daemon through a docker context, as `docker context create` keeps it
        monkeypatch.delenv("DOCKER_HOST")
        monkeypatch.setenv("DOCKER_CONTEXT", "over-ssh")
        docker_context(isolated_cache.parent / "docker-config", "over-ssh", sshd.url(daemon.socket))
        same_image(imgexplore.open_image(open_docker_daemon(ref)), imgexplore.open_image(ref))


def test_docker_daemon_over_ssh_errors_say_what_ssh_said(pulled, sshd, monkeypatch, tmp_path, capsys):
    from registry_server import free_port

    from imgexplore.cli import main

    daemon = PULLED["daemon"]
    monkeypatch.setenv("PATH", f"{sshd.client_bin}:{os.environ['PATH']}")

    def one_line_error(host: str) -> str:
        monkeypatch.setenv("DOCKER_HOST", host)
        assert main(["inspect", "docker-daemon:hoststore/teaching:v1"]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        return err

    # no daemon behind the socket the address names: the host's docker command says so
    err = one_line_error(sshd.url("/nonexistent/docker.sock"))
    assert "/nonexistent/docker.sock: connect: no such file or directory" in err, err
    assert err.endswith("start dockerd on the host, or name its socket: ssh://HOST/path/docker.sock")
    # nothing listens on the port
    err = one_line_error(f"ssh://root@127.0.0.1:{free_port()}{daemon.socket}")
    assert "Connection refused" in err and err.endswith("check the port, and that sshd runs on the host")
    # a password in the address is refused without being shown
    err = one_line_error(f"ssh://root:hunter2@127.0.0.1:{sshd.port}{daemon.socket}")
    assert "ssh://root:***@127.0.0.1" in err and "hunter2" not in err and "use a key" in err
    # a key the host does not accept, then a host whose key ssh does not know: each its own ssh
    # (this test's stand-in for the user's ~/.ssh), first on PATH
    for trouble in ("other key", "unknown host"):
        folder = tmp_path / trouble.replace(" ", "-")
        (folder / "bin").mkdir(parents=True)
        config = (pathlib.Path(sshd.root) / "ssh_config").read_text()
        if trouble == "other key":
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "key")], check=True
            )
            config = config.replace(str(pathlib.Path(sshd.root) / "client_key"), str(folder / "key"))
        else:
            (folder / "known_hosts").write_text("")
            config = config.replace(str(pathlib.Path(sshd.root) / "known_hosts"), str(folder / "known_hosts"))
        (folder / "ssh_config").write_text(config)
        shim = folder / "bin" / "ssh"
        shim.write_text(
            f'#!/bin/sh\nexec {shutil.which("ssh", path="/usr/bin")} -F {folder / "ssh_config"} "$@"\n'
        )
        shim.chmod(0o755)
        monkeypatch.setenv("PATH", f"{folder / 'bin'}:/usr/local/bin:/usr/bin:/bin")
        err = one_line_error(sshd.url(daemon.socket))
        if trouble == "other key":
            assert "Permission denied (publickey)" in err and err.endswith("an ssh-agent, or ~/.ssh/config)")
        else:
            assert "Host key verification failed" in err
            assert err.endswith("connect once with ssh to check the host's key and accept it")


def test_docker_daemon_over_tcp_errors_name_the_tls_fix(pulled, monkeypatch, tmp_path, capsys):
    from netfixtures import make_cert

    from imgexplore.cli import main

    daemon = PULLED["daemon"]
    monkeypatch.setenv("DOCKER_HOST", daemon.tcp)

    def one_line_error() -> str:
        assert main(["inspect", "docker-daemon:hoststore/teaching:v1"]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        return err

    # plain HTTP to a TLS listener: Go's server answers 400, said as what to set
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    assert f"{daemon.tcp} speaks TLS: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH" in one_line_error()
    # TLS asked for, but the folder holds no certificates
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path))
    err = one_line_error()
    assert (
        f"{tmp_path}/ca.pem cannot be used (No such file or directory)" in err and "DOCKER_CERT_PATH" in err
    )
    # a CA that did not sign the daemon's certificate
    other = tmp_path / "other"
    other.mkdir()
    (other / "ca.pem").write_bytes(make_cert("another CA", ca=True).cert_pem)
    monkeypatch.setenv("DOCKER_CERT_PATH", str(other))
    assert "its TLS certificate is not one DOCKER_CERT_PATH/ca.pem vouches for" in one_line_error()
    # the right CA, but no client certificate: dockerd --tlsverify refuses the handshake
    (other / "ca.pem").write_bytes(pathlib.Path(daemon.cert_path, "ca.pem").read_bytes())
    assert "the TLS handshake failed" in one_line_error()
    # a damaged key
    (other / "cert.pem").write_bytes(pathlib.Path(daemon.cert_path, "cert.pem").read_bytes())
    (other / "key.pem").write_bytes(b"-----BEGIN RSA PRIVATE KEY-----\nnot a key\n")
    assert "cert.pem and" in one_line_error()


def docker_context(
    config: pathlib.Path, name: str, host: str, tls_from: str | None = None, *, skip_verify: bool = False
) -> None:
    """A docker context as ``docker context create NAME --docker host=HOST[,ca=…,cert=…,key=…]``
    writes it under DOCKER_CONFIG: meta.json in a folder named by the sha256 of the name, the
    TLS files beside it."""
    folder = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / folder
    meta.mkdir(parents=True)
    endpoint = {"Host": host, "SkipTLSVerify": skip_verify}
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}})
    )
    if tls_from:
        shutil.copytree(tls_from, config / "contexts" / "tls" / folder / "docker")


def test_docker_daemon_found_through_a_docker_context(pulled, isolated_cache, monkeypatch, tmp_path, capsys):
    """With no DOCKER_HOST, the daemon is the one the docker CLI's current context names (as
    rootless Docker and Docker Desktop set up): config.json's currentContext, or DOCKER_CONTEXT;
    a tcp:// context speaks TLS with the files the context keeps. DOCKER_HOST still wins."""
    from imgexplore.cli import main
    from imgexplore.engines import find_engines
    from imgexplore.opener import open_docker_daemon
    from imgexplore.sources.docker_endpoint import DEFAULT_HOST, docker_endpoint

    daemon, ref = PULLED["daemon"], PULLED["refs"]["teaching"]
    config = tmp_path / "docker-config"
    docker_context(config, "teaching", f"unix://{daemon.socket}")
    docker_context(config, "secure", daemon.tcp, tls_from=daemon.cert_path)
    (config / "config.json").write_text(json.dumps({"auths": {}, "currentContext": "teaching"}))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    remote = imgexplore.open_image(ref)
    same_image(imgexplore.open_image(open_docker_daemon(ref, read_root=False)), remote)
    (row,) = [row for row in find_engines() if row["engine"] == "docker daemon"]
    assert row["where"] == f"unix://{daemon.socket} (docker context teaching)" and row["status"] == "running"
    monkeypatch.setenv("DOCKER_CONTEXT", "secure")  # over currentContext, as the CLI takes it
    endpoint = docker_endpoint()
    assert (endpoint.host, endpoint.tls, endpoint.context) == (daemon.tcp, True, "secure")
    same_image(imgexplore.open_image(open_docker_daemon(ref, read_root=True)), remote)
    # --skip-tls-verify: no ca.pem kept, the daemon's certificate not checked, ours presented
    insecure = tmp_path / "insecure-certs"
    insecure.mkdir()
    for name in ("cert.pem", "key.pem"):
        shutil.copy(pathlib.Path(daemon.cert_path, name), insecure / name)
    docker_context(config, "insecure", daemon.tcp, tls_from=str(insecure), skip_verify=True)
    monkeypatch.setenv("DOCKER_CONTEXT", "insecure")
    assert (docker_endpoint().tls, docker_endpoint().verify) == (True, False)
    same_image(imgexplore.open_image(open_docker_daemon(ref, read_root=False)), remote)
    monkeypatch.setenv("DOCKER_CONTEXT", "default")
    assert docker_endpoint().host == DEFAULT_HOST
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/elsewhere.sock")  # wins over any context
    monkeypatch.setenv("DOCKER_CONTEXT", "secure")
    assert docker_endpoint().host == f"unix://{tmp_path}/elsewhere.sock"
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setenv("DOCKER_CONTEXT", "gone")
    assert main(["inspect", f"docker-daemon:{ref}"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        f"imgexplore: error: docker context 'gone' (named by DOCKER_CONTEXT) is not in {config}/contexts: "
        "`docker context ls` lists the contexts; DOCKER_HOST names a daemon directly"
    ]


def test_a_data_root_without_the_image_is_not_read(pulled, isolated_cache, monkeypatch, tmp_path):
    """A daemon reached over tcp:// names its data root on its own machine; a folder of that
    name here may be another engine's. Only a root that holds the image is read; otherwise the
    daemon exports it. (The daemon is the real one; its /info answer is changed to name an
    empty overlay2 root, as a remote daemon's would.)"""
    from imgexplore.sources import docker_daemon
    from imgexplore.sources.engine_api import EngineAPI

    daemon, ref = PULLED["daemon"], PULLED["refs"]["teaching"]
    monkeypatch.setenv("DOCKER_HOST", f"unix://{daemon.socket}")
    elsewhere = tmp_path / "var-lib-docker"
    (elsewhere / "image" / "overlay2" / "imagedb" / "content" / "sha256").mkdir(parents=True)
    real_get = EngineAPI.get

    def remote_info(api, path, what):
        answer = real_get(api, path, what)
        return {**answer, "DockerRootDir": str(elsewhere)} if path == "/info" else answer

    monkeypatch.setattr(EngineAPI, "get", remote_info)
    exported = docker_daemon.daemon_image(ref)
    assert isinstance(exported, pathlib.Path) and exported.parent == isolated_cache / "docker-daemon"
    monkeypatch.setattr(EngineAPI, "get", real_get)
    assert docker_daemon.daemon_image(ref).kind == "docker-root"


def test_engines_lists_what_it_can_reach(pulled, tmp_path, capsys):
    from imgexplore.cli import main
    from imgexplore.engines import find_engines

    theirs, _, _ = pulled
    daemon = PULLED["daemon"]
    rows = {
        row["engine"]: row
        for row in find_engines(docker_host=f"unix://{daemon.socket}", storage_root=str(tmp_path / "none"))
    }
    assert rows["docker daemon"]["status"] == "running"
    assert (
        "storage driver overlay2" in rows["docker daemon"]["details"]
        and theirs in rows["docker daemon"]["details"]
    )
    assert rows["docker daemon"]["images"] >= len(PULLED["refs"])  # and what other tests built
    assert rows["docker data root"]["where"] == theirs and rows["docker data root"]["status"] == "readable"
    assert rows["containers-storage"]["status"] == "absent"
    gone = tmp_path / "gone.sock"
    assert main(["engines", "--docker-host", f"unix://{gone}", "--docker-root", str(tmp_path / "x"),
                 "--containerd-root", str(tmp_path / "y"), "--storage-root", str(tmp_path / "z")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "not reachable" in out and "no engine found here" in out


def test_the_tar_size_is_read_without_decoding_the_records(pulled):
    """docker-root describes each layer by the size of its tar, read from the tar-split file
    by the records' lengths; it must equal the decoded records' and the rebuilt tar's."""
    theirs, _, _ = pulled
    layerdb = os.path.join(theirs, "image", "overlay2", "layerdb", "sha256")
    for chain in os.listdir(layerdb):
        path = os.path.join(layerdb, chain, "tar-split.json.gz")
        size = tarsplit.file_tar_size(path)
        assert size == tarsplit.tar_size(tarsplit.read(path))
        rebuilt = io.BytesIO()
        assert (
            tarsplit.assemble(tarsplit.read(path), os.path.join(cache_dir(theirs, chain), "diff"), rebuilt)
            == size
        )


@contextlib.contextmanager
def reachable_by_others(path: str):
    """Let other users walk down to ``path`` (o+x on each folder above it that lacks it), as
    /var/lib and /var/run are on a real machine; the pytest folders are root's alone."""
    changed = []
    parent = os.path.dirname(os.path.abspath(path))
    while parent not in ("/", ""):
        mode = stat.S_IMODE(os.stat(parent).st_mode)
        if not mode & stat.S_IXOTH:
            os.chmod(parent, mode | stat.S_IXOTH)
            changed.append((parent, mode))
        parent = os.path.dirname(parent)
    try:
        yield
    finally:
        for folder, mode in changed:
            os.chmod(folder, mode)


def test_a_user_without_rights_is_told_so_in_one_line(pulled):
    """As ``nobody``: the daemon's socket (root:docker, 0660, as dockerd makes it) and its data
    root (0710, root's) refuse; each source says so in one line with the fix, and nothing is
    written, not even into the user's own cache."""
    theirs, _, _ = pulled
    daemon, ref = PULLED["daemon"], PULLED["refs"]["teaching"]
    assert stat.S_IMODE(os.stat(daemon.socket).st_mode) == 0o660
    with reachable_by_others(daemon.socket), reachable_by_others(theirs):
        asked = run_unprivileged(
            ["inspect", f"docker-daemon:{ref}"], {"DOCKER_HOST": f"unix://{daemon.socket}"}
        )
        read = run_unprivileged(["inspect", f"docker-root:[{theirs}]{ref}"])
        listed = run_unprivileged(
            [
                "engines",
                "--docker-host",
                f"unix://{daemon.socket}",
                "--docker-root",
                theirs,
                "--format",
                "json",
            ]
        )
    assert asked.returncode == 1 and asked.stdout == ""
    assert asked.stderr.strip().splitlines() == [
        f"imgexplore: error: docker-daemon:{ref}: cannot reach unix://{daemon.socket} (permission denied): "
        "run as root or as a member of the docker group"
    ]
    assert read.returncode == 1 and read.stdout == ""
    assert read.stderr.strip().splitlines() == [
        f"imgexplore: error: docker-root:[{theirs}]{ref}: permission denied reading "
        f"{theirs}/image/overlay2/repositories.json: Docker's data root is root's; "
        "run as root, or use docker-daemon: to ask the daemon"
    ]
    assert asked.written == read.written == []
    assert listed.returncode == 0, listed.stderr
    rows = {row["engine"]: row for row in json.loads(listed.stdout)}
    assert rows["docker daemon"]["status"] == "not reachable"
    assert rows["docker daemon"]["details"].endswith(
        "(permission denied): run as root or as a member of the docker group"
    )
    assert rows["docker data root"]["status"] == "not readable"
    # where even the folder above is closed (the pytest folders as they are), it is not "absent"
    closed = run_unprivileged(["engines", "--docker-root", theirs, "--format", "json"])
    row = {row["engine"]: row for row in json.loads(closed.stdout)}["docker data root"]
    assert (row["status"], row["details"]) == ("not readable", "a folder above it is closed to this user")


def serve_on_unix_socket(path: str, handler):
    """A real HTTP server (the standard library's) on a unix socket, serving on a thread: a
    stand-in for a daemon that cannot run here."""
    import socketserver
    import threading

    class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

        def get_request(self):  # BaseHTTPRequestHandler wants an address pair
            request, _ = super().get_request()
            return request, ("docker", 0)

    server = UnixHTTPServer(path, handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("announced", [True, False], ids=["length announced", "no length"])
def test_an_export_cut_short_ends_in_one_line_and_keeps_nothing(
    announced, tmp_path, isolated_cache, monkeypatch, capsys
):
    """The daemon stops in the middle of ``docker save`` and closes: one error line, no copy
    in the cache, no partial file. Either it announced more bytes than it sent, or (as
    dockerd answers the HTTP/1.0 request an export is made with) it announced no length and
    stopped at a member's header, every member before it whole. The daemon is a stand-in (a
    real HTTP server on a unix socket) serving the start of a real ``docker save`` archive,
    as a daemon that dies mid-export would."""
    import http.server
    import tarfile

    from imgexplore.cli import main

    archive = (ROOT / "data" / "multiarch" / "docker-save.tar").read_bytes()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = tar.getmembers()
    sent = archive[: len(archive) // 2] if announced else archive[: members[len(members) // 2].offset]

    class Dying(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            answers = {
                "/v1.41/images/cut%3Ashort/json": {
                    "Id": "sha256:" + "ab" * 32,
                    "GraphDriver": {"Name": "overlay2"},
                },
                "/v1.41/info": {"DockerRootDir": str(tmp_path / "elsewhere"), "Driver": "overlay2"},
            }
            self.send_response(200)
            if self.path == "/_ping":
                self.send_header("Api-Version", "1.41")
                self.end_headers()
            elif self.path in answers:
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(answers[self.path]).encode())
            else:  # the export: the start of the archive (announced as the whole of it)
                self.send_header("Content-Type", "application/x-tar")
                if announced:
                    self.send_header("Content-Length", str(len(archive)))
                self.end_headers()
                self.wfile.write(sent)
                self.wfile.flush()
                self.close_connection = True

        def log_message(self, *args):
            pass

    socket_path = str(tmp_path / "docker.sock")
    server = serve_on_unix_socket(socket_path, Dying)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    try:
        assert main(["inspect", "docker-daemon:cut:short"]) == 1
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"docker-daemon:cut:short: unix://{socket_path} stopped answering during the export" in err
    assert not list(isolated_cache.rglob("*.tar")) and not list(isolated_cache.rglob("*.partial"))


def test_a_containerd_store_daemons_export_is_read_as_the_oci_layout_it_is(
    tmp_path, isolated_cache, monkeypatch
):
    """Docker 25+ with the containerd image store (29's default) has no overlay2 data root:
    ``docker-daemon:`` asks for the export, which is an OCI layout with a ``manifest.json``
    beside it, and opens the platform this machine would run. Debian's dockerd is 20.10, so
    the daemon here is a stand-in (the only mocked part): a real HTTP server on a unix socket
    answering the Engine API calls the source makes, with the answers' shapes of a Docker 29
    daemon (which refuses API versions older than 1.44) and, as the export, a real Docker 25+ ``docker save`` archive."""
    import http.server

    from imgexplore.cli import main

    archive = ROOT / "data" / "multiarch" / "docker-save.tar"
    index_digest = "sha256:eb87435180ebf7f3fadcc1f88c1f266832a27dc0016b4489d1642fd2d524103e"
    asked: list[str] = []

    class Docker29(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            asked.append(self.path)
            version, _, path = self.path.partition("/")[2].partition("/")
            if self.path == "/_ping":  # served unversioned, the versions in its headers, as Docker's
                self.send_response(200)
                self.send_header("Api-Version", "1.52")
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.end_headers()
                self.wfile.write(b"OK")
                return
            elif version in ("v1.41", "v1.43"):  # Docker 29's answer to an older client
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                message = f"client version {version[1:]} is too old. Minimum supported API version is 1.44"
                self.wfile.write(json.dumps({"message": message}).encode())
                return
            elif self.path == "/v1.52/images/multiarch%3Alatest/json":
                body = json.dumps({"Id": index_digest, "GraphDriver": {"Name": "overlayfs", "Data": None}})
            elif self.path == "/v1.52/info":
                body = json.dumps({"ServerVersion": "29.0.0", "Driver": "overlayfs",
                                   "DockerRootDir": str(tmp_path / "docker"), "Images": 1})  # fmt: skip
            elif self.path == "/v1.52/images/multiarch%3Alatest/get":
                payload = archive.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-tar")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    socket_path = str(tmp_path / "docker.sock")
    server = serve_on_unix_socket(socket_path, Docker29)
    (tmp_path / "docker" / "image").mkdir(parents=True)  # a root with no overlay2 store
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    try:
        from imgexplore.sources.docker_daemon import daemon_image

        exported = daemon_image("multiarch:latest")
        image = imgexplore.open_image("docker-daemon:multiarch:latest")
        again = imgexplore.open_image("docker-daemon:multiarch:latest")  # from the cache
        assert main(["history", "docker-daemon:multiarch:latest"]) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert exported == isolated_cache / "docker-daemon" / (index_digest[7:] + ".tar")
    assert exported.read_bytes() == archive.read_bytes()
    assert asked.count("/v1.52/images/multiarch%3Alatest/get") == 1  # exported once, kept by id
    assert not [path for path in asked if path.startswith("/v1.41")]  # the version was agreed first
    direct = imgexplore.open_image(str(archive))  # the same archive opened as a file
    assert image.source.kind == direct.source.kind == "oci-layout"  # the export is an OCI layout
    assert image.digest == direct.digest == again.digest and image.platform == direct.platform
    assert [layer.diff_id for layer in image.layers] == image.config["rootfs"]["diff_ids"]
    for layer in image.layers:
        assert layer.compute_diff_id()[0] == layer.diff_id
