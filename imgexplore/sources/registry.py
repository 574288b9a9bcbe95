"""An image in a registry, read over the Registry HTTP API V2 through the blob cache.

Metadata (manifest, config) costs a request or two; layer blobs are downloaded only when
something reads them, and only once: they are kept in the content-addressed cache."""

from __future__ import annotations

import json
import threading
from typing import BinaryIO

from ..blobstore import BlobStore
from ..digest import VerifyingReader, validate_digest
from ..errors import NotFoundError
from ..manifest import Manifest, parse_manifest, referrer_descriptors
from ..reference import Reference, parse_reference
from ..registry.following import Download, FollowingReader
from ..registry.options import DEFAULT as DEFAULT_OPTIONS
from ..registry.options import RegistryOptions
from ..streams import GuardedReader
from .base import Referrers, Source

FOLLOW_FROM = 1 << 20  # blobs this big or bigger are read as they download; smaller ones once there


class RegistrySource(Source):
    """``docker.io/library/centos:7``, ``ghcr.io/org/app@sha256:…``, ``localhost:5000/x``."""

    kind = "registry"

    def __init__(
        self,
        reference: str | Reference,
        *,
        registry: RegistryOptions | None = None,
        client=None,
        store: BlobStore | None = None,
    ):
        self.reference = reference if isinstance(reference, Reference) else parse_reference(reference)
        super().__init__(str(self.reference))
        self.options = registry or DEFAULT_OPTIONS
        self.client = client or self.options.client(self.reference.api_host)
        self.store = store or BlobStore()
        self.schema1 = self.options.schema1
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # blobs this source downloaded, verified on the way in: read back from the cache in
        # this process, they are not hashed again (the cache's rule of verifying every read
        # is there for damage between processes, a crash or a disk, not within one)
        self._downloaded: set[str] = set()
        self._in_flight: dict[str, Download] = {}  # downloads under way, for readers to follow

    @property
    def repository(self) -> str:
        return self.reference.repository

    def root_manifest(self) -> Manifest:
        ref = self.reference
        if ref.digest and self.store.has(ref.digest) and not self.schema1:
            return parse_manifest(self.store.read(ref.digest), what=f"manifest {ref}")
        if not ref.digest and not self.schema1:
            # HEAD first: if the digest is cached, nothing else is downloaded (and Docker Hub
            # does not count a HEAD as a pull)
            try:
                digest, _, _ = self.client.head_manifest(self.repository, ref.identifier)
            except NotFoundError:
                digest = None  # a HEAD has no body to say why: the GET below will
            if digest and self.store.has(digest):
                return parse_manifest(self.store.read(digest), what=f"manifest {ref}")
        manifest = self.client.get_manifest(self.repository, ref.identifier, schema1=self.schema1)
        if manifest.schema_version == 2:
            self.store.put(manifest.digest, manifest.raw)
        return manifest

    def fetch_manifest(self, digest: str, media_type: str | None, size: int | None = None) -> Manifest:
        if self.store.has(digest):
            return parse_manifest(self.store.read(digest), media_type, what=f"manifest {digest}")
        manifest = self.client.get_manifest(self.repository, digest)  # verified against digest
        if manifest.schema_version == 2:
            # A signed schema 1 manifest is named by the digest of its payload, not of the
            # bytes served (a registry re-signs it on every GET): it cannot live in a
            # content-addressed store, and costs one request each time instead.
            self.store.put(digest, manifest.raw)
        return manifest

    def referrers(self, digest: str, artifact_type: str | None = None) -> Referrers:
        """The referrers API, else the tag schema's index (tag ``sha256-<hex>``)."""
        listed = self.client.get_referrers(self.repository, digest, artifact_type)
        if listed is not None:
            return Referrers(listed, "the referrers API", 1)
        tag = digest.replace(":", "-", 1)
        try:
            index = self.client.get_manifest(self.repository, tag)
        except NotFoundError:
            return Referrers([], f"the tag schema ({tag}; no referrers API)", 2)
        return Referrers(
            referrer_descriptors(json.loads(index.raw), artifact_type),
            f"the tag schema ({tag}; no referrers API)",
            2,
        )

    def ensure_blob(
        self, digest: str, size: int | None = None, progress=None, *, watch: Download | None = None
    ) -> str:
        """The cached path of a blob, downloading it first if needed (once, even when
        several threads ask at the same time). A download under way can be followed by
        readers (:meth:`open_verified`); ``watch``, if given, is the one it reports to."""
        path = self.store.path(digest)
        if not path.is_file():
            with self._locks_guard:
                lock = self._locks.setdefault(digest, threading.Lock())
            with lock:
                if not path.is_file():
                    download = watch or Download()
                    with self._locks_guard:
                        self._in_flight[digest] = download
                    try:
                        self.client.download_blob(
                            self.repository, digest, str(path), size=size, progress=progress, watch=download
                        )
                        self._downloaded.add(digest)
                    except BaseException as exc:
                        download.finished(error=exc)  # (a no-op when the download said so itself)
                        raise
                    finally:
                        with self._locks_guard:
                            self._in_flight.pop(digest, None)
        if watch is not None:
            watch.finished(final=str(path))  # downloaded here, or already there
        return str(path)

    def open_verified(self, digest: str, size: int | None = None, what: str = "blob") -> VerifyingReader:
        """The blob, checked as it is read. One not yet in the cache is read as it downloads
        (the download under way, or one started here for this reader), and ends only once
        the download has verified it; one this source downloaded before was hashed on the
        way in and is only counted; any other cached blob is hashed as it is read."""
        validate_digest(digest)
        if not self.store.has(digest) and (size is None or size >= FOLLOW_FROM):
            reader = FollowingReader(self._follow(digest, size), f"{what} {digest}")
            return VerifyingReader(reader, digest, size, what, checked_here=True)
        raw = GuardedReader(open(self.ensure_blob(digest, size), "rb"), f"{what} {digest}")
        return VerifyingReader(raw, digest, size, what, checked_here=digest in self._downloaded)

    def _follow(self, digest: str, size: int | None) -> Download:
        """The download of ``digest`` under way, or one started now on a thread of its own
        for its readers (it stops when they all leave before its end)."""
        with self._locks_guard:
            running = self._in_flight.get(digest)
        if running is not None:
            return running
        download = Download(for_readers=True)

        def fetch() -> None:
            try:
                self.ensure_blob(digest, size, progress=download.check, watch=download)
            except BaseException as exc:  # noqa: BLE001 - handed to the reader, which raises it
                download.finished(error=exc)

        threading.Thread(target=fetch, name="imgexplore-download").start()
        return download

    def read_blob(self, digest: str, size: int | None = None, *, max_bytes: int, what: str = "blob") -> bytes:
        if self.store.has(digest):
            return self.store.read(digest)
        if size is not None and size <= max_bytes:
            data = self.client.get_blob(self.repository, digest, max_bytes=max_bytes)
            self.store.put(digest, data)
            return data
        return super().read_blob(digest, size, max_bytes=max_bytes, what=what)

    def open_blob(self, digest: str) -> BinaryIO:
        return open(self.ensure_blob(digest), "rb")

    def has_blob(self, digest: str) -> bool:
        return True  # a registry serves every blob its manifests name (a HEAD would cost a request)

    def release_blob(self, digest: str) -> bool:
        if digest not in self._downloaded:
            return False
        self._downloaded.discard(digest)
        try:
            self.store.path(digest).unlink()  # readers that have it open keep reading it
        except FileNotFoundError:
            return False
        return True

    def close(self) -> None:
        self.client.close()
