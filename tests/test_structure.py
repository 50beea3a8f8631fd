"""The package's layout rules: every module imports alone, no import cycles, and no
process-wide side effects at import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "toolkit"


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] != "__main__":
            names.append(".".join(parts))
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str) -> set[str]:
    """The toolkit modules ``module`` imports at run time (also inside functions)."""
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    is_package = not path.exists()
    if is_package:
        path = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    known = set(_modules())
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("toolkit"))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package.split(".")
                    parent = parent[: len(parent) - (child.level - 1)]
                    base = ".".join(parent + ([base] if base else []))
                if base.startswith("toolkit"):
                    for alias in child.names:
                        sub = f"{base}.{alias.name}"
                        found.add(sub if sub in known else base)
            visit(child)

    visit(ast.parse(path.read_text()))
    # A module's own package __init__ runs first whatever it imports: not an edge.
    return {m for m in found if m in known and m != module}


def test_no_import_cycles() -> None:
    graph = {m: _imports(m) for m in _modules()}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str], done: set[str]) -> None:
        if node in stack:
            cycles.append([*stack[stack.index(node) :], node])
            return
        if node in done:
            return
        for nxt in sorted(graph[node]):
            # A submodule importing its own package's __init__ is Python's order anyway.
            if node.startswith(nxt + "."):
                continue
            walk(nxt, [*stack, node], done)
        done.add(node)

    done: set[str] = set()
    for module in sorted(graph):
        walk(module, [], done)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_every_module_imports_alone() -> None:
    # One interpreter, the toolkit unloaded before each module (third-party libraries stay
    # loaded: a fresh interpreter per module takes a minute). The demo models stay too:
    # their tables live in SQLModel's metadata, which a second import would redefine.
    script = (
        "import importlib, sys\n"
        f"for name in {_modules()!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'toolkit']:\n"
        "        if loaded != 'toolkit.demo.models':\n"
        "            del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_import_registers_no_event_listeners() -> None:
    # Every listener goes through sqlalchemy.event.api.listen (listens_for calls it too).
    script = (
        "import importlib\n"
        "import sqlalchemy.event as event, sqlalchemy.event.api as api\n"
        "calls = []\n"
        "real = api.listen\n"
        "def spy(target, identifier, fn, *a, **k):\n"
        "    if getattr(fn, '__module__', '').startswith('toolkit'):\n"
        "        calls.append(f'{target!r} {identifier} {fn!r}')\n"
        "    return real(target, identifier, fn, *a, **k)\n"
        "event.listen = api.listen = spy\n"
        f"for name in {_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print('\\n'.join(calls))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"listeners registered at import: {done.stdout}"


def test_driver_modules_are_imported_lazily() -> None:
    script = (
        "import sys\n"
        "import toolkit, toolkit.frames, toolkit.crud\n"
        "lazy = ('asyncpg', 'aiosqlite', 'toolkit.drivers.sqlite', 'toolkit.drivers.postgresql')\n"
        "print([m for m in lazy if m in sys.modules])\n"
        "import toolkit.drivers\n"
        "toolkit.drivers.driver_for('sqlite')\n"
        "print('toolkit.drivers.sqlite' in sys.modules, 'asyncpg' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True False"]
