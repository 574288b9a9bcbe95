"""A throwaway registry on this machine, so a lesson can pull a local image over the real
Registry HTTP API V2: Debian's ``docker-registry`` (the CNCF distribution registry) when it
is installed, otherwise a small read-only server of imgexplore's own that answers the GET and
HEAD requests of a pull (and says it is one). Both listen on 127.0.0.1 only and stop with
the process that started them."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import http.server
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

import httpx

from ..errors import ImgExploreError, RegistryError
from .options import RegistryOptions

__all__ = ["LocalRegistry", "serve_image", "start_registry"]

#: set to a path (or to an empty string, to never use one) to choose the registry program
BINARY_VARIABLE = "IMGEXPLORE_REGISTRY_BINARY"


@dataclass
class LocalRegistry:
    """A registry listening on ``host`` (``127.0.0.1:PORT``); ``kind`` says which program."""

    host: str
    kind: str
    _stop: list = field(default_factory=list, repr=False)

    def stop(self) -> None:
        """Stop it and remove its storage."""
        while self._stop:
            self._stop.pop()()

    def __enter__(self) -> LocalRegistry:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def registry_binary() -> str | None:
    """The ``docker-registry`` program to run, or ``None`` when there is none."""
    chosen = os.environ.get(BINARY_VARIABLE)
    if chosen is not None:
        return chosen if chosen and os.access(chosen, os.X_OK) else None
    return shutil.which("docker-registry")


def start_registry(*, schema1: bool = True, timeout: float = 20.0) -> LocalRegistry | None:
    """Start ``docker-registry`` on 127.0.0.1 with storage in a temporary folder, or return
    ``None`` if it is not installed. ``schema1`` turns on its schema 2 → schema 1
    conversion (it signs with a key it makes at start-up)."""
    binary = registry_binary()
    if binary is None:
        return None
    root = tempfile.mkdtemp(prefix="imgexplore-registry-")
    port = _free_port()
    compat = "compatibility:\n  schema1:\n    enabled: true\n" if schema1 else ""
    config = (
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}/storage\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: imgexplore-lesson\n{compat}"
    )
    with open(os.path.join(root, "config.yml"), "w") as f:
        f.write(config)
    log = open(os.path.join(root, "registry.log"), "wb")
    process = subprocess.Popen(
        [binary, "serve", os.path.join(root, "config.yml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if os.name == "posix" else None,
    )

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    registry = LocalRegistry(f"127.0.0.1:{port}", f"docker-registry ({binary})", [stop])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with open(log.name, errors="replace") as f:
                tail = f.read()[-500:]
            stop()
            raise RegistryError(f"{binary} exited at start-up: {tail.strip()}")
        try:
            httpx.get(f"http://{registry.host}/v2/", timeout=1)
            return registry
        except httpx.HTTPError:
            time.sleep(0.1)
    stop()
    raise RegistryError(f"{binary} did not answer on {registry.host} within {timeout:.0f} s")


def serve_image(source, name: str = "lesson/image:latest") -> tuple[LocalRegistry, str]:
    """Put ``source`` (anything :func:`~imgexplore.open_image` reads) on a throwaway registry
    on 127.0.0.1 and return the registry and the reference to pull it by.

    With ``docker-registry`` installed the image is pushed to a fresh one; otherwise
    imgexplore's own read-only server serves it (``registry.kind`` says which)."""
    from ..transfer import push

    registry = start_registry()
    if registry is not None:
        reference = f"{registry.host}/{name}"
        try:
            push(source, reference)
        except BaseException:
            registry.stop()
            raise
        return registry, reference
    registry = serve_read_only(source, name)
    return registry, f"{registry.host}/{name}"


def serve_read_only(source, name: str = "lesson/image:latest") -> LocalRegistry:
    """Serve one image read-only over the Registry HTTP API V2 (``GET``/``HEAD`` of
    ``/v2/``, manifests by tag or digest, blobs by digest) on 127.0.0.1. It negotiates
    nothing: each manifest is served in the form the source holds it."""
    from ..opener import open_source
    from ..reference import parse_reference
    from ..transfer import blobs_of, images_to_copy, root_to_copy

    ref = parse_reference(f"127.0.0.1:1/{name}")
    src = open_source(source)
    root = root_to_copy(src)
    _, images = images_to_copy(src, root, "all")
    manifests = {root.digest: root} | {m.digest: m for _, m in images}
    blobs = {d.digest for _, m in images for d in blobs_of(m)}
    tag = ref.tag or "latest"
    handler = _handler(ref.repository, tag, root, manifests, blobs, src)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        src.close()

    return LocalRegistry(f"127.0.0.1:{server.server_address[1]}", "imgexplore's read-only server", [stop])


def _handler(repository, tag, root, manifests, blobs, source):
    from ..registry.client import manifest_media_type

    prefix = f"/v2/{repository}/"

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "imgexplore-read-only"

        def log_message(self, *args) -> None:
            pass

        def _error(self, status: int, code: str, message: str) -> None:
            body = f'{{"errors":[{{"code":"{code}","message":"{message}"}}]}}'.encode()
            self._answer(status, body, "application/json")

        def _answer(self, status: int, body: bytes, content_type: str, digest: str = "") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
            if digest:
                self.send_header("Docker-Content-Digest", digest)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/v2", "/v2/"):
                return self._answer(200, b"{}", "application/json")
            if not path.startswith(prefix):
                return self._error(404, "NAME_UNKNOWN", "repository name not known to registry")
            kind, _, reference = path[len(prefix) :].partition("/")
            if kind == "manifests":
                manifest = root if reference == tag else manifests.get(reference)
                if manifest is None:
                    return self._error(404, "MANIFEST_UNKNOWN", "manifest unknown")
                return self._answer(200, manifest.raw, manifest_media_type(manifest), manifest.digest)
            if kind == "blobs" and reference in blobs:
                try:
                    with source.open_verified(reference) as stream:
                        body = stream.read()
                except ImgExploreError:
                    return self._error(404, "BLOB_UNKNOWN", "blob unknown to registry")
                return self._answer(200, body, "application/octet-stream", reference)
            return self._error(404, "BLOB_UNKNOWN", "blob unknown to registry")

        do_HEAD = do_GET

    return Handler


def schema1_form(spec, image=None) -> tuple:
    """The same image as a schema 1 manifest, and a sentence saying where it came from:
    ``(Image, how)``, or ``(None, why not)``.

    A schema 1 image is its own schema 1 form. A registry reference is asked for schema 1
    (registries that still convert schema 2 answer with a signed schema 1 manifest). A local
    image is pushed to a throwaway ``docker-registry`` with conversion turned on and asked
    there; without one, there is no schema 1 form to show."""
    from ..manifest import Schema1Manifest
    from ..opener import open_image, open_source
    from ..transfer import push

    image = image if image is not None else open_image(spec)
    if isinstance(image.manifest, Schema1Manifest):
        return image, "the image is itself a schema 1 manifest"
    if open_source(spec).kind == "registry":
        reference, where = str(spec), "its registry"
    else:
        registry = start_registry()
        if registry is None:
            return None, "no docker-registry is installed to convert this local image to schema 1"
        reference, where = f"{registry.host}/lesson/schema1:latest", f"a throwaway {registry.kind}"
        push(spec, reference)
    try:
        converted = open_image(reference, registry=RegistryOptions(schema1=True))
    except ImgExploreError as exc:
        return None, f"{where} does not serve this image as schema 1: {exc}"
    if not isinstance(converted.manifest, Schema1Manifest):
        return None, f"{where} does not serve this image as schema 1 (it answered {converted.media_type})"
    return converted, f"served as schema 1 by {where}"
