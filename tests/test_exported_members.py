"""The exported surface: what each module declares public, and that users import only that
(after httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

import cacheops

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("cacheops", "django_cacheops", "flask_cacheops")


def public_modules() -> list[str]:
    """Every module of the three packages whose name has no leading underscore."""
    names = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return sorted(names)


def declared(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    assert isinstance(names, list), f"{module.__name__} has no __all__ list"
    return names


@pytest.mark.parametrize("name", public_modules())
def test_every_public_module_declares_what_it_exports(name: str) -> None:
    module = importlib.import_module(name)
    names = declared(module)
    assert len(set(names)) == len(names), f"{name}.__all__ repeats a name"
    missing = [n for n in names if not hasattr(module, n)]
    assert missing == [], f"{name}.__all__ names what the module does not have"


def documented_names() -> list[str]:
    """The names docs/index.md lists under "What `import cacheops` gives"."""
    text = (REPO / "docs" / "index.md").read_text()
    listed = text.split("## What `import cacheops` gives", 1)[1].strip().split("\n\n")[0]
    return re.findall(r"`cacheops\.(\w+)`", listed)


def test_the_package_exports_exactly_what_the_docs_name() -> None:
    assert cacheops.__all__ == sorted(set(documented_names()))


def test_the_package_namespace_holds_nothing_undeclared() -> None:
    submodules = {info.name for info in pkgutil.iter_modules(cacheops.__path__)}
    public = {name for name in vars(cacheops) if not name.startswith("_")}
    assert public - submodules == {name for name in cacheops.__all__ if name[0] != "_"}


def test_every_error_is_exported_at_the_top() -> None:
    from cacheops import errors

    tree = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.CacheError)
    }
    assert tree == set(errors.__all__) & tree
    assert tree <= set(cacheops.__all__)


def test_the_version_is_the_distributions() -> None:
    assert cacheops.__version__ == importlib.metadata.version("cacheops")


def _imports_from_cacheops(path: Path) -> list[tuple[str, str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.ImportFrom)
            and not node.level
            and node.module is not None
            and node.module.split(".")[0] == "cacheops"
        ):
            found.extend((node.module, alias.name, node.lineno) for alias in node.names)
    return found


def test_integrations_and_examples_import_only_declared_names() -> None:
    undeclared = []
    for folder in ("integrations", "examples"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for module_name, name, line in _imports_from_cacheops(path):
                module = importlib.import_module(module_name)
                is_submodule = (
                    hasattr(module, "__path__")
                    and importlib.util.find_spec(f"{module_name}.{name}") is not None
                )
                if name not in declared(module) and not is_submodule:
                    undeclared.append(f"{path.relative_to(REPO)}:{line}: {module_name}.{name}")
    assert undeclared == []
