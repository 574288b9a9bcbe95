"""Facts about the package's shape, read from its source with ``ast``: no import circle among
imgexplore's modules (imports inside functions count; ``if TYPE_CHECKING:`` ones do not, as
they never run), and the model knows nothing of presentation, registries, the CLI or corpora."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "imgexplore"
MODEL = [
    "imgexplore.image",
    "imgexplore.manifest",
    "imgexplore.reference",
    "imgexplore.mediatypes",
    "imgexplore.platforms",
]
FORBIDDEN_TO_MODEL = (
    "imgexplore.present",
    "imgexplore.output",
    "imgexplore.report",
    "imgexplore.viz",
    "imgexplore.registry",
    "imgexplore.cli",
    "imgexplore.corpus",
)


def _modules() -> dict[str, pathlib.Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _runtime_imports(tree: ast.AST):
    """Import nodes that run: everything but the bodies of ``if TYPE_CHECKING:``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in _runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                submodules = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
                targets = submodules if len(submodules) == len(node.names) else [target, *submodules]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_analysis_sees_the_imports():
    graph = import_graph()
    assert "imgexplore.filetree.rules" in graph["imgexplore.filetree.imagefiles"]
    assert "imgexplore.display" in graph["imgexplore.image"]
    assert "imgexplore.image" not in graph["imgexplore.rows"]  # only under TYPE_CHECKING there


def test_no_import_circle():
    assert _cycles(import_graph()) == []


@pytest.mark.parametrize("module", MODEL)
def test_the_model_imports_no_presentation_registry_cli_or_corpus(module):
    imported = import_graph()[module]
    assert not [m for m in imported if m.startswith(FORBIDDEN_TO_MODEL)]


def test_the_package_imports_light():
    """Opening a local image's metadata needs neither the HTTP stack nor pandas."""
    import subprocess
    import sys

    code = (
        "import sys, imgexplore; imgexplore.open_image('data/teaching/oci');"
        "print(sorted(m for m in ('httpx', 'pandas', 'matplotlib', 'dask') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent, check=True
    )
    assert out.stdout.strip() == "[]"


def test_every_error_is_exported_and_one_of_ours():
    import inspect

    import imgexplore
    from imgexplore import errors

    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__]
    assert len(classes) >= 20
    for cls in classes:
        assert issubclass(cls, imgexplore.ImgExploreError), cls
        assert getattr(imgexplore, cls.__name__) is cls and cls.__name__ in imgexplore.__all__, cls


def test_no_bare_library_error_is_raised():
    """Each failure raises a leaf a caller can catch on its own, never the bare base class."""
    offenders = [
        f"{path.relative_to(PACKAGE)}:{n}"
        for path in PACKAGE.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "raise ImgExploreError(" in line
    ]
    assert offenders == []


def test_the_command_line_starts_light():
    """``imgexplore --help``, ``--version`` and argument errors load neither pandas nor
    matplotlib nor the HTTP stack (they cost ~0.6 s and ~120 MB before a command has even
    parsed its arguments), nor the image model (the package's top level loads it on use)."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom imgexplore.cli import main\n"
        "for argv in (['--help'], ['--version'], ['tree', 'x', '--layer', 'abc']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "heavy = ('pandas', 'matplotlib', 'httpx', 'dask', 'pyarrow', 'imgexplore.image', 'imgexplore.opener')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert out.stderr.strip().splitlines()[-1] == "[]"
