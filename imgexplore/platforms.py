"""Platforms (``os/architecture[/variant]``) of multi-platform images, their normalisation
and the default choice for this machine."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass

from .errors import PlatformNotFoundError

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
}
# Variants that mean the same as no variant (containerd's normalisation).
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


@dataclass(frozen=True)
class Platform:
    """An image platform, as found in index entries and image configs."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``linux/arm64/v8``, ``linux/amd64`` or ``arm64`` (os defaults to linux)."""
        parts = [p for p in str(text).strip().split("/")]
        if not parts or any(not p for p in parts) or len(parts) > 3:
            raise PlatformNotFoundError(
                f"invalid platform {text!r:.100}: expected os/architecture[/variant], e.g. linux/arm64/v8"
            )
        if len(parts) == 1:
            parts = ["linux", parts[0]]
        os_name, arch = parts[0].lower(), parts[1].lower()
        variant = parts[2].lower() if len(parts) == 3 else ""
        return cls(os_name, _ARCH_ALIASES.get(arch, arch), variant)

    @classmethod
    def from_dict(cls, data: dict | None) -> Platform | None:
        """From an OCI ``platform`` object (``os``, ``architecture``, ``variant``, ``os.version``)."""
        if not isinstance(data, dict):
            return None
        return cls(
            os=str(data.get("os") or ""),
            architecture=str(data.get("architecture") or ""),
            variant=str(data.get("variant") or ""),
            os_version=str(data.get("os.version") or ""),
        )

    def normalized(self) -> Platform:
        """Architecture aliases resolved and default variants made explicit."""
        arch = _ARCH_ALIASES.get(self.architecture, self.architecture)
        variant = self.variant or _DEFAULT_VARIANT.get(arch, "")
        if arch == "arm64" and variant == "armv8":
            variant = "v8"
        if arch == "arm" and variant.startswith("armv"):
            variant = variant[3:]
        return Platform(self.os.lower(), arch, variant, self.os_version)

    def matches(self, other: Platform) -> bool:
        """Same os, architecture and (normalised) variant; ``os.version`` is not compared."""
        a, b = self.normalized(), other.normalized()
        return (a.os, a.architecture, a.variant) == (b.os, b.architecture, b.variant)

    @property
    def is_unknown(self) -> bool:
        """``unknown/unknown``: attestation manifests in BuildKit indexes."""
        return self.os == "unknown" and self.architecture == "unknown"

    @classmethod
    def argument(cls, value: str | Platform | None) -> Platform | None:
        """A ``platform=`` argument as given to the library: ``None``, a :class:`Platform` or
        its text form; anything else is an :class:`~imgexplore.InvalidArgumentError`."""
        if value is None or isinstance(value, Platform):
            return value
        if not isinstance(value, str):
            from .errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"platform must be text like 'linux/arm64/v8' or a Platform, not {type(value).__name__}"
            )
        return cls.parse(value)

    def __str__(self) -> str:
        text = f"{self.os or '?'}/{self.architecture or '?'}"
        return f"{text}/{self.variant}" if self.variant else text


FALLBACK_PLATFORM = Platform("linux", "amd64")


def host_platform() -> Platform:
    """This machine's platform, as a linux container platform."""
    arch = _platform.machine().lower()
    return Platform("linux", _ARCH_ALIASES.get(arch, arch)).normalized()
