"""Real container engines from Debian's packages, started by the tests with their own roots
and sockets in a temporary folder, on loopback only, and stopped by their pid."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

import httpx
import pytest


@dataclass
class Daemon:
    """A daemon the tests started: its root, socket, process and log."""

    root: str
    socket: str
    process: subprocess.Popen
    log: str

    def wait_until(self, answers, name: str, seconds: float = 30) -> None:
        """Wait until ``answers()`` is true; if the process ends first or the time runs out,
        stop it and fail the test with the end of its log."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            if answers():
                return
            time.sleep(0.3)
        self.stop()
        with open(self.log, errors="replace") as f:
            pytest.fail(f"{name} did not start:\n" + f.read()[-3000:])

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@dataclass
class Dockerd(Daemon):
    tcp: str | None = None  # tcp://127.0.0.1:PORT, when started with tls=True or plain_tcp=True
    cert_path: str | None = None  # a client's DOCKER_CERT_PATH for it: ca.pem, cert.pem, key.pem

    def api(self) -> httpx.Client:
        """The Engine API over the daemon's unix socket."""
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=self.socket), base_url="http://docker", timeout=120
        )

    def pull(self, reference: str) -> None:
        """``docker pull`` through the API; fails the test on an error in the progress stream."""
        name, _, tag = reference.rpartition(":")
        with (
            self.api() as api,
            api.stream("POST", "/images/create", params={"fromImage": name, "tag": tag}) as reply,
        ):
            lines = [json.loads(line) for line in reply.iter_lines() if line.strip()]
        errors = [line["error"] for line in lines if "error" in line]
        assert reply.status_code == 200 and not errors, (reply.status_code, errors)

    def run(self, image: str, command: list[str], *, wait: bool = True) -> str:
        """``docker run --network none IMAGE COMMAND`` through the API; returns the container id
        once the command has exited with status 0 (or at once, ``wait=False``)."""
        with self.api() as api:
            made = api.post(
                "/containers/create",
                json={"Image": image, "Cmd": command, "HostConfig": {"NetworkMode": "none"}},
            )
            assert made.status_code == 201, made.text
            container = made.json()["Id"]
            started = api.post(f"/containers/{container}/start")
            assert started.status_code == 204, started.text
            if not wait:
                return container
            waited = api.post(f"/containers/{container}/wait", timeout=60)
            assert waited.json().get("StatusCode") == 0, waited.text
        return container

    def kill(self, container: str) -> None:
        with self.api() as api:
            api.post(f"/containers/{container}/kill")
            api.post(f"/containers/{container}/wait", timeout=60)

    def inspect(self, container: str) -> dict:
        with self.api() as api:
            return api.get(f"/containers/{container}/json").json()


def start_dockerd(workdir: str, *, tls: bool = False, plain_tcp: bool = False) -> Dockerd:
    """Debian's dockerd (overlay2) with everything of its own under ``workdir``; no bridge, no
    iptables rules. With ``tls`` it also listens on tcp://127.0.0.1:PORT with TLS, clients
    verified (``--tlsverify``), from a CA made here; with ``plain_tcp`` (not both: dockerd's
    TLS settings cover all its tcp listeners) on tcp://127.0.0.1:PORT in plain HTTP. Skips
    where it is missing or this is not root."""
    from registry_server import free_port

    assert not (tls and plain_tcp), "dockerd applies --tlsverify to every tcp listener"
    binary = shutil.which("dockerd")
    if binary is None:
        pytest.skip("Debian's docker.io is not installed (scripts/system-packages.sh installs it)")
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    root, exec_root, socket = (os.path.join(workdir, name) for name in ("root", "exec", "docker.sock"))
    log = os.path.join(workdir, "dockerd.log")
    tcp, cert_path, tcp_arguments = None, None, []
    if tls:
        tcp, cert_path, tcp_arguments = _tls_listener(workdir)
    elif plain_tcp:
        tcp = f"tcp://127.0.0.1:{free_port()}"
        tcp_arguments = ["--host", tcp]
    process = subprocess.Popen(
        [
            binary,
            "--data-root", root,
            "--exec-root", exec_root,
            "--pidfile", os.path.join(workdir, "dockerd.pid"),
            "--host", f"unix://{socket}",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--storage-driver", "overlay2",
            *tcp_arguments,
        ],
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    daemon = Dockerd(root, socket, process, log, tcp=tcp, cert_path=cert_path)

    def answers() -> bool:
        try:
            with daemon.api() as api:
                return api.get("/_ping").status_code == 200
        except httpx.HTTPError:
            return False

    daemon.wait_until(answers, "dockerd", seconds=60)
    return daemon


def _tls_listener(workdir: str) -> tuple[str, str, list[str]]:
    """A TLS listener on loopback for dockerd: its address, a client's DOCKER_CERT_PATH
    (named as the docker CLI expects) and dockerd's arguments."""
    from netfixtures import make_cert
    from registry_server import free_port

    folder = pathlib.Path(workdir)
    ca = make_cert("imgexplore tests CA", ca=True)
    server = make_cert("127.0.0.1", issuer=ca, ip="127.0.0.1")
    client = make_cert("client", issuer=ca)
    server_cert, server_key = server.write(folder, "server")
    (folder / "ca.crt").write_bytes(ca.cert_pem)
    certs = folder / "client-certs"
    certs.mkdir()
    (certs / "ca.pem").write_bytes(ca.cert_pem)
    (certs / "cert.pem").write_bytes(client.cert_pem)
    (certs / "key.pem").write_bytes(client.key_pem)
    tcp = f"tcp://127.0.0.1:{free_port()}"
    arguments = ["--host", tcp, "--tlsverify", "--tlscacert", str(folder / "ca.crt"),
                 "--tlscert", server_cert, "--tlskey", server_key]  # fmt: skip
    return tcp, str(certs), arguments


class Containerd(Daemon):
    def ctr(self, *args: str) -> str:
        """``ctr`` against this daemon (namespace default)."""
        done = subprocess.run(
            ["ctr", "--address", self.socket, "--namespace", "default", *args], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def labels(self) -> dict[str, dict[str, str]]:
        """digest -> labels, from ``ctr content ls``."""
        found = {}
        for line in self.ctr("content", "ls").splitlines()[1:]:
            fields = line.split("\t")
            digest, labels = fields[0], fields[-1].strip()
            pairs = [] if labels in ("", "-") else labels.split(",")
            found[digest] = dict(pair.split("=", 1) for pair in pairs)
        return found

    def snapshots(self) -> dict[str, tuple[str, str]]:
        """key -> (parent, kind), from ``ctr snapshots ls``."""
        found = {}
        for line in self.ctr("snapshots", "ls").splitlines()[1:]:
            fields = line.split()
            key, kind = fields[0], fields[-1]
            found[key] = (fields[1] if len(fields) == 3 else "", kind)
        return found


def start_containerd(workdir: str) -> Containerd:
    """Debian's containerd with its own root, state and socket under ``workdir`` (CRI off)."""
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.skip("Debian's containerd is not installed (scripts/system-packages.sh installs it)")
    if os.geteuid() != 0:
        pytest.skip("containerd's overlayfs snapshotter needs root")
    root, socket = os.path.join(workdir, "root"), os.path.join(workdir, "containerd.sock")
    config = os.path.join(workdir, "config.toml")
    with open(config, "w") as f:
        f.write(
            f'version = 2\nroot = "{root}"\nstate = "{os.path.join(workdir, "state")}"\n'
            f'[grpc]\n  address = "{socket}"\n'
            '[plugins."io.containerd.grpc.v1.cri"]\n  disable = true\n'
        )
    log = os.path.join(workdir, "containerd.log")
    process = subprocess.Popen(
        ["containerd", "--config", config], stdout=open(log, "wb"), stderr=subprocess.STDOUT
    )
    daemon = Containerd(root, socket, process, log)
    daemon.wait_until(
        lambda: subprocess.run(["ctr", "--address", socket, "version"], capture_output=True).returncode == 0,
        "containerd",
    )
    return daemon


@dataclass
class Sshd(Daemon):
    """OpenSSH's sshd on 127.0.0.1, letting root in with a key made for it, and what a client
    needs to reach it: a folder with an ``ssh`` first on PATH that reads this test's client
    configuration (the key, the host key it knows, no prompts), standing in for the user's
    own ~/.ssh, which the tests never touch."""

    port: int = 0
    client_bin: str = ""  #: put first on PATH

    def url(self, path: str = "") -> str:
        return f"ssh://root@127.0.0.1:{self.port}{path}"


def start_sshd(workdir: str) -> Sshd:
    """Debian's sshd with its configuration, host key and client key under ``workdir``.
    Skips where it is missing or this is not root."""
    from registry_server import free_port

    binary, client = shutil.which("sshd") or "/usr/sbin/sshd", shutil.which("ssh")
    if not os.path.exists(binary) or client is None:
        pytest.skip("OpenSSH is not installed (scripts/system-packages.sh installs openssh-server)")
    if os.geteuid() != 0:
        pytest.skip("sshd needs root")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    folder = pathlib.Path(workdir)
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / key)], check=True)
    (folder / "authorized_keys").write_bytes((folder / "client_key.pub").read_bytes())
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {folder / 'host_key'}\n"
        f"PidFile {folder / 'sshd.pid'}\nAuthorizedKeysFile {folder / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\n"
    )
    host_key = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    (folder / "ssh_config").write_text(
        f"Host 127.0.0.1\n  IdentityFile {folder / 'client_key'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {folder / 'known_hosts'}\n  StrictHostKeyChecking yes\n  BatchMode yes\n"
    )
    client_bin = folder / "bin"
    client_bin.mkdir()
    (client_bin / "ssh").write_text(f'#!/bin/sh\nexec {client} -F {folder / "ssh_config"} "$@"\n')
    (client_bin / "ssh").chmod(0o755)
    log = str(folder / "sshd.log")
    process = subprocess.Popen(
        [binary, "-D", "-e", "-f", str(config)], stdout=open(log, "wb"), stderr=subprocess.STDOUT
    )
    daemon = Sshd(str(folder), "", process, log, port=port, client_bin=str(client_bin))
    login = [str(client_bin / "ssh"), "-p", str(port), "root@127.0.0.1", "true"]
    daemon.wait_until(lambda: subprocess.run(login, capture_output=True).returncode == 0, "sshd")
    return daemon


def podman(root: str, *args: str) -> str:
    """Rootful ``podman`` with its own store under ``root`` (no daemon, no systemd, no journal)."""
    if shutil.which("podman") is None:
        pytest.skip("Debian's podman is not installed (scripts/system-packages.sh installs it)")
    if os.geteuid() != 0:
        pytest.skip("a rootful podman store needs root")
    command = [
        "podman",
        "--root", os.path.join(root, "storage"),
        "--runroot", os.path.join(root, "run"),
        "--storage-driver", "overlay",
        "--events-backend", "file",
        "--cgroup-manager", "cgroupfs",
        *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def run_unprivileged(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the installed command as ``nobody`` (uid and gid 65534, no groups), with a cache
    folder of its own: what a user without root or the docker group meets. Skips unless this
    is root (only root can drop to another user)."""
    import sys
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("needs root, to run the command as another user")
    cache = tempfile.mkdtemp(prefix="imgexplore-nobody-")  # /tmp: reachable by nobody
    os.chown(cache, 65534, 65534)
    command = os.path.join(os.path.dirname(sys.executable), "imgexplore")
    try:
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", command, *argv],
            env={"PATH": "/usr/bin:/bin", "HOME": cache, "IMGEXPLORE_CACHE": cache, **(env or {})},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        done.written = sorted(os.listdir(cache))
        return done
    finally:
        shutil.rmtree(cache, ignore_errors=True)
