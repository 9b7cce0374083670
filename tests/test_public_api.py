"""Every public function of sedl has a test of its bad inputs, where a reader looks for it.

A public function is a function named in a module's ``__all__``. Its test is
``test_<function>_bad_input`` in ``tests/test_<module>.py``, ``<module>`` being the module
that defines it (a re-exported function is tested once, beside its code). A function that
takes no arguments has no bad input and is left out. The failure lists every function still
without such a test, so that the list is the work left.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import sedl

TESTS = Path(__file__).parent


def public_modules() -> list[str]:
    """Every module of the package whose name does not start with an underscore."""
    return sorted(f"sedl.{info.name}" for info in pkgutil.iter_modules(sedl.__path__)
                  if not info.name.startswith("_"))


def public_functions() -> dict[str, tuple[str, str]]:
    """``"module.function"`` -> (module that defines it, function name), for every function
    in an ``__all__`` that takes at least one argument."""
    found = {}
    for name in public_modules():
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if not inspect.isfunction(obj) or not inspect.signature(obj).parameters:
                continue
            home = obj.__module__ if obj.__module__.startswith("sedl.") else name
            if home.rsplit(".", 1)[1].startswith("_"):  # defined in a private helper module
                home = name
            found[f"{home}.{obj.__name__}"] = (home, obj.__name__)
    return found


def _test_names(path: Path) -> set[str]:
    """The names of the test functions defined at the top level of a test file."""
    if not path.is_file():
        return set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def missing_bad_input_tests() -> list[str]:
    missing = []
    for qualified, (home, function) in sorted(public_functions().items()):
        test_file = TESTS / f"test_{home.rsplit('.', 1)[1]}.py"
        if f"test_{function}_bad_input" not in _test_names(test_file):
            missing.append(f"{qualified}: no test_{function}_bad_input in tests/{test_file.name}")
    return missing


def test_the_walk_finds_the_packages_functions():
    functions = public_functions()
    # Known members of the plumbing: the walk must see them, or it checks nothing.
    assert {"sedl.train.fit", "sedl.data.mnist", "sedl.checksums.read_verified"} <= set(functions)
    assert "sedl.models.cached" not in functions  # re-exported: counted once, in sedl.cache
    assert "sedl.cache.cached" in functions
    assert "sedl.repro.device" not in functions  # no arguments, no bad input


def test_every_public_function_has_a_bad_input_test():
    missing = missing_bad_input_tests()
    assert not missing, (f"{len(missing)} public functions have no bad-input test:\n  "
                         + "\n  ".join(missing))
