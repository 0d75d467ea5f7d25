"""Dependencies run one way: admin -> backends' public API, never back; no import cycles.

The import graph is read from the source (every module's AST), so a cycle that only a
rarely taken code path would close is found too: an import inside a function counts, one
under ``if TYPE_CHECKING:`` does not (it never runs).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

import cacheops
from cacheops.admin import Admin, Stats, register_admin
from cacheops.admin.memcache import MemcacheAdmin
from cacheops.backend import Backend
from cacheops.backends.memcache import MemcacheBackend
from cacheops.backends.memory import MemoryBackend
from cacheops.config import Server

ROOT = Path(cacheops.__file__).parent


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runs(node: ast.If) -> bool:
    """False for ``if TYPE_CHECKING:`` (and ``typing.TYPE_CHECKING``)."""
    test = node.test
    name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
    return name != "TYPE_CHECKING"


def imported_names(path: Path, modules: Collection[str], root: Path = ROOT) -> Iterator[str]:
    """Every module name ``path`` imports when it runs, resolved to absolute names:
    ``from package import name`` is ``package.name`` when that is one of ``modules``
    (the package itself is already loaded, as the parent of this module), else ``package``."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def walk(nodes: list[ast.stmt]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.If) and not _runs(node):
                yield from walk(node.orelse)
                continue
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                for alias in node.names:
                    yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    yield from walk([c for c in children if isinstance(c, ast.stmt)])
            for handler in getattr(node, "handlers", []):
                yield from walk(handler.body)

    yield from walk(ast.parse(path.read_text(), str(path)).body)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports at run time."""
    paths = {module_name(p, root): p for p in root.rglob("*.py")}
    return {
        name: {m for m in imported_names(path, paths, root) if m in paths and m != name}
        for name, path in paths.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def by_package(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between the parts of cacheops: ``cacheops.admin.memory`` counts as
    ``cacheops.admin``, ``cacheops.backend`` as itself, the package's __init__ as ``cacheops``."""

    def part(name: str) -> str:
        return ".".join(name.split(".")[:2])

    collapsed: dict[str, set[str]] = {}
    for name, targets in graph.items():
        collapsed.setdefault(part(name), set()).update(
            part(t) for t in targets if part(t) != part(name)
        )
    return collapsed


def test_the_walker_sees_function_level_imports_and_skips_type_checking(
    tmp_path: Path,
) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from .. import b, name_in_init\n")
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from . import c\n"
        "def f():\n    try:\n        from .sub import x\n    except ImportError:\n"
        "        import pkg.b\n"
    )
    for name in ("b", "c"):
        (package / f"{name}.py").write_text("from . import a\n")
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.sub", "pkg.b"}
    assert graph["pkg.sub"] == {"pkg", "pkg.b"}
    # c -> a only: a reaches c under TYPE_CHECKING, which never runs
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub"]]


def test_no_import_cycle_between_modules() -> None:
    assert cycles(import_graph()) == []


def test_no_import_cycle_between_the_parts_of_the_package() -> None:
    assert cycles(by_package(import_graph())) == []


def test_backends_never_import_the_admin_side() -> None:
    graph = import_graph()
    wrong = {
        (name, target)
        for name, targets in graph.items()
        if name == "cacheops.backend" or name.startswith("cacheops.backends")
        for target in targets
        if target.startswith("cacheops.admin")
    }
    assert wrong == set()


def test_admins_use_only_the_public_api_of_their_backend() -> None:
    """No ``backend._anything`` (nor ``self._backend._anything``) on the admin side."""
    private = []
    for path in sorted((ROOT / "admin").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and "backend" in ast.unparse(node.value).lower()
            ):
                private.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert private == []


def test_importing_cacheops_loads_no_backend_client() -> None:
    """The admins register by the backends' dotted names so that ``import cacheops``
    (which fills the registry) still imports neither pymemcache nor requests."""
    code = (
        "import sys, cacheops\n"
        "print(sorted(m for m in ('pymemcache', 'requests', 'cacheops.backends.memcache',"
        " 'cacheops.backends.ironcache') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the admin registry ------------------------------------------------------------------


def test_every_registered_name_is_a_backend_class() -> None:
    from cacheops.backend import _admin_factories

    assert len(_admin_factories) >= 3
    for dotted in _admin_factories:
        module, _, name = dotted.rpartition(".")
        cls = getattr(__import__(module, fromlist=[name]), name)
        assert issubclass(cls, Backend), dotted


class _Plugin(MemoryBackend):
    """What a third-party backend looks like to the registry (a real store underneath)."""


class _PluginAdmin(Admin):
    def __init__(self, backend: _Plugin) -> None:
        self.backend = backend

    def flush(self) -> None:
        self.backend.clear()

    def stats(self) -> Stats:
        return Stats(backend="plugin", items=self.backend.counters()["items"])

    def info(self) -> dict[str, Any]:
        return {"backend": "plugin"}


def _unregistered() -> Backend:
    """A backend class nobody registered an admin for (its hooks never run here)."""
    hooks: dict[str, Any] = {name: lambda self, *args: None for name in Backend.__abstractmethods__}
    return type("Unregistered", (Backend,), {**hooks, "scheme": "unregistered"})()


def test_a_third_party_backend_registers_its_admin() -> None:
    assert type(_Plugin().admin).__name__ == "MemoryAdmin"  # inherited from its base class
    register_admin(_Plugin, _PluginAdmin)
    plugin = _Plugin()
    plugin.put("k", 1)
    assert isinstance(plugin.admin, _PluginAdmin)
    assert plugin.admin is plugin.admin
    assert plugin.admin.stats().items == 1
    plugin.admin.flush()
    assert plugin.get("k") is None
    assert type(MemoryBackend().admin).__name__ == "MemoryAdmin"  # the base is unchanged


def test_a_backend_without_a_registered_admin_says_how_to_register_one() -> None:
    with pytest.raises(cacheops.NotSupported, match="register_admin"):
        _ = _unregistered().admin


# -- the public API the admins use -------------------------------------------------------


def test_for_each_server_runs_on_every_server_with_the_backends_errors(
    memcached_cluster_url: str,
) -> None:
    cache = cacheops.connect(memcached_cluster_url)
    assert isinstance(cache, MemcacheBackend)
    versions = cache.for_each_server(lambda client: client.version())
    assert set(versions) == set(cache.servers) and len(versions) == 3
    assert all(isinstance(server, Server) for server in versions)
    down = MemcacheBackend(servers=[Server("127.0.0.1", 1)], connect_timeout=0.5)
    with pytest.raises(cacheops.BackendUnavailable):
        down.for_each_server(lambda client: client.version())


def test_memcache_clear_and_admin_flush_reach_every_server(memcached_cluster_url: str) -> None:
    cache = cacheops.connect(memcached_cluster_url)
    assert isinstance(cache, MemcacheBackend) and isinstance(cache.admin, MemcacheAdmin)
    keys = [f"k{i}" for i in range(30)]
    cache.put_many(dict.fromkeys(keys, 1))
    cache.clear()
    assert cache.get_many(keys) == {}
    cache.put_many(dict.fromkeys(keys, 1))
    cache.admin.flush()
    assert cache.get_many(keys) == {}


def test_memory_counters_are_one_snapshot() -> None:
    cache = MemoryBackend(max_items=10, max_bytes=None)
    cache.put("a", 1)
    cache.get("a")
    cache.get("missing")
    counters = cache.counters()
    assert counters["hits"] == 1 and counters["misses"] == 1 and counters["items"] == 1
    assert counters["limit_items"] == 10 and counters["limit_bytes"] is None
    assert (cache.max_items, cache.max_bytes) == (10, None)
    counters["hits"] = 99  # a copy: the store's own counters are not exposed to writes
    assert cache.counters()["hits"] == 1
