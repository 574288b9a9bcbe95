"""How to talk to registries, as one object: built once (by the command line from its flags,
by a notebook with the defaults) and handed to everything that reaches a registry —
:func:`~imgexplore.open_image`, :func:`~imgexplore.transfer.pull`,
:func:`~imgexplore.transfer.push`, corpus scans and their Dask workers (it pickles)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from ..errors import InvalidArgumentError

if TYPE_CHECKING:
    from .client import RegistryClient


@dataclass(frozen=True)
class RegistryOptions:
    """Registry settings.

    ``insecure`` allows plain HTTP to a registry that is not on this machine; ``ca_bundle``
    is a PEM file of CA certificates to trust; ``schema1`` asks for schema 1 manifests;
    ``credentials`` uses the logins the docker CLI saved (``~/.docker/config.json``);
    ``timeout`` is how long a connection may stay silent, ``deadline`` how long one request
    and its retries may take, ``max_retries`` how often a failed request is sent again and
    ``max_retry_after`` the longest ``Retry-After`` waited out.

    >>> RegistryOptions(insecure=True).insecure
    True
    >>> RegistryOptions(timeout="soon")
    Traceback (most recent call last):
    imgexplore.errors.InvalidArgumentError: RegistryOptions.timeout must be a number, not str
    """

    insecure: bool = False
    ca_bundle: str | None = None
    schema1: bool = False
    credentials: bool = True
    timeout: float = 60.0
    deadline: float = 600.0
    max_retries: int = 4
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("insecure", "schema1", "credentials"):
                ok, kind = isinstance(value, bool), "True or False"
            elif f.name == "ca_bundle":
                ok, kind = value is None or isinstance(value, str), "a path or None"
            elif f.name == "max_retries":
                ok, kind = isinstance(value, int) and not isinstance(value, bool) and value >= 0, "a count"
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
                kind = "a number" if not isinstance(value, int | float) else "positive"
            if not ok:
                shown = type(value).__name__ if kind in ("a number", "True or False") else repr(value)
                raise InvalidArgumentError(f"RegistryOptions.{f.name} must be {kind}, not {shown}")

    def client(self, host: str, **extra) -> RegistryClient:
        """A :class:`~imgexplore.registry.RegistryClient` for ``host`` with these settings
        (``extra``: ``transport``, ``transcript``, ``sleep``, as the client takes them)."""
        from .client import RegistryClient

        return RegistryClient(
            host,
            credentials=self.credentials,
            insecure=self.insecure,
            ca_bundle=self.ca_bundle,
            timeout=self.timeout,
            deadline=self.deadline,
            max_retries=self.max_retries,
            max_retry_after=self.max_retry_after,
            **extra,
        )


DEFAULT = RegistryOptions()
