import pytest

from imgexplore import InvalidReferenceError, parse_reference

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("centos", "docker.io", "library/centos", "latest", None),
        ("centos:7", "docker.io", "library/centos", "7", None),
        ("docker.io/library/centos:7", "docker.io", "library/centos", "7", None),
        ("index.docker.io/library/centos", "docker.io", "library/centos", "latest", None),
        ("bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", None),
        ("localhost:5000/ns/repo:tag", "localhost:5000", "ns/repo", "tag", None),
        ("localhost/repo", "localhost", "repo", "latest", None),
        ("127.0.0.1:5000/repo", "127.0.0.1:5000", "repo", "latest", None),
        ("[::1]:5000/repo:v1", "[::1]:5000", "repo", "v1", None),
        ("ghcr.io/org/app@" + DIGEST, "ghcr.io", "org/app", None, DIGEST),
        ("quay.io/org/app:1.0@" + DIGEST, "quay.io", "org/app", "1.0", DIGEST),
        ("repo:tag@" + DIGEST, "docker.io", "library/repo", "tag", DIGEST),
        ("a/b-c__d.e/f", "docker.io", "a/b-c__d.e/f", "latest", None),
    ],
)
def test_valid_references(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


def test_normalised_string_and_api_host():
    ref = parse_reference("centos")
    assert str(ref) == "docker.io/library/centos:latest"
    assert ref.api_host == "registry-1.docker.io"
    assert parse_reference("ghcr.io/a/b").api_host == "ghcr.io"
    assert parse_reference("repo@" + DIGEST).identifier == DIGEST


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("UPPER", "lowercase"),
        ("ns/UPPER:tag", "lowercase"),
        ("repo:", "empty tag"),
        ("repo:.bad", "invalid tag"),
        ("repo:" + "t" * 129, "invalid tag"),
        ("repo@sha256:abc", "64 lowercase hex"),
        ("repo@md5:" + "0" * 32, "unsupported digest algorithm"),
        ("repo@sha256:" + "A" * 64, "lowercase hex"),
        ("a//b", "invalid repository"),
        ("-a/b", "invalid repository"),
        ("a/b-", "invalid repository"),
        ("host:port:x/repo", "invalid registry host"),
        ("example.com/", "missing repository"),
    ],
)
def test_invalid_references(text, message):
    with pytest.raises(InvalidReferenceError, match=message):
        parse_reference(text)


def test_name_length_limit():
    with pytest.raises(InvalidReferenceError, match="longer than 255"):
        parse_reference("a" * 250 + "/" + "b" * 10)
