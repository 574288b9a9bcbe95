"""`imgexplore host --engine containerd`: containerd's content store and overlayfs snapshots
computed without a daemon, compared with what a real containerd (Debian's, started here with
its own root and socket) writes when `ctr images pull` fetches the same images: every blob
byte for byte, every label, the snapshot keys and parents, and every snapshot's files."""

from __future__ import annotations

import os

import pytest
from engines import start_containerd
from hostimages import derived_image
from test_host_docker import expected_tree, mounted_tree, snapshot

import imgexplore
from imgexplore.host.containerd import CONTENT, containerd_mount, snapshot_dir, write_containerd_store
from imgexplore.transfer import push

ROOT = __import__("conftest").ROOT
PULLED_REFS: list[str] = []  # the module fixture's references


@pytest.fixture(scope="module")
def pulled(registry, tmp_path_factory):
    refs = [
        f"{registry.host}/ctdstore/teaching:v1",
        f"{registry.host}/ctdstore/derived:v1",  # on teaching's first two layers
        f"{registry.host}/ctdstore/multi:v1",  # an index: ctr fetches this machine's platform
    ]
    push(str(ROOT / "data" / "teaching" / "oci"), refs[0])
    push(derived_image(tmp_path_factory.mktemp("derived")), refs[1])
    push(str(ROOT / "data" / "multiarch" / "oci"), refs[2])
    PULLED_REFS[:] = refs
    daemon = start_containerd(str(tmp_path_factory.mktemp("containerd")))
    try:
        for ref in refs:
            daemon.ctr("images", "pull", "--plain-http", ref)
        images = [imgexplore.open_image(ref) for ref in refs]  # the default platform, as ctr's
        ours = tmp_path_factory.mktemp("ours") / "root"
        store = write_containerd_store(images, ours)
        yield daemon, str(ours), store
    finally:
        daemon.stop()


def blobs(root: str) -> dict[str, bytes]:
    directory = os.path.join(root, CONTENT, "blobs", "sha256")
    return {name: open(os.path.join(directory, name), "rb").read() for name in os.listdir(directory)}


def test_the_content_store_is_containerds(pulled):
    daemon, ours, store = pulled
    theirs, mine = blobs(daemon.root), blobs(ours)
    assert sorted(theirs) == sorted(mine)
    assert all(theirs[name] == mine[name] for name in theirs)
    # teaching: 6 layers, config, manifest; derived: 3 layers (its base recompressed: other
    # blobs), config, manifest; multi: index, one platform's manifest, config, 2 layers
    assert len(mine) == (6 + 2) + (3 + 2) + (1 + 1 + 1 + 2)
    assert set(store.content["kind"]) == {"index", "manifest", "config", "layer"}


def test_every_label_is_containerds(pulled):
    daemon, _, store = pulled
    theirs = daemon.labels()
    mine = {row.digest: row.labels for row in store.content.itertuples()}
    assert theirs == mine
    keys = {key for labels in mine.values() for key in labels}
    for prefix in (
        "containerd.io/gc.ref.content.m.",  # index -> manifests
        "containerd.io/gc.ref.content.l.",  # manifest -> layers
        "containerd.io/gc.ref.content.config",
        "containerd.io/gc.ref.snapshot.overlayfs",  # config -> top snapshot
        "containerd.io/distribution.source.127.0.0.1",  # no port in a label key
        "containerd.io/uncompressed",
    ):
        assert any(key.startswith(prefix) for key in keys), prefix


def test_snapshots_are_containerds(pulled):
    daemon, ours, store = pulled
    theirs = daemon.snapshots()
    mine = {
        row.key: (row.parent if isinstance(row.parent, str) else "", "Committed")
        for row in store.snapshots.itertuples()
    }
    assert theirs == mine
    for row in store.snapshots.itertuples():  # numbered in the order both made them
        assert snapshot(snapshot_dir(daemon.root, row.id)) == snapshot(snapshot_dir(ours, row.id)), row.key


def test_an_implied_directory_takes_the_lower_ones_mode(pulled):
    """Layer 2 of teaching writes tmp/build/… with no tmp/ entry: containerd copies the lower
    tmp/ (1777), where Docker makes a new 0755 one."""
    _, ours, store = pulled
    row = store.snapshots.iloc[2]
    assert oct(os.stat(os.path.join(snapshot_dir(ours, row.id), "tmp")).st_mode & 0o7777) == "0o1777"


def test_the_mount_uses_absolute_snapshot_paths(pulled):
    _, ours, store = pulled
    top = store.snapshots.iloc[5]
    options = containerd_mount(ours, top.key)
    lowers = options.split("lowerdir=")[1].split(":")
    assert lowers == [snapshot_dir(ours, n) for n in (6, 5, 4, 3, 2, 1)]


def test_the_command(tmp_path, data_dir):
    from imgexplore.cli import main

    assert (
        main(
            [
                "host",
                str(data_dir / "teaching" / "oci"),
                "--engine",
                "containerd",
                "--root",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    assert len(os.listdir(tmp_path / "r" / CONTENT / "blobs" / "sha256")) == 8  # 6 layers, config, manifest


# -- containerd: reading the content store back ------------------------------------------------


@pytest.mark.parametrize("position", [0, 1, 2], ids=["teaching", "derived", "index"])
def test_containerd_source_reads_what_ctr_pulled(pulled, position, isolated_cache, monkeypatch):
    from test_host_docker import same_image

    daemon, ours, _ = pulled
    refs = PULLED_REFS
    remote = imgexplore.open_image(refs[position])
    # containerd's own store, names from its database; then the store imgexplore wrote, names
    # from its JSON; no socket for ctr, so neither can have asked the daemon
    monkeypatch.setenv("CONTAINERD_ADDRESS", "/nonexistent/containerd.sock")
    for root, said in ((daemon.root, "containerd's metadata database"), (ours, "imgexplore-metadata.json")):
        monkeypatch.setenv("IMGEXPLORE_CONTAINERD_ROOT", root)
        local = imgexplore.open_image(f"containerd:{refs[position]}")
        assert local.source.kind == "containerd" and any(said in note for note in local.source.notes)
        assert local.digest == remote.digest
        same_image(local, remote)


def test_containerd_source_names_its_namespace_and_digests(pulled, isolated_cache, monkeypatch):
    daemon, ours, _ = pulled
    monkeypatch.setenv("IMGEXPLORE_CONTAINERD_ROOT", ours)
    monkeypatch.setenv("CONTAINERD_ADDRESS", daemon.socket)
    by_namespace = imgexplore.open_image(f"containerd:default/{PULLED_REFS[0]}")
    by_digest = imgexplore.open_image(f"containerd:{by_namespace.digest}")
    assert by_digest.config_digest == by_namespace.config_digest
    with pytest.raises(
        imgexplore.SourceError, match=r"no image 'no/such:thing' in namespace default .*containerd:sha256:"
    ):
        imgexplore.open_image("containerd:no/such:thing")
    monkeypatch.setenv("IMGEXPLORE_CONTAINERD_ROOT", str(ours) + "-missing")
    with pytest.raises(imgexplore.SourceError, match="--containerd-root or IMGEXPLORE_CONTAINERD_ROOT"):
        imgexplore.open_image(f"containerd:{PULLED_REFS[0]}")


def test_the_written_snapshots_mount_as_the_merged_view(tmp_path, data_dir):
    """containerd's snapshots of the teaching image, mounted read-only by the kernel with the
    options containerd would use, show the merged view path by path. (Unlike Docker's store,
    no directory differs: containerd gives an implied directory its lower one's mode.)"""
    if os.geteuid() != 0:
        pytest.skip("mounting overlayfs needs root")
    import subprocess

    image = imgexplore.open_image(data_dir / "teaching" / "oci")
    store = write_containerd_store([image], tmp_path / "root")
    top = store.snapshots.iloc[-1]
    lowers = containerd_mount(tmp_path / "root", top.key).split("lowerdir=")[1]
    target = tmp_path / "mnt"
    target.mkdir()
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lowers},ro", str(target)], check=True
    )
    try:
        seen = mounted_tree(str(target))
    finally:
        subprocess.run(["umount", str(target)], check=True)
    merged = image.files().merged()
    expected = expected_tree(merged)
    for path in merged.loc[merged["type"] == "hardlink", "path"]:  # the target's inode on disk
        assert seen.pop(path)[0] == "file"
        expected.pop(path)
    assert seen == expected


def ctr_images(daemon, namespace: str) -> dict[str, dict]:
    """``ctr images ls`` of one namespace: name → digest and media type (the independent view)."""
    import subprocess

    done = subprocess.run(
        ["ctr", "--address", daemon.socket, "--namespace", namespace, "images", "ls"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = [line.split() for line in done.stdout.splitlines()[1:] if line.strip()]
    return {row[0]: {"digest": row[2], "media_type": row[1]} for row in rows}


def test_the_metadata_database_names_what_ctr_names(pulled, tmp_path, isolated_cache, monkeypatch):
    """containerd's bolt database read without the daemon: every namespace and name, with the
    digest and media type ``ctr images ls`` shows and the size of the manifest blob — also
    with enough names that the images bucket needs branch pages, and after names are removed
    (freed pages left behind)."""
    from imgexplore.sources.containerd import BOLT, bolt_images

    daemon, _, _ = pulled
    extra = [f"lesson/many{i:03d}:v1" for i in range(80)]
    for name in extra:
        daemon.ctr("images", "tag", PULLED_REFS[0], name)
    import subprocess
    import tarfile

    archive = tmp_path / "teaching.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(ROOT / "data" / "teaching" / "oci", arcname=".")
    subprocess.run(
        ["ctr", "--address", daemon.socket, "--namespace", "second", "images", "import",
         "--index-name", "other/space:v1", str(archive)], capture_output=True, check=True,
    )  # fmt: skip
    try:
        recorded = bolt_images(daemon.root)
        assert set(extra) <= set(recorded["default"]) and len(recorded["default"]) >= 83
        assert "other/space:v1" in recorded["second"]
        for namespace in ("default", "second"):
            seen = ctr_images(daemon, namespace)
            assert {
                n: {k: v[k] for k in ("digest", "media_type")} for n, v in recorded.get(namespace, {}).items()
            } == seen
        for name, entry in recorded["default"].items():
            blob = os.path.join(daemon.root, CONTENT, "blobs", *entry["digest"].split(":"))
            assert entry["size"] == os.path.getsize(blob), name
    finally:
        daemon.ctr("images", "rm", *extra)
    recorded = bolt_images(daemon.root)
    assert recorded["default"].keys() == ctr_images(daemon, "default").keys() == set(PULLED_REFS)
    assert os.path.getsize(os.path.join(daemon.root, BOLT)) > 8 * 4096  # many pages, some now free
    # a name in another namespace opens by NAMESPACE/NAME, with no daemon to ask
    monkeypatch.setenv("IMGEXPLORE_CONTAINERD_ROOT", daemon.root)
    monkeypatch.setenv("CONTAINERD_ADDRESS", "/nonexistent/containerd.sock")
    image = imgexplore.open_image("containerd:second/other/space:v1")
    assert image.name == "" or image.source.namespace == "second"
    assert image.config_digest == imgexplore.open_image(ROOT / "data" / "teaching" / "oci").config_digest


def test_a_damaged_metadata_database_says_so(pulled, tmp_path):
    """A copy of containerd's database cut short, with a root page outside the file, with both
    meta pages spoiled, with a page that is its own child, or damaged at random: one clear
    SourceError naming the file, never a crash or a hang."""
    from imgexplore.host.bolt import _META, _PAGE, Bolt, _fnv64a
    from imgexplore.sources.containerd import BOLT, bolt_images

    daemon, _, _ = pulled
    good = open(os.path.join(daemon.root, BOLT), "rb").read()
    page_size = Bolt(os.path.join(daemon.root, BOLT)).page_size
    cases = {
        "truncated": good[: 3 * page_size],
        "no meta": bytes(64) + good[64 : page_size + 16] + bytes(64) + good[page_size + 80 :],
    }
    # the newer meta page names a root page far past the end (its checksum recomputed)
    metas = [_META.unpack_from(good, offset + _PAGE.size) for offset in (0, page_size)]
    newer = 0 if metas[0][8] > metas[1][8] else page_size
    fields = list(_META.unpack_from(good, newer + _PAGE.size))
    fields[4] = 10**9
    body = _META.pack(*fields)[:-8]
    fields[9] = _fnv64a(body)
    spoiled = bytearray(good)
    spoiled[newer + _PAGE.size : newer + _PAGE.size + _META.size] = _META.pack(*fields)
    cases["root outside"] = bytes(spoiled)
    # the root page made a branch whose one child is itself: a loop
    import struct

    root_page = metas[0 if newer == 0 else 1][4]
    looped = bytearray(good)
    struct.pack_into("<QHHI", looped, root_page * page_size, root_page, 0x01, 1, 0)
    struct.pack_into("<IIQ", looped, root_page * page_size + 16, 16, 0, root_page)
    cases["loop"] = bytes(looped)
    for name, data in cases.items():
        root_dir = tmp_path / name
        (root_dir / os.path.dirname(BOLT)).mkdir(parents=True)
        (root_dir / BOLT).write_bytes(data)
        with pytest.raises(imgexplore.SourceError, match=r"meta\.db: not a bbolt file containerd could open"):
            bolt_images(str(root_dir))
    # and random damage anywhere in the file: read, or refused with the same error
    import random

    rng = random.Random(17)
    path = tmp_path / "random" / BOLT
    path.parent.mkdir(parents=True)
    refused = 0
    for _ in range(150):
        damaged = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path.write_bytes(bytes(damaged))
        try:
            bolt_images(str(tmp_path / "random"))
        except imgexplore.SourceError as exc:
            assert "not a bbolt file containerd could open" in str(exc)
            refused += 1
    assert refused < 150


def test_a_user_without_rights_is_told_so_in_one_line(pulled):
    """As ``nobody``, containerd's root (root's) refuses: one line naming the place and the
    fix, nothing written."""
    from engines import run_unprivileged
    from test_host_docker import reachable_by_others

    daemon, _, _ = pulled
    spec = f"containerd:{PULLED_REFS[0]}"
    with reachable_by_others(daemon.root):
        done = run_unprivileged(
            ["inspect", spec],
            {"IMGEXPLORE_CONTAINERD_ROOT": daemon.root, "CONTAINERD_ADDRESS": daemon.socket},
        )
    assert done.returncode == 1 and done.stdout == "" and done.written == [], done.stderr
    assert done.stderr.strip().splitlines() == [
        f"imgexplore: error: {spec}: permission denied reading {daemon.root}/{CONTENT}/blobs: "
        "containerd's root is root's; run as root"
    ]
