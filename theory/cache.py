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
import json
import os
from pathlib import Path

import mpmath

from .errors import ActivationError, NeurodynError

__all__ = ["load", "store", "rebuild", "check", "key", "source_digest", "PACKAGE_DIR", "user_dir",
           "read_program", "write_program", "program_fields"]

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
    import importlib.metadata
    try:
        return importlib.metadata.version("neurodyn")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _exact(value) -> str:
    """A parameter value as an exact number (``1.0`` and ``1`` are one key)."""
    from .parse import parse_number
    try:
        return str(parse_number(str(value)))
    except ActivationError:
        return str(value)


def _key_fields(activation) -> dict:
    import sympy

    from neurodyn.theory import LAWS       # through the package: every law module is loaded, the list is complete

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


def key(activation) -> str:
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


def _read(path: Path, fields: dict):
    import pickle

    from .laws import Laws
    try:
        with open(path, "rb") as fh:
            stored = pickle.load(fh)
    except Exception:                   # noqa: BLE001 - a damaged or outdated entry is a miss
        return None
    if not (isinstance(stored, dict) and stored.get("key") == fields and isinstance(stored.get("laws"), Laws)):
        return None
    return stored["laws"]


def load(activation):
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


def _write(folder: Path, activation, laws) -> Path:
    import pickle
    payload = pickle.dumps({"key": _key_fields(activation), "laws": laws}, protocol=4)
    return _write_bytes(folder, key(activation) + _SUFFIX, payload)


def _write_bytes(folder: Path, name: str, payload: bytes) -> Path:
    import tempfile
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=Path(name).suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def store(activation, laws) -> Path | None:
    """Keep ``laws`` of ``activation`` in the user cache; returns the file (None when off).

    A folder that cannot be written is not an error: the laws are simply not kept.
    """
    from .laws import Laws
    if not isinstance(laws, Laws) or laws.activation.expr != activation.expr:
        raise NeurodynError("store(activation, laws): the laws were not derived for this activation")
    folder = user_dir()
    if folder is None:
        return None
    try:
        return _write(folder, activation, laws)
    except OSError:
        return None


def _catalogue(names=None) -> dict:
    from . import catalog
    chosen = catalog.names() if names is None else list(names)
    return {name: catalog.get(name) for name in chosen}


def _derive_generously(activation):
    from .budget import generous
    from .laws import derive_uncached
    with generous(REBUILD_GENEROSITY):
        return derive_uncached(activation)


def rebuild(names=None, *, out=None) -> list[Path]:
    """Derive the catalogue entries afresh (each in a worker process) into the package folder.

    With ``names=None`` every catalogue entry is derived and files of entries no
    longer current are removed. Returns the files written.
    """
    import time

    from .budget import run_in_worker
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


def check(program_checks: dict | None = None) -> list[str]:
    """Problems of the committed cache: catalogue entries missing or stale, files left over.

    Each entry's compiled program must belong to the entry's current key and carry
    ``program_checks`` (the numeric side's, see :func:`read_program`) when given.
    """
    problems, expected = [], set()
    for name, act in _catalogue().items():
        file = key(act) + _SUFFIX
        expected.add(file)
        path = PACKAGE_DIR / file
        if not path.is_file():
            problems.append(f"{name}: missing or stale")
        elif _read(path, _key_fields(act)) is None:
            problems.append(f"{name}: unreadable")
        record = _read_record(PACKAGE_DIR / (name + PROGRAM_SUFFIX))
        if record is None or record.get("fast") != program_fields(name) or record.get("key") != key(act) \
                or (program_checks is not None and record.get("checks") != program_checks):
            problems.append(f"{name}: compiled program missing or stale")
    for path in sorted(PACKAGE_DIR.glob("*" + _SUFFIX)):
        if path.name not in expected:
            problems.append(f"{path.name}: stale file")
    return problems


# ----------------------------------------------------------------------------------------
# compiled programs: the generated numeric source of a catalogue entry's laws
# ----------------------------------------------------------------------------------------
#: Suffix of a catalogue entry's compiled program (``tanh.program.json``, next to the pickles).
PROGRAM_SUFFIX = ".program.json"


def program_fields(name: str) -> dict:
    """What a catalogue entry's program is checked against when it is read, computed without SymPy.

    The cache key of the entry (see :func:`key`) is a function of these: the entry's
    expression and parameters are fixed by its name, its default parameters and the
    sources of ``neurodyn.theory`` (``catalog_entries.py``, ``parse.py`` ...), and so
    is the law registry; SymPy's version is read from the ``sympy/release.py`` that
    would be imported, neurodyn's from its installed ``.dist-info``. A program
    written for other fields is stale (a miss).
    """
    from .catalog_entries import ENTRIES
    return {
        "format": _FORMAT,
        "name": name,
        "params": [[k, str(v)] for k, v in ENTRIES[name].defaults],
        "sympy": _sympy_release(),
        "mpmath": mpmath.__version__,
        "neurodyn": _dist_info_version("neurodyn"),
        "theory": source_digest(),
    }


def _sympy_release() -> str:
    """``sympy.__version__`` without importing SymPy (it is defined in ``sympy/release.py``)."""
    import importlib.util
    import re
    try:
        spec = importlib.util.find_spec("sympy")
        text = (Path(spec.origin).parent / "release.py").read_text(encoding="utf-8")
    except (AttributeError, ImportError, OSError, TypeError, ValueError):
        return "unknown"
    match = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
    return match.group(1) if match else "unknown"


def _dist_info_version(project: str) -> str:
    """The version in the name of ``project``'s first ``NAME-VERSION.dist-info`` on ``sys.path``."""
    import sys
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for item in names:
            if item.endswith(".dist-info"):
                dist, _, version = item[:-len(".dist-info")].partition("-")
                if dist.lower().replace("_", "-") == project:
                    return version
    return "unknown"


def _read_record(path: Path):
    try:
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def read_program(name: str, checks: dict | None = None) -> dict | None:
    """The stored program of the catalogue entry ``name`` (default parameters), or None.

    Read from the package folder, then from the user cache; returned only when its
    fields are those of :func:`program_fields` now and its ``checks`` (the numeric
    side's own, e.g. a digest of the code that wrote it) are the ones given. No SymPy.
    """
    from .catalog_entries import ENTRIES
    if name not in ENTRIES:
        return None
    file = name + PROGRAM_SUFFIX
    places = [PACKAGE_DIR / file]
    folder = user_dir()
    if folder is not None and _trusted(folder / file):
        places.append(folder / file)
    fields = None
    for path in places:
        record = _read_record(path)
        if record is None:
            continue
        fields = fields or program_fields(name)
        if record.get("fast") == fields and record.get("checks") == (checks or {}) \
                and isinstance(record.get("program"), dict):
            return record["program"]
    return None


def write_program(name: str, program: dict, checks: dict | None = None, *, user: bool = False) -> Path | None:
    """Keep ``program`` for the catalogue entry ``name`` (package folder, or the user cache).

    Only when the entry's laws are cached (committed or in the user cache): the
    program then belongs to the laws that :func:`load` returns, and its record
    carries their key. Returns the file, or None when nothing was written.
    """
    from . import catalog
    act = catalog.get(name)
    if load(act) is None:
        return None
    folder = user_dir() if user else PACKAGE_DIR
    if folder is None:
        return None
    record = {"fast": program_fields(name), "key": key(act), "checks": checks or {}, "program": program}
    payload = json.dumps(record, sort_keys=True, indent=1).encode() + b"\n"
    try:
        return _write_bytes(folder, name + PROGRAM_SUFFIX, payload)
    except OSError:
        if not user:
            raise
        return None
