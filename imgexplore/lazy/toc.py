"""A lazy layer's table of contents: one row per TOC entry, and the layer's file table
computed from it alone.

eStargz (``stargz.index.json``) and zstd:chunked share the TOC's JSON shape: ``entries``, each
with ``name``, ``type`` (``dir``, ``reg``, ``symlink``, ``hardlink``, ``char``, ``block``,
``fifo``, and ``chunk`` for the further pieces of a big file), ``size``, ``mode``, ``uid``,
``gid``, ``userName``, ``groupName``, ``modtime``, ``linkName``, ``xattrs`` (base64 values),
``digest`` (of the whole file), ``offset`` (where the compressed piece holding the data starts
in the blob), ``chunkOffset``/``chunkSize``/``chunkDigest`` (the piece's place in the file
and the sha256 of its bytes), and for zstd:chunked ``endOffset``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import LimitExceededError, ManifestError
from ..filetree.layertable import table_from_listing
from ..filetree.tarlist import marker_columns
from ..limits import MAX_ENTRIES

TOC_NAME = "stargz.index.json"
LANDMARKS = (".prefetch.landmark", ".no.prefetch.landmark")
ENTRY_COLUMNS = [
    "path", "type", "size", "offset", "end_offset", "chunk_offset", "chunk_size", "chunk_digest", "digest",
    "mode", "uid", "gid", "linkname",
]  # fmt: skip
TOC_TYPES = {"reg": "file", "dir": "dir", "symlink": "symlink", "hardlink": "hardlink", "char": "char",
          "block": "block", "fifo": "fifo"}  # fmt: skip


@dataclass
class Toc:
    """What a lazy layer's TOC says, and what reading it cost."""

    format: str  # "estargz", "zstd:chunked" or "soci"
    layer_digest: str
    blob_size: int
    raw: bytes  # the TOC's JSON
    toc_offset: int  # where the TOC begins in the blob
    toc_length: int  # its compressed length
    entries: pd.DataFrame  # ENTRY_COLUMNS, in TOC order
    requests: list[tuple[int, int]] = field(default_factory=list)  # (start, length) of each read
    checks: dict[str, bool] = field(default_factory=dict)  # annotation -> agreed
    ztoc: Any = None  # SOCI only: the parsed zTOC and its checkpoints
    zinfo: Any = None

    @property
    def landmark(self) -> str | None:
        """``.prefetch.landmark`` (files before it are the prefetch list), the
        ``.no.prefetch.landmark`` (nothing to prefetch), or None."""
        names = set(self.entries["path"])
        return next((name for name in LANDMARKS if name in names), None)

    def prefetch(self) -> list[str]:
        """The files recorded to be read first: those before ``.prefetch.landmark``."""
        paths = self.entries["path"].tolist()
        if LANDMARKS[0] not in paths:
            return []
        files = self.entries.iloc[: paths.index(LANDMARKS[0])]
        return files.loc[files["type"] == "file", "path"].drop_duplicates().tolist()


def parse_entries(
    raw: bytes, what: str, *, max_entries: int = MAX_ENTRIES
) -> tuple[pd.DataFrame, list[dict]]:
    """The TOC's JSON as (the entries DataFrame, the entries as parsed)."""
    try:
        document = json.loads(raw)
        entries = document["entries"]
        if not isinstance(entries, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ManifestError(f"{what}: its TOC is not a JSON object with an entries list") from None
    if len(entries) > max_entries:
        raise LimitExceededError(
            f"{what}: its TOC lists {len(entries):,} entries, over the limit of {max_entries:,}"
        )
    rows = []
    current, current_size = None, 0
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name", ""), str):
            raise ManifestError(f"{what}: TOC entry {number} is not an object with a name")
        kind = entry.get("type")
        if kind == "chunk":
            if current is None:
                raise ManifestError(f"{what}: TOC entry {number} is a chunk with no file before it")
            name = entry.get("name") or current
        else:
            if kind not in TOC_TYPES:
                raise ManifestError(f"{what}: TOC entry {number} has an unknown type {kind!r}")
            name = entry["name"]
            current, current_size = name, entry.get("size", 0)
        numbers = {}
        for key in ("size", "offset", "endOffset", "chunkOffset", "chunkSize", "mode", "uid", "gid"):
            value = entry.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ManifestError(f"{what}: TOC entry {number} ({name}) has a bad {key}: {value!r}")
            numbers[key] = value
        rows.append(
            {
                "path": name.strip("/"),
                "type": "chunk" if kind == "chunk" else TOC_TYPES[kind],
                "size": numbers["size"],
                "offset": numbers["offset"],
                "end_offset": numbers["endOffset"],
                "chunk_offset": numbers["chunkOffset"],
                # a file's last (or only) piece may leave chunkSize out: it runs to the file's end
                "chunk_size": numbers["chunkSize"]
                or (max(current_size - numbers["chunkOffset"], 0) if kind in ("reg", "chunk") else 0),
                "chunk_digest": entry.get("chunkDigest"),
                "digest": entry.get("digest"),
                "mode": numbers["mode"],
                "uid": numbers["uid"],
                "gid": numbers["gid"],
                "linkname": entry.get("linkName", ""),
            }
        )
    return pd.DataFrame(rows, columns=ENTRY_COLUMNS), entries


def _mtime(text) -> int:
    """Whole seconds since the epoch of RFC 3339 text (an eStargz ``modtime``, a zTOC
    ``mod_time``), 0 when missing or unreadable."""
    if not text:
        return 0
    try:
        return int(_dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def toc_file_table(toc: Toc) -> pd.DataFrame:
    """The layer's file table (the columns of a tar listing) from its TOC alone. For eStargz
    the TOC's own tar entry, ``stargz.index.json``, is added as the tar holds it (mode 0,
    owner 0, time 0), so that the table equals the one listed from the whole layer."""
    if toc.format == "soci":
        return _ztoc_file_table(toc)
    _, entries = parse_entries(toc.raw, f"layer {toc.layer_digest}")
    paths, types, sizes, modes, uids, gids, unames, gnames, mtimes, links, hashes, xattrs = (
        [] for _ in range(12)
    )
    last_user: dict[int, str] = {}
    last_group: dict[int, str] = {}
    for entry in entries:
        if entry.get("type") == "chunk":
            continue
        kind = TOC_TYPES[entry["type"]]
        uid, gid = entry.get("uid", 0), entry.get("gid", 0)
        # eStargz writes a user or group name only when it changes for that id: carry it on
        user = last_user[uid] = entry.get("userName") or last_user.get(uid, "")
        group = last_group[gid] = entry.get("groupName") or last_group.get(gid, "")
        paths.append(entry["name"].strip("/"))
        types.append(kind)
        sizes.append(entry.get("size", 0) if kind == "file" else 0)
        modes.append(entry.get("mode", 0))
        uids.append(uid)
        gids.append(gid)
        unames.append(user)
        gnames.append(group)
        mtimes.append(_mtime(entry.get("modtime")))
        links.append(entry.get("linkName", "") if kind in ("symlink", "hardlink") else "")
        digest = entry.get("digest")
        hashes.append(digest.partition(":")[2] if kind == "file" and digest else None)
        raw_xattrs = entry.get("xattrs")
        xattrs.append(
            {
                key: base64.b64decode(value).decode("utf-8", "surrogateescape")
                for key, value in raw_xattrs.items()
            }
            if raw_xattrs
            else None
        )
    if toc.format == "estargz":
        import hashlib

        paths.append(TOC_NAME)
        types.append("file")
        sizes.append(len(toc.raw))
        modes.append(0)
        uids.append(0)
        gids.append(0)
        unames.append("")
        gnames.append("")
        mtimes.append(0)
        links.append("")
        hashes.append(hashlib.sha256(toc.raw).hexdigest())
        xattrs.append(None)
    whiteouts, opaque = marker_columns(paths)
    columns = {
        "path": np.array(paths, dtype=object),
        "type": np.array(types, dtype=object),
        "size": np.array(sizes, dtype=np.int64),
        "mode": np.array(modes, dtype=np.int64),
        "uid": np.array(uids, dtype=np.int64),
        "gid": np.array(gids, dtype=np.int64),
        "uname": np.array(unames, dtype=object),
        "gname": np.array(gnames, dtype=object),
        "mtime": np.array(mtimes, dtype=np.int64),
        "linkname": np.array(links, dtype=object),
        "whiteout": whiteouts,
        "opaque": opaque,
        "sha256": np.array(hashes, dtype=object),
        "xattrs": np.array(xattrs, dtype=object),
    }
    return table_from_listing(columns)


def _ztoc_file_table(toc: Toc) -> pd.DataFrame:
    """The layer's file table from its zTOC alone. A zTOC records no content digests, so
    ``sha256`` is unknown (None) in every row."""
    entries = toc.ztoc.entries
    paths = [e.name.strip("/") for e in entries]
    whiteouts, opaque = marker_columns(paths)
    xattrs = []
    for e in entries:
        found = {k[13:]: v for k, v in e.xattrs.items() if k.startswith("SCHILY.xattr.")}
        xattrs.append(json.dumps(found, sort_keys=True) if found else None)
    columns = {
        "path": np.array(paths, dtype=object),
        "type": np.array([TOC_TYPES[e.type] for e in entries], dtype=object),
        "size": np.array([e.size if e.type == "reg" else 0 for e in entries], dtype=np.int64),
        "mode": np.array([e.mode & 0o7777 for e in entries], dtype=np.int64),
        "uid": np.array([e.uid for e in entries], dtype=np.int64),
        "gid": np.array([e.gid for e in entries], dtype=np.int64),
        "uname": np.array([e.uname for e in entries], dtype=object),
        "gname": np.array([e.gname for e in entries], dtype=object),
        "mtime": np.array([_mtime(e.mod_time) for e in entries], dtype=np.int64),
        "linkname": np.array(
            [e.linkname if e.type in ("symlink", "hardlink") else "" for e in entries], dtype=object
        ),
        "whiteout": whiteouts,
        "opaque": opaque,
        "sha256": np.full(len(entries), None, dtype=object),
        "xattrs": np.array(xattrs, dtype=object),
    }
    return table_from_listing(columns)
