"""A derivation cache: ``Laws`` stored by the activation and the code that derived them.

Derived laws depend on the activation (its expression and parameters), on SymPy,
mpmath and neurodyn, and on the derivation code itself. The cache key is a
SHA-256 of all of them: the expression's ``srepr``, the parameters, the three
versions, and a digest of every Python source file of ``neurodyn.theory``, so
any change to the derivation code makes every entry a miss (a *stale* entry).

Two places, and only these two, are ever read:

* the package's own folder ``derived_laws/`` (committed entries for the
  catalogue, written by ``neurodyn cache --rebuild``;
  ``neurodyn cache --check`` exits 1 when an entry is stale or missing);
* the user cache, ``$XDG_CACHE_HOME/neurodyn/derived_laws`` (default
  ``~/.cache/neurodyn/derived_laws``), for the user's own expressions, written
  by :func:`store`; only files owned by the user and writable by no one else
  are read. ``NEURODYN_CACHE=off`` turns the user cache off.

>>> from neurodyn.theory import catalog
>>> len(key(catalog.get("tanh")))
64
>>> key(catalog.get("tanh")) == key(catalog.get("tanh")) != key(catalog.get("erf"))
True
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import os
import pickle
import tempfile
import time
from pathlib import Path

import mpmath
import sympy

from .activation import Activation
from .budget import generous, run_in_worker
from .errors import ActivationError, NeurodynError
from .laws import LAWS, Laws, derive_uncached
from .parse import parse_number

__all__ = ["load", "store", "rebuild", "check", "key", "source_digest", "PACKAGE_DIR", "user_dir"]

_THEORY = Path(__file__).resolve().parent
#: The folder of the committed catalogue entries (package data).
PACKAGE_DIR = _THEORY / "derived_laws"
#: Seconds one catalogue derivation may take in :func:`rebuild` before its worker is stopped.
REBUILD_TIMEOUT = 150.0
#: Every budget of a catalogue derivation in :func:`rebuild` is this many times the default.
REBUILD_GENEROSITY = 4.0
_SUFFIX = ".pickle"
_FORMAT = 1


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 of the Python sources of ``neurodyn.theory`` (paths and contents)."""
    h = hashlib.sha256()
    for path in sorted(_THEORY.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        h.update(path.relative_to(_THEORY).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def _neurodyn_version() -> str:
    try:
        return importlib.metadata.version("neurodyn")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _exact(value) -> str:
    """A parameter value as an exact number (``1.0`` and ``1`` are one key)."""
    try:
        return str(parse_number(str(value)))
    except ActivationError:
        return str(value)


def _key_fields(activation: Activation) -> dict:
    return {
        "format": _FORMAT,
        "expr": sympy.srepr(activation.expr),
        "params": [[str(name), _exact(value)] for name, value in activation.params],
        "sympy": sympy.__version__,
        "mpmath": mpmath.__version__,
        "neurodyn": _neurodyn_version(),
        "theory": source_digest(),
        "laws": list(LAWS),
    }


def key(activation: Activation) -> str:
    """The cache key of ``activation`` (64 hex digits; see the module docstring)."""
    text = json.dumps(_key_fields(activation), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def user_dir() -> Path | None:
    """The user cache folder, or None when ``NEURODYN_CACHE=off``."""
    if os.environ.get("NEURODYN_CACHE", "").strip().lower() in ("off", "0", "no", "false"):
        return None
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "neurodyn" / "derived_laws"


def _trusted(path: Path) -> bool:
    """A user-cache file is read only if it is ours and no one else may write it."""
    try:
        st = path.stat()
    except OSError:
        return False
    if not path.is_file():
        return False
    if hasattr(os, "getuid"):
        return st.st_uid == os.getuid() and not st.st_mode & 0o022
    return True


def _read(path: Path, fields: dict) -> Laws | None:
    try:
        with open(path, "rb") as fh:
            stored = pickle.load(fh)
    except Exception:                   # noqa: BLE001 - a damaged or outdated entry is a miss
        return None
    if not (isinstance(stored, dict) and stored.get("key") == fields and isinstance(stored.get("laws"), Laws)):
        return None
    return stored["laws"]


def load(activation: Activation) -> Laws | None:
    """The cached laws of ``activation``, or None (a miss).

    The package folder is tried first, then the user cache. The returned laws
    carry ``activation`` itself (its name may differ from the one stored).
    """
    fields = _key_fields(activation)
    name = key(activation) + _SUFFIX
    places = [PACKAGE_DIR / name]
    folder = user_dir()
    if folder is not None and _trusted(folder / name):
        places.append(folder / name)
    for path in places:
        if path.is_file():
            laws = _read(path, fields)
            if laws is not None:
                return dataclasses.replace(laws, activation=activation)
    return None


def _write(folder: Path, activation: Activation, laws: Laws) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / (key(activation) + _SUFFIX)
    payload = pickle.dumps({"key": _key_fields(activation), "laws": laws}, protocol=4)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def store(activation: Activation, laws: Laws) -> Path | None:
    """Keep ``laws`` of ``activation`` in the user cache; returns the file (None when off).

    A folder that cannot be written is not an error: the laws are simply not kept.
    """
    if not isinstance(laws, Laws) or laws.activation.expr != activation.expr:
        raise NeurodynError("store(activation, laws): the laws were not derived for this activation")
    folder = user_dir()
    if folder is None:
        return None
    try:
        return _write(folder, activation, laws)
    except OSError:
        return None


def _catalogue(names=None) -> dict[str, Activation]:
    from . import catalog
    chosen = catalog.names() if names is None else list(names)
    return {name: catalog.get(name) for name in chosen}


def _derive_generously(activation: Activation) -> Laws:
    with generous(REBUILD_GENEROSITY):
        return derive_uncached(activation)


def rebuild(names=None, *, out=None) -> list[Path]:
    """Derive the catalogue entries afresh (each in a worker process) into the package folder.

    With ``names=None`` every catalogue entry is derived and files of entries no
    longer current are removed. Returns the files written.
    """
    written = []
    for name, act in _catalogue(names).items():
        started = time.monotonic()
        laws = run_in_worker(_derive_generously, act, timeout=REBUILD_TIMEOUT, what=f"deriving {name}")
        written.append(_write(PACKAGE_DIR, act, laws))
        closed = sum(1 for law in laws if law.closed)
        if out is not None:
            print(f"{name}: {closed}/{len(laws.entries)} laws in closed form "
                  f"({time.monotonic() - started:.1f} s)", file=out)
    if names is None:
        keep = {p.name for p in written}
        for stale in PACKAGE_DIR.glob("*" + _SUFFIX):
            if stale.name not in keep:
                stale.unlink()
    return written


def check() -> list[str]:
    """Problems of the committed cache: catalogue entries missing or stale, files left over."""
    problems, expected = [], set()
    for name, act in _catalogue().items():
        file = key(act) + _SUFFIX
        expected.add(file)
        path = PACKAGE_DIR / file
        if not path.is_file():
            problems.append(f"{name}: missing or stale")
        elif _read(path, _key_fields(act)) is None:
            problems.append(f"{name}: unreadable")
    for path in sorted(PACKAGE_DIR.glob("*" + _SUFFIX)):
        if path.name not in expected:
            problems.append(f"{path.name}: stale file")
    return problems
