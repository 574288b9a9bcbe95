"""Image references (``[registry/]repository[:tag][@digest]``) per the distribution
reference grammar, with Docker's normalisation: ``centos`` is
``docker.io/library/centos:latest``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .digest import validate_digest
from .errors import InvalidDigestError, InvalidReferenceError

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
# Docker Hub's API lives on another host than the name users type.
DOCKER_HUB_API_HOST = "registry-1.docker.io"
_LEGACY_HUB_NAMES = {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"

_PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_NAME_TOTAL_MAX = 255


@dataclass(frozen=True)
class Reference:
    """A parsed, normalised image reference."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host that serves the Registry HTTP API V2 for this reference."""
        return DOCKER_HUB_API_HOST if self.registry == DEFAULT_REGISTRY else self.registry

    @property
    def identifier(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_digest(self, digest: str) -> Reference:
        """The same repository pinned to ``digest``."""
        return Reference(self.registry, self.repository, self.tag, validate_digest(digest))

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> Reference:
    """Parse and normalise an image reference; raise :class:`InvalidReferenceError` if invalid.

    >>> str(parse_reference("centos"))
    'docker.io/library/centos:latest'
    >>> ref = parse_reference("centos:7")
    >>> ref.api_host, ref.repository, ref.identifier
    ('registry-1.docker.io', 'library/centos', '7')
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidReferenceError("empty image reference")
    original = text
    text = text.strip()
    digest = None
    if "@" in text:
        text, _, digest = text.partition("@")
        try:
            validate_digest(digest)
        except InvalidDigestError as exc:
            raise InvalidReferenceError(f"invalid digest in reference {original!r:.200}: {exc}") from None
    tag = None
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not tag:
            raise InvalidReferenceError(f"empty tag in reference {original!r:.200}")
        if not _TAG_RE.match(tag):
            raise InvalidReferenceError(
                f"invalid tag {tag!r:.140} in {original!r:.200}: up to 128 of letters, digits, "
                "'_', '.', '-', not starting with '.' or '-'"
            )
    registry, path = _split_registry(text)
    if not path:
        raise InvalidReferenceError(f"missing repository name in {original!r:.200}")
    if path.lower() != path and _PATH_RE.match(path.lower()):
        raise InvalidReferenceError(f"repository name must be lowercase: {path!r:.200}")
    if not _PATH_RE.match(path):
        raise InvalidReferenceError(
            f"invalid repository name {path!r:.200}: lowercase letters, digits and "
            "separators ('.', '_', '__', '-') between path components"
        )
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    if len(registry) + 1 + len(path) > _NAME_TOTAL_MAX:
        raise InvalidReferenceError(f"repository name longer than {_NAME_TOTAL_MAX} characters")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(registry=registry, repository=path, tag=tag, digest=digest)


def _split_registry(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    is_domain = sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first)
    if not is_domain:
        return DEFAULT_REGISTRY, name
    if not _DOMAIN_RE.match(first):
        raise InvalidReferenceError(f"invalid registry host {first!r:.200}")
    if first in _LEGACY_HUB_NAMES:
        first = DEFAULT_REGISTRY
    return first, rest


def looks_like_reference(text: str) -> bool:
    """True if ``text`` parses as an image reference."""
    try:
        parse_reference(text)
    except InvalidReferenceError:
        return False
    return True


def familiar_name(reference: Reference) -> str:
    """The repository as Docker names it (``repositories.json``, ``docker images``): Docker
    Hub's registry and ``library/`` dropped.

    >>> familiar_name(parse_reference("ubuntu:22.04")), familiar_name(parse_reference("127.0.0.1:5000/a/b"))
    ('ubuntu', '127.0.0.1:5000/a/b')
    """
    if reference.registry != DEFAULT_REGISTRY:
        return reference.name
    return reference.repository.removeprefix("library/")
