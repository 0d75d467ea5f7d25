"""The distribution's shape: what a user can import and rely on."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import cacheops


def test_integration_packages_install_as_top_level_names() -> None:
    for name in ("django_cacheops", "flask_cacheops"):
        module = importlib.import_module(name)
        assert Path(module.__file__ or "").parent.name == name


def test_package_is_typed() -> None:
    assert (Path(cacheops.__file__).parent / "py.typed").is_file()


def test_core_imports_neither_django_nor_flask() -> None:
    root = Path(cacheops.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        for framework in ("django", "flask"):
            assert f"import {framework}" not in text, path
            assert f"from {framework}" not in text, path


def test_importing_every_core_module_loads_no_framework() -> None:
    """At run time too: no dependency of the core pulls Django or Flask in behind it."""
    code = (
        "import pkgutil, importlib, sys, cacheops\n"
        "for m in pkgutil.walk_packages(cacheops.__path__, 'cacheops.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'django', 'flask', 'flask_caching', 'django_cacheops', 'flask_cacheops'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_docs_page_has_a_title_and_content() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs"
    pages = sorted(docs.rglob("*.md"))
    assert len(pages) >= 10
    for page in pages:
        text = page.read_text()
        assert text.startswith("# "), page
        assert len(text.splitlines()) > 5, page
