"""Strict JSON decoding for untrusted manifests and configs."""

from __future__ import annotations

import json
from typing import Any

from .errors import LimitExceededError, ManifestError
from .limits import MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES  # noqa: F401 - re-exported


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            # Two parsers may pick different copies of a duplicated key; refuse the ambiguity.
            raise ManifestError(f"duplicate JSON key {key!r:.80}: the document is ambiguous")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ManifestError(f"invalid JSON number {name}")


def loads_strict(data: bytes | str, what: str, max_bytes: int = MAX_MANIFEST_BYTES) -> Any:
    """Decode JSON, refusing oversized input, invalid UTF-8, duplicate keys and NaN/Infinity."""
    if len(data) > max_bytes:
        raise LimitExceededError(
            f"{what} is {len(data)} bytes, over the limit of {max_bytes} bytes "
            "(raise it with max_bytes= if this document is genuine)"
        )
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ManifestError(f"{what} is not UTF-8 text (byte {exc.start}): not a JSON document") from None
    try:
        return json.loads(data, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise LimitExceededError(f"{what} nests JSON too deeply") from None


_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer"}


def expect(value: Any, kind: type, where: str) -> Any:
    """Return ``value`` if it is of ``kind``, else raise a :class:`ManifestError` naming ``where``."""
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        got = "nothing" if value is None else type(value).__name__
        raise ManifestError(f"{where} must be {_JSON_NAMES.get(kind, kind.__name__)}, got {got}")
    return value
