"""Credentials the way the docker CLI keeps them: ``$DOCKER_CONFIG/config.json`` (default
``~/.docker/config.json``) with ``auths``, ``credHelpers`` and ``credsStore``."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass

from ..errors import AuthenticationError

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    """A username and password (or identity token). ``repr`` never shows the secret."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password='***')"

    __str__ = __repr__


def _config_path() -> str:
    folder = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(folder, "config.json")


def _keys_for(host: str) -> tuple[str, ...]:
    if host in DOCKER_HUB_KEYS:
        return DOCKER_HUB_KEYS
    return (host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/")


def _helper(name: str, host: str) -> Credentials | None:
    program = f"docker-credential-{name}"
    try:
        result = subprocess.run([program, "get"], input=host.encode(), capture_output=True, timeout=30)
    except FileNotFoundError:
        raise AuthenticationError(
            f"docker config names the credential helper {name!r} for {host}, but {program} is not installed"
        ) from None
    except subprocess.TimeoutExpired:
        raise AuthenticationError(
            f"credential helper {program} did not answer for {host} within 30 s"
        ) from None
    if result.returncode != 0:
        if b"credentials not found" in result.stdout.lower() + result.stderr.lower():
            return None
        raise AuthenticationError(f"credential helper {program} failed for {host} (exit {result.returncode})")
    try:
        data = json.loads(result.stdout)
        return Credentials(str(data["Username"]), str(data["Secret"]))
    except (ValueError, KeyError, TypeError):
        raise AuthenticationError(
            f"credential helper {program} gave an answer that is not its JSON format"
        ) from None


def docker_credentials(host: str) -> Credentials | None:
    """Credentials for ``host`` from the docker CLI's configuration, or None."""
    path = _config_path()
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise AuthenticationError(f"{path} is not readable JSON; fix or remove it") from None
    if not isinstance(config, dict):
        return None
    keys = _keys_for(host)
    helpers = config.get("credHelpers") or {}
    for key in keys:
        if key in helpers:
            return _helper(str(helpers[key]), key)
    auths = config.get("auths") or {}
    for key in keys:
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("identitytoken"):
            return Credentials("<token>", str(entry["identitytoken"]))
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise AuthenticationError(f"{path}: the saved login for {key} is not valid base64") from None
            return Credentials(user, password)
        if entry.get("username") and entry.get("password"):
            return Credentials(str(entry["username"]), str(entry["password"]))
    if config.get("credsStore"):
        return _helper(str(config["credsStore"]), keys[0])
    return None
