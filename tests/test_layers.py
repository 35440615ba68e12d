"""The packages' layers point down, and only ``protocol`` touches ``cryptography.hazmat`` (design.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

# What each package may import of the project's own packages: lethe -> service, edge -> protocol, models, config.
ALLOWED = {
    "config": set(),
    "protocol": set(),
    "models": {"config"},
    "edge": {"protocol", "models", "config"},
    "service": {"protocol", "models", "config"},
    "lethe": {"service", "edge", "protocol", "models", "config"},
}


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    project = set(ALLOWED) - {package}
    upward = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _modules(package)
        for module in _imports(path)
        if module.split(".")[0] in project - ALLOWED[package]
    ]
    assert upward == []


def test_only_protocol_touches_cryptography_hazmat() -> None:
    outside = [
        f"{path.relative_to(ROOT)} imports {module}"
        for package in sorted(set(ALLOWED) - {"protocol"})
        for path in _modules(package)
        for module in _imports(path)
        if module.startswith("cryptography.hazmat")
    ]
    assert outside == []
