"""A real registry for tests: Debian's docker-registry (the CNCF distribution registry 2.8)
started on 127.0.0.1 with a free port and a temporary storage folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass

import httpx
import pytest

REGISTRY_BINARY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    process: subprocess.Popen
    root: str
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_registry(
    workdir: str,
    *,
    auth_yaml: str = "",
    tls: tuple[str, str] | None = None,
    schema1: bool = True,
    access_log: bool = False,
) -> Registry:
    """Debian's docker-registry on 127.0.0.1 with its storage in ``workdir``; with
    ``access_log`` every request is logged to ``workdir/registry.log`` (what a test counts)."""
    if not os.path.exists(REGISTRY_BINARY):
        pytest.skip(
            "docker-registry is not installed (apt-get install docker-registry; scripts/system-packages.sh)"
        )
    port = free_port()
    storage = os.path.join(workdir, "storage")
    os.makedirs(storage, exist_ok=True)
    key = os.path.join(workdir, "schema1-key.pem")
    if schema1 and not os.path.exists(key):
        subprocess.run(
            ["openssl", "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", key],
            check=True,
            capture_output=True,
        )
    tls_yaml = f"\n  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}" if tls else ""
    compat = f"compatibility:\n  schema1:\n    enabled: true\n    signingkeyfile: {key}\n" if schema1 else ""
    config = f"""version: 0.1
log:
  level: error
  accesslog:
    disabled: {"false" if access_log else "true"}
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: imgexplore-tests{tls_yaml}
{compat}{auth_yaml}"""
    path = os.path.join(workdir, "config.yml")
    with open(path, "w") as f:
        f.write(config)
    log = open(os.path.join(workdir, "registry.log"), "wb")
    process = subprocess.Popen([REGISTRY_BINARY, "serve", path], stdout=log, stderr=subprocess.STDOUT)
    registry = Registry(f"127.0.0.1:{port}", process, workdir, "https" if tls else "http")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {open(log.name).read()[-2000:]}")
        try:
            httpx.get(f"{registry.url}/v2/", verify=False, timeout=1)
            return registry
        except httpx.HTTPError:
            time.sleep(0.1)
    registry.stop()
    raise RuntimeError("docker-registry did not start within 20 s")
