"""The two halves of mia_lib stay apart: the science library never imports the book machinery, and the Sphinx
extension that every book build loads imports only the standard library (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "mia_lib"


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(LIB.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def test_science_library_never_imports_the_book_machinery():
    science = [p for p in LIB.rglob("*.py") if "book" not in p.relative_to(LIB).parts and p.name != "__main__.py"]
    assert len(science) > 20
    offenders = {
        str(p.relative_to(LIB)): sorted(n for n in _imports(p) if n.startswith("mia_lib.book")) for p in science
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_sphinx_extension_imports_only_the_standard_library():
    names = _imports(LIB / "book" / "sphinx_ext.py")
    top = {n.split(".")[0] for n in names} - {"__future__"}
    assert top <= set(sys.stdlib_module_names), top - set(sys.stdlib_module_names)


def test_the_checker_sees_relative_imports():
    # the command line is the one module outside book/ that imports it, with a relative import
    assert any(n.startswith("mia_lib.book") for n in _imports(LIB / "__main__.py"))
