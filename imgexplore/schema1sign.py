"""Signing schema 1 manifests the way the docker engine did (libtrust "pretty" JWS, ES256),
so an unsigned schema 1 manifest can be pushed to a registry that only accepts signed ones.

The signature proves nothing about who built the image (the key is made on the spot, as
docker's was per daemon); registries re-sign on every GET anyway. What matters is the
payload, whose digest stays the manifest's digest."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json

from .errors import ManifestError, MissingDependencyError


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _key_id(public_der: bytes) -> str:
    """libtrust's key ID: base32 of the first 240 bits of sha256(SubjectPublicKeyInfo), in
    twelve groups of four."""
    digest = hashlib.sha256(public_der).digest()[:30]
    text = base64.b32encode(digest).decode().rstrip("=")
    return ":".join(text[i : i + 4] for i in range(0, 48, 4))


def sign_schema1(payload: bytes, private_key=None) -> bytes:
    """Return ``payload`` (an unsigned schema 1 manifest, pretty-printed JSON) with a
    ``signatures`` block spliced in before its closing brace."""
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    except ImportError:
        raise MissingDependencyError(
            "signing schema 1 manifests needs the 'cryptography' package (pip install cryptography)"
        ) from None
    try:
        if "signatures" in json.loads(payload):
            return payload
    except ValueError:
        raise ManifestError("schema 1 manifest is not JSON") from None
    close = len(payload.rstrip())
    if close == 0 or payload[close - 1 : close] != b"}":
        raise ManifestError("schema 1 manifest does not end with '}'")
    format_length = len(payload[: close - 1].rstrip())
    tail = payload[format_length:]
    key = private_key or ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    numbers = public.public_numbers()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    jwk = {
        "crv": "P-256",
        "kid": _key_id(der),
        "kty": "EC",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }
    time = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    protected = _b64url(
        json.dumps(
            {"formatLength": format_length, "formatTail": _b64url(tail), "time": time}, separators=(",", ":")
        ).encode()
    )
    signing_input = f"{protected}.{_b64url(payload)}".encode()
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    signature = {
        "header": {"jwk": jwk, "alg": "ES256"},
        "signature": _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
        "protected": protected,
    }
    block = json.dumps([signature], indent=3).replace("\n", "\n   ")
    return payload[:format_length] + f',\n   "signatures": {block}'.encode() + tail
