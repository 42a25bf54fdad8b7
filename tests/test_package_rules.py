"""Which package may import which, read from the source (every import, also inside functions).

    shared          nothing of the project: the ground floor both sides stand on
    device_drivers  shared
    gateway         shared, device_drivers          (a gateway is deployed without the cloud)
    cloud_api       shared                          (the cloud knows nothing of serial ports)
    simulators      shared, device_drivers, gateway, cloud_api
    mektep          anything: the command line that wires the others together

and no two packages import each other, directly or round a longer cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED: dict[str, frozenset[str]] = {
    "shared": frozenset(),
    "device_drivers": frozenset({"shared"}),
    "gateway": frozenset({"shared", "device_drivers"}),
    "cloud_api": frozenset({"shared"}),
    "simulators": frozenset({"shared", "device_drivers", "gateway", "cloud_api"}),
    "mektep": frozenset({"shared", "device_drivers", "gateway", "cloud_api", "simulators"}),
}


def imports_of(package: str, root: Path = ROOT) -> Iterator[tuple[str, int, str]]:
    """(file, line, imported project package) for every import of another project package in ``package``."""
    for path in sorted((root / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in ALLOWED and top != package:
                    yield str(path.relative_to(root)), node.lineno, top


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_lies_below_it(package: str) -> None:
    wrong = [f"{file}:{line} imports {top}" for file, line, top in imports_of(package) if top not in ALLOWED[package]]
    assert not wrong, (
        f"{package} may import only {sorted(ALLOWED[package]) or 'nothing of the project'}:\n" + "\n".join(wrong)
    )


def test_no_two_packages_import_each_other() -> None:
    graph = {package: {top for _, _, top in imports_of(package)} for package in ALLOWED}
    state: dict[str, str] = {}

    def visit(package: str, path: list[str]) -> None:
        state[package] = "open"
        for below in sorted(graph[package]):
            if state.get(below) == "open":
                cycle = [*path[path.index(below) :], below] if below in path else [package, below]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if below not in state:
                visit(below, [*path, below])
        state[package] = "done"

    for package in sorted(graph):
        if package not in state:
            visit(package, [package])


def test_the_check_finds_an_import_made_inside_a_function(tmp_path: Path) -> None:
    # The kind of import that hides best: made lazily, in a function, of the cloud by the gateway.
    (tmp_path / "gateway").mkdir()
    (tmp_path / "gateway" / "late.py").write_text("def f():\n    from cloud_api.contract import Event\n")
    assert list(imports_of("gateway", tmp_path)) == [("gateway/late.py", 2, "cloud_api")]
