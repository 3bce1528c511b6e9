"""The README's examples run as written; the example script runs; no citation points outside the repository."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_python_example_runs():
    block = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)      # the project's own README, not user input
    assert namespace["fp2"].phase == "chaotic"
    assert str(namespace["cp"].sigma_w2).startswith("1.76095463960673")
    assert str(namespace["laws"].q_map.expr) == "101*q*sigma_w2/200 + sigma_b2"


def shown_commands():
    """(command, shown output lines) for every ``$ neurodyn ...`` in the README's code blocks."""
    found = []
    for lang, block in re.findall(r"```(\w*)\n(.*?)```", README, re.S):   # each match: one fenced block
        if lang:
            continue
        command, shown = None, []
        for line in block.splitlines() + ["$ end"]:
            if line.startswith("$ "):
                if command is not None:
                    found.append((command, [s for s in shown if s != "..."]))
                command, shown = line[2:], []
            elif command is not None:
                shown.append(line)
    return [c for c in found if c[0].startswith("neurodyn ")]


def test_readme_shows_commands():
    assert {c.split()[1] for c, _ in shown_commands()} >= {"derive", "fixed-point"}


@pytest.mark.slow
@pytest.mark.parametrize("command, shown", shown_commands(), ids=[c for c, _ in shown_commands()])
def test_readme_commands_print_what_is_shown(command, shown):
    words = shlex.split(command)
    r = subprocess.run([sys.executable, "-m", "neurodyn", *words[1:]], capture_output=True, text=True,
                       timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    printed = r.stdout.splitlines()
    missing = [line for line in shown if line not in printed]
    assert not missing, f"README shows lines that `{command}` does not print: {missing}"


@pytest.mark.slow
def test_example_script_writes_the_classic_figures(tmp_path):
    pytest.importorskip("matplotlib")
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "classic_figures.py"), str(tmp_path / "figs")],
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    names = ("q_map_iterates.png", "c_map_iterates.png", "phase_diagram.png")
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(names)
    for name in names:
        assert (tmp_path / "figs" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"wrote {tmp_path / 'figs' / name}" in r.stdout


APP_FILES = ["README.md", "CHANGELOG.md", "Makefile", ".ci/run", "pyproject.toml", "tests/test_cli.py",
             "tests/test_latex.py", "tests/test_doctests.py"] + [
    str(p.relative_to(ROOT)) for folder in ("neurodyn", "examples", "theory", "numerics", "tests", "benchmarks", "docs")
    for pattern in ("*.py", "*.md") for p in sorted((ROOT / folder).rglob(pattern))]


def test_no_citation_outside_the_repository():
    """A user's clone has only the repo: no team notes folder, no design notes; cite docs/theory.md §N."""
    bad = re.compile(r"\.\./shared|DESIGN(\.md| section)|reference/theory\.md")
    offenders = [name for name in APP_FILES if bad.search((ROOT / name).read_text())
                 and name != "tests/test_readme.py"]
    assert not offenders, offenders


def test_license_and_changelog():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert 'license = {text = "MIT"}' in (ROOT / "pyproject.toml").read_text()
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog") and "## [Unreleased]" in changelog
