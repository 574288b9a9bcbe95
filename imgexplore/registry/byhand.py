"""Small helpers for doing a pull by hand with plain ``httpx`` calls, as notebook 01 does:
a log of the requests (as a table and as ``curl`` commands), a token's claims, a schema 1
signature taken apart and a gzip member taken apart byte by byte.

None of these talk to a registry themselves: the requests stay in the reader's own code."""

from __future__ import annotations

import json
import shlex
import struct
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from ..errors import ImgExploreError
from ..manifest import b64url_decode, schema1_payload
from .auth import parse_challenge
from .client import MANIFEST_ACCEPT, SCHEMA1_ACCEPT
from .tls import base_url
from .transcript import mask_url

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MANIFEST_ACCEPT",
    "SCHEMA1_ACCEPT",
    "RequestLog",
    "base_url",
    "gzip_anatomy",
    "jwt_claims",
    "mask_url",
    "parse_challenge",
    "schema1_signature_parts",
]


def jwt_claims(token: str) -> dict | None:
    """The claims of a JSON Web Token (its middle part, decoded; the signature is not
    checked), or ``None`` when the token is not a JWT (some registries hand out opaque ones).

    >>> jwt_claims("eyJhbGciOiJub25lIn0.eyJzdWIiOiIiLCJhY2Nlc3MiOltdfQ.")
    {'sub': '', 'access': []}
    >>> jwt_claims("an-opaque-token") is None
    True
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, ImgExploreError):
        return None
    return claims if isinstance(claims, dict) else None


@dataclass
class LoggedRequest:
    """One request as sent (headers with secrets masked) and what came back."""

    method: str
    url: str
    headers: dict[str, str]
    status: int | None = None
    content_type: str = ""
    digest: str = ""
    location: str = ""
    length: str = ""


@dataclass
class RequestLog:
    """Records every request an ``httpx.Client`` makes, through its event hooks::

        log = RequestLog()
        http = httpx.Client(event_hooks=log.hooks)

    ``log.table()`` lists them with whole URLs (secret query values masked);
    ``log.curl()`` gives the same exchange as ``curl`` commands to paste in a shell."""

    requests: list[LoggedRequest] = field(default_factory=list)

    @property
    def hooks(self) -> dict:
        return {"request": [self._on_request], "response": [self._on_response]}

    def _on_request(self, request: httpx.Request) -> None:
        headers = {}
        for key, value in request.headers.items():
            if key.lower() == "authorization":
                headers["Authorization"] = value.split(" ", 1)[0] + " $TOKEN"
            elif key.lower() in ("accept", "range") and value != "*/*":  # */* is curl's default too
                headers[key.title()] = value
        self.requests.append(LoggedRequest(request.method, mask_url(str(request.url)), headers))

    def _on_response(self, response: httpx.Response) -> None:
        entry = next(
            (r for r in reversed(self.requests) if r.url == mask_url(str(response.request.url))), None
        )
        if entry is None:
            return
        entry.status = response.status_code
        entry.content_type = response.headers.get("content-type", "")
        entry.digest = response.headers.get("docker-content-digest", "")
        entry.location = mask_url(response.headers.get("location", ""))
        entry.length = response.headers.get("content-length", "")

    def table(self) -> pd.DataFrame:
        """One row per request: method, whole URL, status, Content-Type, Content-Length,
        Docker-Content-Digest and (for redirects) where to."""
        import pandas as pd

        columns = ["method", "url", "status", "content_type", "content_length", "digest", "location"]
        rows = [
            (r.method, r.url, r.status, r.content_type, r.length, r.digest, r.location) for r in self.requests
        ]
        return pd.DataFrame(rows, columns=columns)

    def curl(self) -> list[str]:
        """The exchange as ``curl`` commands. A request that carried a token says
        ``$TOKEN``: set it from the token request's answer first."""
        lines = []
        for r in self.requests:
            words = ["curl", "-sS"]
            if r.method == "HEAD":
                words.append("-I")
            elif r.method != "GET":
                words += ["-X", r.method]
            for key, value in r.headers.items():
                words += ["-H", f"{key}: {value}"]
            command = " ".join(shlex.quote(w) if "$TOKEN" not in w else f'"{w}"' for w in words)
            command = f"{command} {shlex.quote(r.url)}"
            if _is_token_request(r.url):
                command = f"TOKEN=$({command} | {_READ_TOKEN})"
            lines.append(command)
        return lines


_READ_TOKEN = (
    """python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("token") or d["access_token"])'"""
)


def _is_token_request(url: str) -> bool:
    """A token service's URL: asked for a ``scope``, and not a registry API path."""
    parts = httpx.URL(url)
    return "scope" in parts.params and not parts.path.startswith("/v2/")


def schema1_signature_parts(raw: bytes) -> pd.DataFrame:
    """A signed schema 1 manifest's JWS signatures taken apart, one row each: the key id and
    algorithm, the protected header decoded (``formatLength``, ``formatTail``, ``time``) and
    the payload it covers (its length and digest).

    The payload is the first ``formatLength`` bytes of the document followed by the
    decoded ``formatTail``: the document as it was before the signatures were spliced in."""
    import pandas as pd

    from ..digest import sha256_digest

    doc = json.loads(raw)
    payload, _, _ = schema1_payload(raw, doc)  # the one rule that rebuilds it (and checks it)
    rows = []
    for signature in doc.get("signatures") or []:
        protected = json.loads(b64url_decode(signature["protected"]))
        rows.append(
            {
                "key_id": (signature.get("header", {}).get("jwk") or {}).get("kid", ""),
                "alg": signature.get("header", {}).get("alg", ""),
                "signed_at": protected.get("time", ""),
                "formatLength": protected["formatLength"],
                "formatTail": b64url_decode(protected["formatTail"]).decode(errors="replace"),
                "payload_bytes": len(payload),
                "payload_digest": sha256_digest(payload),
                "signature_bytes": len(b64url_decode(signature["signature"])),
            }
        )
    return pd.DataFrame(rows)


_GZIP_OS = {0: "FAT", 3: "Unix", 7: "Macintosh", 11: "NTFS", 255: "unknown"}


def gzip_anatomy(blob: bytes) -> pd.DataFrame:
    """A single-member gzip blob (RFC 1952) taken apart byte by byte: offset, bytes (hex),
    field and what its value means. Only members without optional fields (FLG = 0) are
    split; they are what layer tools write.

    >>> from imgexplore import mediatypes
    >>> table = gzip_anatomy(mediatypes.EMPTY_LAYER_BUILDKIT_BYTES)
    >>> list(table["field"])
    ['ID1 ID2', 'CM', 'FLG', 'MTIME', 'XFL', 'OS', 'deflate data', 'CRC32', 'ISIZE']
    >>> table.loc[8, "meaning"]
    'uncompressed size mod 2**32: 1024 bytes'
    """
    import pandas as pd

    from ..errors import ArchiveError

    if len(blob) < 18 or blob[:2] != b"\x1f\x8b":
        raise ArchiveError("not a gzip member: it does not start with 1f 8b")
    if blob[3] != 0:
        raise ArchiveError(f"gzip FLG is {blob[3]:#x}: members with optional fields are not taken apart")
    mtime, crc, isize = struct.unpack("<I", blob[4:8])[0], *struct.unpack("<II", blob[-8:])
    inflater = zlib.decompressobj(-15)
    data = inflater.decompress(blob[10:-8])
    if not inflater.eof or inflater.unused_data:
        raise ArchiveError("the deflate data does not end where the 8-byte trailer begins")
    if mtime == 0:
        mtime_meaning = "0: no time recorded (reproducible)"
    elif mtime == -62135596800 % 2**32:
        mtime_meaning = f"{mtime}: Go's zero time.Time (year 1, Unix time -62135596800) cut to 32 bits"
    else:
        mtime_meaning = f"{mtime} (Unix time of compression)"
    crc_ok = "matches" if zlib.crc32(data) == crc else "does NOT match"
    rows = [
        (0, blob[0:2], "ID1 ID2", "magic number: this is gzip"),
        (2, blob[2:3], "CM", "compression method 8: deflate" if blob[2] == 8 else f"method {blob[2]}"),
        (3, blob[3:4], "FLG", "no file name, comment or extra field"),
        (4, blob[4:8], "MTIME", mtime_meaning),
        (8, blob[8:9], "XFL", {0: "no flags", 2: "slowest compression", 4: "fastest"}.get(blob[8], "")),
        (9, blob[9:10], "OS", f"{blob[9]}: {_GZIP_OS.get(blob[9], 'other')}"),
        (10, blob[10:-8], "deflate data", f"{len(blob) - 18} bytes that inflate to {len(data)} bytes"),
        (len(blob) - 8, blob[-8:-4], "CRC32", f"{crc:#010x}, little-endian; {crc_ok} the inflated bytes"),
        (len(blob) - 4, blob[-4:], "ISIZE", f"uncompressed size mod 2**32: {isize} bytes"),
    ]
    return pd.DataFrame(
        [(offset, raw.hex(" "), name, meaning) for offset, raw, name, meaning in rows],
        columns=["offset", "bytes", "field", "meaning"],
    )
