"""The fingerprint of the code that produced a cached model (private to :mod:`sedl.cache`).

:func:`_code_fingerprint` hashes the code behind a trainer and a model factory: a page's
own functions and classes by their source, what they name followed through globals,
closures and defaults, and every :mod:`sedl` module involved by its whole file. The
digest is the same in every process, so :func:`sedl.cache.cached` can put it in its key.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import os
import site
import sys
import sysconfig
import types
from collections.abc import Callable
from pathlib import Path

# Modules that shape every cached model whether or not a trainer names them: the training
# loop, the architectures, this cache and this fingerprint, the argument checks, the seeding,
# and the data loaders and the downloaded-wheel registry, whose source records the SHA-256 of
# every data file, so that a change of data changes the fingerprint as a change of code does,
# with the checksummed reads they go through.
_ALWAYS = ("sedl.train", "sedl.models", "sedl.cache", "sedl._fingerprint", "sedl.data",
           "sedl.checksums", "sedl.wheels", "sedl._checks", "sedl.repro")
# Constants whose repr holds no memory address and no set order, so it is the same in every process.
_SCALARS = (bool, int, float, complex, str, bytes, type(None))
_LIBRARY_DIRS = tuple(sorted({os.path.join(os.path.abspath(d), "") for d in (
    *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")),
    *site.getsitepackages(), site.getusersitepackages())}))


def _is_sedl(module: object) -> bool:
    return isinstance(module, str) and (module == "sedl" or module.startswith("sedl."))


def _is_library(obj: types.FunctionType | type) -> bool:
    """Whether ``obj`` comes from the standard library or an installed package other than sedl."""
    if isinstance(obj, types.FunctionType):
        file = obj.__code__.co_filename  # a notebook cell's function has a file of its own
        if file.startswith("<"):  # frozen modules are the standard library; exec'd code is not
            return file.startswith("<frozen")
    elif obj.__module__ == "__main__":  # a class defined in a notebook or a script
        return False
    else:
        file = getattr(sys.modules.get(obj.__module__), "__file__", None)
        if file is None:  # builtins and extension types
            return True
    return os.path.abspath(file).startswith(_LIBRARY_DIRS)


def _source(obj: types.FunctionType | type) -> str | None:
    """The source of ``obj`` (IPython keeps a cell's source where inspect finds it), or None."""
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return None


def _code_text(code: types.CodeType) -> str:
    """A process-independent text of a code object, for functions whose source is not at hand."""
    def const(c: object) -> str:
        if isinstance(c, types.CodeType):
            return _code_text(c)
        if isinstance(c, tuple | frozenset):  # a frozenset's order changes with the hash seed
            items = [const(item) for item in c]
            return f"{type(c).__name__}({sorted(items) if isinstance(c, frozenset) else items})"
        return repr(c)  # code constants are numbers, strings, bytes, None and Ellipsis
    return (f"code {code.co_name} {code.co_code.hex()} names={code.co_names} "
            f"vars={code.co_varnames} consts=[{', '.join(const(c) for c in code.co_consts)}]")


def _names(code: types.CodeType) -> list[str]:
    """The global and attribute names that ``code`` and the code nested in it use, in order."""
    nested = [n for c in code.co_consts if isinstance(c, types.CodeType) for n in _names(c)]
    return list(dict.fromkeys([*code.co_names, *nested]))


def _walk_function(fn: types.FunctionType, walk: Callable[[object, str], None]) -> list[str]:
    """The text of a page's function, after walking what it names, closes over and defaults to."""
    names = _names(fn.__code__)
    for name in names:
        value = fn.__globals__.get(name)
        if isinstance(value, types.ModuleType) and _is_sedl(value.__name__):
            for attr in names:  # `sedl.attacks.pgd` names sedl, attacks and pgd: reach attacks
                if isinstance(getattr(value, attr, None), types.ModuleType):
                    walk(getattr(value, attr), attr)
        if name in fn.__globals__:
            walk(value, name)
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True):
        try:
            walk(cell.cell_contents, name)
        except ValueError:  # an empty cell: a name the enclosing function had not yet bound
            pass
    for value in (*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values()):
        walk(value, "default")
    return [_source(fn) or _code_text(fn.__code__)]


def _walk_class(cls: type, walk: Callable[[object, str], None]) -> list[str]:
    """The text of a page's class, after walking its bases and everything defined in it."""
    for base in cls.__bases__:
        walk(base, "base")
    for name, value in sorted(vars(cls).items(), key=lambda item: item[0]):
        if isinstance(value, property):
            for accessor in (value.fget, value.fset, value.fdel):
                walk(accessor, name)
        else:  # staticmethod and classmethod wrap their function in __func__
            walk(getattr(value, "__func__", value), name)
    return [_source(cls) or f"class {cls.__qualname__}"]


def _with_imports(modules: set[str]) -> list[str]:
    """``modules`` and every sedl module that they import, sorted."""
    done: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, types.ModuleType):
                # A package gains each submodule as an attribute once it is imported anywhere:
                # following those would make the digest depend on the order of imports.
                other = None if value.__name__.startswith(f"{name}.") else value.__name__
            else:
                other = getattr(value, "__module__", None)
            if _is_sedl(other) and other not in done:
                todo.append(other)
    return sorted(done)


def _code_fingerprint(*objects: object) -> str:
    """SHA-256 (hex) of the code behind ``objects``: what a cached model was produced by.

    A page's own functions and classes count by their source (by their byte code where
    the source cannot be found), and so does everything they name, followed through their
    globals, closures and defaults; the plain constants they name (numbers, strings) count
    by value. A :mod:`sedl` module, or a sedl function or class, counts by the whole file
    of its module, together with the sedl modules it imports and those in ``_ALWAYS``.
    Other libraries count only through the torch version kept beside the fingerprint.
    Nothing that differs between processes (ids, addresses, the file names of notebook
    cells, the order of sets) enters the hash, so the same code gives the same digest.
    """
    texts: list[str] = []
    modules, seen = set(_ALWAYS), set()  # ids only stop cycles in this call; never hashed

    def walk(obj: object, label: str) -> None:
        if isinstance(obj, _SCALARS):
            texts.append(f"{label}={obj!r}")
            return
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, functools.partial):
            for item in (obj.func, *obj.args, *obj.keywords.values()):
                walk(item, label)
        elif isinstance(obj, types.MethodType):
            walk(obj.__func__, label)
        elif isinstance(obj, types.ModuleType):
            modules.update([obj.__name__] if _is_sedl(obj.__name__) else [])
        elif isinstance(obj, dict | list | tuple):  # a table of functions, say; not its data
            for item in obj.values() if isinstance(obj, dict) else obj:
                if callable(item) or isinstance(item, dict | list | tuple | types.ModuleType):
                    walk(item, label)
        elif not isinstance(obj, types.FunctionType | type):
            walk(type(obj), label)  # an instance counts by its class: data are config's job
        elif _is_sedl(obj.__module__):
            modules.add(obj.__module__)
        elif not _is_library(obj):
            texts.extend((_walk_class if isinstance(obj, type) else _walk_function)(obj, walk))

    for obj in objects:
        walk(obj, "")
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode() + b"\0")
    for name in _with_imports(modules):
        digest.update(name.encode() + b"\0" + Path(sys.modules[name].__file__).read_bytes() + b"\0")
    return digest.hexdigest()

