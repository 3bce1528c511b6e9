"""The derivation cache: keys, the user cache, the committed catalogue entries."""

import os
import pickle
import subprocess
import sys

import pytest

from neurodyn.theory import Activation, catalog, derive
from neurodyn.theory import cache


@pytest.fixture
def user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("NEURODYN_CACHE", raising=False)
    monkeypatch.setattr(cache, "PACKAGE_DIR", tmp_path / "package")
    return tmp_path / "xdg" / "neurodyn" / "derived_laws"


@pytest.fixture(scope="module")
def erf_laws():
    return derive(catalog.get("erf"))


def test_laws_pickle():
    laws = derive(catalog.get("tanh"))
    again = pickle.loads(pickle.dumps(laws))
    assert again == laws


def test_store_then_load_in_the_user_cache(user_cache, erf_laws):
    act = catalog.get("erf")
    assert cache.load(act) is None
    path = cache.store(act, erf_laws)
    assert path.parent == user_cache and path.is_file()
    renamed = Activation("my erf", act.expr)
    loaded = cache.load(renamed)
    assert loaded.activation.name == "my erf"
    assert [law.expr for law in loaded] == [law.expr for law in erf_laws]


def test_key_depends_on_expression_parameters_and_sources(monkeypatch):
    a, b = catalog.get("elu", alpha=1), catalog.get("elu", alpha=2)
    assert cache.key(a) != cache.key(b)
    assert cache.key(a) == cache.key(catalog.get("elu", alpha="1.0"))
    before = cache.key(a)
    monkeypatch.setattr(cache, "source_digest", lambda: "changed derivation code")
    assert cache.key(a) != before


def test_changed_sources_make_an_entry_stale(user_cache, erf_laws, monkeypatch):
    act = catalog.get("erf")
    cache.store(act, erf_laws)
    monkeypatch.setattr(cache, "source_digest", lambda: "changed derivation code")
    assert cache.load(act) is None


def test_cache_off(user_cache, erf_laws, monkeypatch):
    monkeypatch.setenv("NEURODYN_CACHE", "off")
    act = catalog.get("erf")
    assert cache.store(act, erf_laws) is None
    assert not user_cache.exists()
    assert cache.load(act) is None


def test_damaged_or_foreign_files_are_ignored(user_cache, erf_laws):
    act = catalog.get("erf")
    path = cache.store(act, erf_laws)
    path.write_bytes(b"not a pickle")
    assert cache.load(act) is None
    path.write_bytes(pickle.dumps({"key": {"other": 1}, "laws": erf_laws}))
    assert cache.load(act) is None                       # a key that does not match
    cache.store(act, erf_laws)
    os.chmod(path, 0o666)                                 # writable by others: not trusted
    assert cache.load(act) is None


def test_store_refuses_laws_of_another_activation(user_cache, erf_laws):
    from neurodyn.theory.errors import NeurodynError

    with pytest.raises(NeurodynError):
        cache.store(catalog.get("tanh"), erf_laws)


@pytest.mark.slow
def test_rebuild_and_check_in_a_scratch_package_folder(user_cache, monkeypatch):
    from neurodyn.numerics.compile import program_checks, store_program

    monkeypatch.setattr(cache, "_catalogue", lambda names=None: {
        n: catalog.get(n) for n in (names or ("linear", "erf"))})
    missing = {n: [f"{n}: missing or stale", f"{n}: compiled program missing or stale"] for n in ("linear", "erf")}
    assert cache.check() == missing["linear"] + missing["erf"]
    cache.rebuild(["linear"])
    assert cache.check() == [missing["linear"][1]] + missing["erf"]       # the laws, not yet their program
    assert store_program("linear") == cache.PACKAGE_DIR / "linear.program.json"
    assert cache.check(program_checks()) == missing["erf"]
    (cache.PACKAGE_DIR / "0000.pickle").write_bytes(b"left over")
    cache.rebuild()
    store_program("erf")
    assert cache.check(program_checks()) == []
    assert cache.check({"format": -1}) == [missing["linear"][1], missing["erf"][1]]    # another numeric code
    assert cache.load(catalog.get("erf")).chi_1.closed
    monkeypatch.setattr(cache, "source_digest", lambda: "changed derivation code")
    assert len(cache.check()) == 6                      # both stale, both programs stale, both files left over


def test_committed_catalogue_cache_is_complete_and_fresh():
    """Fails until `neurodyn cache --rebuild` is run and its files committed."""
    run = subprocess.run([sys.executable, "-m", "neurodyn", "cache", "--check"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
