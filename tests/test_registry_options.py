"""Registry settings are one object that every command and every worker honours: each
command run with --ca-bundle against the tests' TLS registry, --insecure and --schema1 seen
by the client they build, and a corpus scan's workers reading schema 1 when asked."""

from __future__ import annotations

import pickle

import pytest

import imgexplore
from imgexplore.cli import build_parser, main
from imgexplore.registry import RegistryOptions
from imgexplore.transfer import push


@pytest.fixture(scope="module")
def tls_image(tls_registry, data_dir):
    registry, ca_path = tls_registry
    reference = f"{registry.host}/options/teaching:latest"
    push(str(data_dir / "teaching" / "oci"), reference, registry=RegistryOptions(ca_bundle=ca_path))
    return reference, ca_path


def _commands(reference: str, tmp_path) -> list[list[str]]:
    host, repository = reference.split("/", 1)[0], reference.split("/", 1)[1].split(":")[0]
    return [
        ["inspect", reference],
        ["layers", reference],
        ["history", reference],
        ["platforms", reference],
        ["tree", reference, "--layer", "3"],
        ["lineage", reference, "app/config.json"],
        ["waste", reference],
        ["cat", reference, "app/config.json"],
        ["extract", reference, "app", "--dest", str(tmp_path / "x")],
        ["report", reference, "-o", str(tmp_path / "report")],
        ["dag", reference],
        ["diff", reference, reference],
        ["pull", reference, "--dest", str(tmp_path / "pulled"), "--quiet"],
        ["push", str(tmp_path / "pulled"), f"{host}/options/copy:1"],
        ["tags", f"{host}/{repository}"],
        [
            "corpus",
            "scan",
            host,
            "--registry",
            "--out",
            str(tmp_path / "corpus"),
            "--workers",
            "1",
            "--quiet",
        ],
    ]


def test_every_command_honours_ca_bundle(tls_image, tmp_path, isolated_cache, capsys):
    reference, ca_path = tls_image
    for argv in _commands(reference, tmp_path):
        # without the CA, a loopback registry is spoken to in plain HTTP, which it refuses...
        if argv[0] not in ("push", "corpus"):  # (push needs the pull below first; corpus is slow)
            assert main(argv) == 1, argv
            assert "speaks HTTPS, not plain HTTP: give the CA" in capsys.readouterr().err, argv
        # ...with it, every command works over https
        assert main([*argv, "--ca-bundle", ca_path]) == 0, (argv, capsys.readouterr().err)
        capsys.readouterr()


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect", "registry.example:5000/x:1"],
        ["tree", "registry.example:5000/x:1"],
        ["cat", "registry.example:5000/x:1", "etc/passwd"],
        ["dag", "registry.example:5000/x:1"],
        ["diff", "registry.example:5000/x:1", "registry.example:5000/y:1"],
        ["platforms", "registry.example:5000/x:1"],
        ["pull", "registry.example:5000/x:1", "--dest", "d"],
        ["push", "data/teaching/oci", "registry.example:5000/x:1"],
        ["tags", "registry.example:5000/x"],
        ["corpus", "scan", "registry.example:5000", "--registry", "--out", "d"],
    ],
)
def test_insecure_reaches_the_client(argv):
    """--insecure means plain HTTP to a registry that is not on this machine (nothing is sent
    here: the client is only built, from the options the command line made)."""
    from imgexplore.cli import _registry_options

    args = build_parser().parse_args([*argv, "--insecure"])
    client = _registry_options(args).client("registry.example:5000")
    assert client.base == "http://registry.example:5000"
    plain = _registry_options(build_parser().parse_args(argv)).client("registry.example:5000")
    assert plain.base == "https://registry.example:5000"


def test_schema1_reaches_the_corpus_workers(registry, data_dir, tmp_path, isolated_cache):
    """The options travel to Dask worker processes (they pickle); there they ask for schema 1."""
    from imgexplore.corpus import read_table

    reference = f"{registry.host}/options/schema1:latest"
    push(str(data_dir / "teaching" / "oci"), reference)
    options = RegistryOptions(schema1=True)
    assert pickle.loads(pickle.dumps(options)) == options
    assert (
        main(
            [
                "corpus",
                "scan",
                registry.host,
                "--registry",
                "--out",
                str(tmp_path / "ds"),
                "--workers",
                "1",
                "--quiet",
                "--schema1",
            ]
        )
        == 0
    )
    images = read_table(tmp_path / "ds", "images")
    row = images[images["spec"] == reference].iloc[0]
    assert row["media_type"] == imgexplore.mediatypes.DOCKER_SCHEMA1_SIGNED


def test_options_are_checked():
    with pytest.raises(imgexplore.InvalidArgumentError, match="max_retries must be a count"):
        RegistryOptions(max_retries=-1)
    with pytest.raises(imgexplore.InvalidArgumentError, match="registry must be a RegistryOptions"):
        imgexplore.open_image("data/teaching/oci", registry={"insecure": True})


def test_registry_commands_import_no_data_stack(registry, data_dir, tmp_path, isolated_cache):
    """pull, push, tags and cache move bytes and names: they never load pandas, pyarrow,
    matplotlib or dask (each costs start-up time and memory a user pays on every such command),
    nor the click and pygments that httpx imports for its own command line."""
    import subprocess
    import sys

    reference = f"{registry.host}/options/light:1"
    code = (
        "import sys\nfrom imgexplore.cli import main\n"
        "assert main(sys.argv[1:]) == 0\n"
        "heavy = ('pandas', 'pyarrow', 'matplotlib', 'dask', 'click', 'pygments')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)"
    )
    for argv in (
        ["push", str(data_dir / "teaching" / "oci"), reference],
        ["pull", reference, "--dest", str(tmp_path / "pulled"), "--quiet"],
        ["tags", reference.rsplit(":", 1)[0]],
        ["cache"],
        ["cache", "--format", "csv"],
    ):
        out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stderr.strip().splitlines()[-1] == "[]", (argv, out.stderr)
