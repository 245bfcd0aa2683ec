"""The tests' own layout: shared helpers live in tests/support/ and conftest.py, never in a test module.

A test module imported by another runs its module-level code twice under two names and ties the
two files together (moving one broke the other's import when tests/ was re-formed). Read with
`ast`, so imports inside functions count too.
"""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imported_test_modules(source: str) -> list[str]:
    """The `test_*` modules that `source` imports (`import test_x`, `from test_x import y`,
    `from tests.front.test_x import y`, `from .test_x import y`), anywhere in the file."""
    def is_test(name):
        return any(part.startswith("test_") for part in name.split("."))

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if is_test(alias.name)]
        elif isinstance(node, ast.ImportFrom) and is_test(node.module or ""):
            found.append(node.module)
        elif isinstance(node, ast.ImportFrom):  # from tests.front import test_x
            found += [f"{node.module or ''}.{alias.name}" for alias in node.names if is_test(alias.name)]
    return found


def test_the_check_sees_every_form_of_import():
    source = ("import test_a\nfrom test_b import x\nfrom tests.front.test_c import y\nfrom . import test_d\n"
              "def f():\n    from .test_e import z\nimport world_helpers\nfrom kernel_client import Kernel\n")
    assert imported_test_modules(source) == ["test_a", "test_b", "tests.front.test_c", ".test_d", "test_e"]


def test_no_test_module_imports_another():
    test_files = sorted(TESTS.rglob("test_*.py"))
    assert len(test_files) > 20, test_files  # the glob found the suite
    offenders = {}
    for path in test_files + sorted((TESTS / "support").glob("*.py")):
        names = imported_test_modules(path.read_text())
        if names:
            offenders[str(path.relative_to(TESTS))] = names
    assert offenders == {}, f"move what they share to tests/support/ or a conftest.py: {offenders}"
