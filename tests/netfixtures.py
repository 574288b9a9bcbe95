"""Network parts for the registry tests, all on loopback addresses: a test CA and server
certificates, a token service that signs JWTs the registry verifies, and a proxy that
answers blob GETs with a redirect to another loopback host (recording what that host sees).

These stand in for Docker Hub's auth service and a CDN, which cannot be reached here."""

from __future__ import annotations

import base64
import datetime
import http.server
import ipaddress
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class CertPair:
    cert_pem: bytes
    key_pem: bytes
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    def write(self, folder, name: str) -> tuple[str, str]:
        cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
        cert_path.write_bytes(self.cert_pem)
        key_path.write_bytes(self.key_pem)
        return str(cert_path), str(key_path)


def make_cert(
    common_name: str, *, issuer: CertPair | None = None, ca: bool = False, ip: str | None = None
) -> CertPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return CertPair(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
        key,
        cert,
    )


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def serve(handler_class, host: str = "127.0.0.1") -> tuple[_Server, str]:
    server = _Server((host, 0), handler_class)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"{host}:{server.server_address[1]}"


@dataclass
class TokenService:
    """Issues registry tokens: pull for anyone, pull+push for the right user and password."""

    signer: CertPair
    service: str
    issuer: str = "imgexplore-test-issuer"
    users: dict[str, str] = field(default_factory=dict)
    lifetime: int = 300
    issued: list[str] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    spoil_next: bool = False  # issue one token for another audience, which the registry refuses

    def token(self, subject: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":", 2) if scope.count(":") >= 2 else ("", "", "")
            allowed = [a for a in actions.split(",") if a == "pull" or subject]
            if kind:
                access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        header = {
            "alg": "RS256",
            "typ": "JWT",
            "x5c": [base64.b64encode(self.signer.cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        audience = "someone-else" if self.spoil_next else self.service
        self.spoil_next = False
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "exp": now + self.lifetime,
            "nbf": now - 5,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = self.signer.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        token = f"{signing_input}.{b64url(signature)}"
        self.issued.append(token)
        return token

    def handler(self):
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                query = parse_qs(urlsplit(self.path).query)
                auth = self.headers.get("Authorization", "")
                service.requests.append({"path": self.path, "authorization": bool(auth)})
                subject = ""
                if auth.startswith("Basic "):
                    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                    if service.users.get(user) != password:
                        self.send_response(401)
                        self.end_headers()
                        return
                    subject = user
                token = service.token(subject, query.get("scope", []))
                body = json.dumps({"token": token, "expires_in": service.lifetime}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


@dataclass
class RedirectingProxy:
    """Forwards every request to ``upstream``; blob GETs are answered with a 307 to a blob
    host on another loopback address, which records the headers it receives."""

    upstream: str
    blob_host_seen: list[dict] = field(default_factory=list)
    blob_host: str = ""
    upstream_auth: str = ""  # what the blob host uses to fetch from the registry itself

    def start(self) -> tuple[str, list]:
        proxy = self

        class BlobHost(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                proxy.blob_host_seen.append(dict(self.headers.items()))
                path = urlsplit(self.path).path  # /v2/<repo>/blobs/<digest>
                headers = {"Authorization": proxy.upstream_auth} if proxy.upstream_auth else {}
                if "Range" in self.headers:
                    headers["Range"] = self.headers["Range"]
                reply = httpx.get(f"http://{proxy.upstream}{path}", headers=headers)
                self.send_response(reply.status_code)
                for key in ("Content-Type", "Content-Range"):
                    if key in reply.headers:
                        self.send_header(key, reply.headers[key])
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

        class Proxy(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                if self.command == "GET" and "/blobs/sha256:" in self.path:
                    self.send_response(307)
                    self.send_header(
                        "Location", f"http://{proxy.blob_host}{self.path}?X-Amz-Signature=s3cr3t"
                    )
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                reply = httpx.request(
                    self.command, f"http://{proxy.upstream}{self.path}", headers=headers, content=body
                )
                self.send_response(reply.status_code)
                for key, value in reply.headers.items():
                    if key.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    ):
                        self.send_header(key, value.replace(proxy.upstream, self.headers.get("Host", "")))
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.content)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _forward

        _, self.blob_host = serve(BlobHost, "127.0.0.2")
        _, address = serve(Proxy, "127.0.0.1")
        return address, self.blob_host_seen
