"""The neurodyn command through a subprocess: exit codes, stdout, stderr, JSON, files written."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import mpmath
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args, timeout=120, cwd=None):
    return subprocess.run([sys.executable, "-m", "neurodyn", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd)


def run_umask(umask, *args, cwd=None):
    """The command with the given umask (a shell sets it), in ``cwd``."""
    words = " ".join(f"'{a}'" for a in args)
    return subprocess.run(["sh", "-c", f'umask {umask:03o} && exec "{sys.executable}" -m neurodyn {words}'],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=cwd)


def one_line_error(r, fragment):
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurodyn: error:") and fragment in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_list():
    r = run("list")
    assert r.returncode == 0 and "leaky_relu" in r.stdout and "tanh" in r.stdout


@pytest.mark.slow
def test_derive_plain_and_latex():
    r = run("derive", "tanh")
    assert r.returncode == 0
    assert "V(q) = sigma_b2 + sigma_w2*E_z[tanh(sqrt(q)*z)**2]" in r.stdout
    for law in ("chi_par(q)", "chi_1(q)", "chi_2(q)"):
        assert law in r.stdout
    r = run("derive", "erf", "--latex")
    assert r.returncode == 0 and r"\begin{align*}" in r.stdout and r"\operatorname{asin}" in r.stdout


def test_derive_expression_and_json():
    r = run("derive", "x*tanh(log(1+exp(x)))", "--json")
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert [law["law"] for law in data["laws"]] == ["q_map", "chi_par", "chi_1", "chi_2"]
    assert not data["laws"][0]["closed_form"] and "E_z[" in data["laws"][0]["expr"]


def test_derive_relu_chi2_undefined():
    r = run("derive", "relu")
    assert r.returncode == 0 and "chi_2(q) = not defined" in r.stdout


def cli(*argv) -> str:
    """``neurodyn ARGV`` in this process (so laws registered by the test are seen); its output."""
    from neurodyn.cli import main

    out = io.StringIO()
    assert main(list(argv), out=out) == 0
    return out.getvalue()


def test_derive_groups_come_from_the_registry():
    from neurodyn.theory.laws import LAW_GROUPS, law_names

    data = json.loads(cli("derive", "erf", "--two-input", "--json"))
    assert [row["law"] for row in data["laws"]] == list(law_names("two-input"))
    assert {row["group"] for row in data["laws"]} == {"two-input"} and data["groups"] == ["two-input"]
    data = json.loads(cli("derive", "erf", "--all", "--json"))
    assert [row["law"] for row in data["laws"]] == [n for g in LAW_GROUPS for n in law_names(g)]
    assert data["groups"] == [g for g in LAW_GROUPS if law_names(g)]       # empty groups are left out
    text = cli("derive", "erf", "--all")
    assert "# The laws of one input (single-input)" in text and "# The laws of two inputs (two-input)" in text
    assert run("derive", "erf", "--all", "--two-input").returncode == 2        # one group at a time, or all


def test_a_law_registered_later_shows_in_derive_latex_and_document():
    """A law registered at run time (here in the geometry group) appears everywhere, with no other edit."""
    import sympy

    from neurodyn.theory.laws import Law, law, unregister_law

    @law("toy_geometry", "g_toy(q)", r"g_{\mathrm{toy}}(q)", title="a toy law of the geometry group",
         variables=("q",), group="geometry")
    def _toy(d):
        chi_1 = d.law("chi_1")
        return Law("toy_geometry", 3 * chi_1.expr, chi_1.closed, "composition")

    try:
        text = cli("derive", "linear", "--geometry")
        assert "g_toy(q) = 3*sigma_w2" in text and "V(q)" not in text
        assert "g_toy" not in cli("derive", "linear") and "g_toy" not in cli("derive", "linear", "--two-input")
        data = json.loads(cli("derive", "linear", "--geometry", "--json"))
        toy = [row for row in data["laws"] if row["law"] == "toy_geometry"]
        assert len(toy) == 1 and toy[0]["group"] == "geometry" and toy[0]["closed_form"]
        assert sympy.sympify(toy[0]["expr"]) == 3 * sympy.Symbol("sigma_w2")
        assert json.loads(cli("derive", "linear", "--all", "--json"))["laws"][-1]["law"] == "toy_geometry"
        assert "g_{\\mathrm{toy}}(q) &= 3 \\sigma_w^2" in cli("derive", "linear", "--geometry", "--latex")
        tex = cli("latex", "linear")
        assert "g_{\\mathrm{toy}}(q) &= 3 \\sigma_w^2" in tex
        assert cli("latex", "linear", "--law", "toy_geometry") == "g_{\\mathrm{toy}}(q) = 3 \\sigma_w^2\n"
        doc = cli("document", "linear", "--sigma-w2", "0.5")
        heading = "\\section{The geometry of the signal manifold}"
        law_heading = "\\subsection{$g_{\\mathrm{toy}}(q)$: a toy law of the geometry group}"
        assert doc.index("\\section{The laws of two inputs}") < doc.index(heading) < doc.index(law_heading)
        assert doc.index(law_heading) < doc.index("\\section{Numbers")
        assert "g_{\\mathrm{toy}}(q) &= 3 \\sigma_w^2" in doc
    finally:
        unregister_law("toy_geometry")


@pytest.mark.slow
def test_fixed_point_json():
    r = run("fixed-point", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05", "--dps", "50", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    for key in ("activation", "sigma_w2", "sigma_b2", "dps", "q_star", "chi_1", "chi_2", "chi_par", "xi_q",
                "stable"):
        assert key in data
    assert data["dps"] == 50 and data["stable"] is True and data["activation"] == "tanh"
    q_star = data["q_star"]["value"]
    assert len(q_star.replace("0.", "", 1)) == 50
    assert q_star.startswith("0.889424917282")          # docs/theory.md §9
    with mpmath.workdps(10):
        assert mpmath.mpf(data["q_star"]["error"]) < mpmath.mpf("1e-50")


def test_fixed_point_relu_chi2_null_with_note():
    r = run("fixed-point", "relu", "--sigma-w2", "1.5", "--sigma-b2", "0.1", "--json")
    data = json.loads(r.stdout)
    assert data["chi_2"] is None and "delta" in data["chi_2_note"]
    assert data["q_star"]["value"].startswith("0.4000000")


def test_param_and_standard_deviations():
    r = run("fixed-point", "leaky_relu", "--param", "alpha=0.1", "--sigma-w", "1.3", "--sigma-b2", "0.1",
            "--dps", "20", "--json")
    data = json.loads(r.stdout)
    assert data["sigma_w2"]["value"] == "1.69"
    assert data["q_star"]["value"].startswith("0.68236096895")        # 0.1/(1 - 1.69*1.01/2)


@pytest.mark.parametrize("args, fragment", [
    (("derive", "nonsense"), "'nonsense'"),            # the parser's wording: theory/parse.py
    (("derive", "x+"), "cannot parse"),
    (("derive", "__import__('os').system('id')"), "forbidden"),
    (("derive", "x.__class__"), "forbidden"),
    (("derive", "lambda: 1"), "forbidden"),
    (("derive", "open('f')"), "unknown function"),
    (("derive", "exp(x**2)"), "grows like"),
    (("derive", "relu", "--param", "beta=2"), "no parameter"),
    (("fixed-point", "tanh", "--sigma-w2", "-1", "--sigma-b2", "0.05"), "sigma_w2"),
    (("fixed-point", "tanh", "--sigma-w2", "abc", "--sigma-b2", "0.05"), "sigma_w2"),
    (("fixed-point", "tanh", "--sigma-w2", "2", "--sigma-b2", "-0.05"), "sigma_b2"),
    (("fixed-point", "relu", "--sigma-w2", "2.5", "--sigma-b2", "0.05"), "no finite fixed point"),
    (("fixed-point", "tanh", "--sigma-w2", "2", "--sigma-b2", "0.05", "--dps", "0"), "dps"),
    (("fixed-point", "tanh", "--sigma-w2", "2", "--sigma-b2", "0.05", "--dps", "100000"), "dps"),
])
def test_bad_input_is_one_line_exit_1(args, fragment):
    r = run(*args)
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurodyn: error:") and fragment in lines[0]
    assert "Traceback" not in r.stderr and r.stdout == ""


@pytest.mark.parametrize("args", [
    ("fixed-point", "tanh", "--sigma-b2", "0.05"),
    ("fixed-point", "tanh", "--sigma-w2", "2", "--sigma-w", "1.4", "--sigma-b2", "0"),
    ("fixed-point", "tanh", "--sigma-w2", "2", "--sigma-b2", "0", "--dps", "2.5"),
    ("frobnicate",),
    (),
])
def test_usage_errors_exit_2(args):
    r = run(*args)
    assert r.returncode == 2 and "usage:" in r.stderr


def test_console_script_installed():
    import shutil
    exe = shutil.which("neurodyn") or str(__import__("pathlib").Path(sys.executable).parent / "neurodyn")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "neurodyn" in r.stdout


# ---------------------------------------------------------------------------------------------
# the package: python -m neurodyn, the public API, the layers
# ---------------------------------------------------------------------------------------------
def test_public_api_and_version():
    import neurodyn

    for name in neurodyn.__all__:
        assert getattr(neurodyn, name) is not None, name
    from importlib.metadata import version
    assert neurodyn.__version__ == version("neurodyn")
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"neurodyn {neurodyn.__version__}"


def test_numerics_holds_no_application_code():
    numerics = ROOT / "numerics"
    assert not [p.name for p in numerics.glob("*.py") if p.stem.startswith("cli") or p.stem in ("document",
                                                                                                  "__main__")]
    for path in [*numerics.glob("*.py"), *(ROOT / "theory").rglob("*.py")]:
        text = path.read_text()
        for word in ("argparse", "matplotlib", "neurodyn.cli", "neurodyn.reports"):
            assert word not in text, (path.name, word)


# ---------------------------------------------------------------------------------------------
# errors that name what the user typed; --traceback
# ---------------------------------------------------------------------------------------------
def test_negative_q0_names_the_option():
    r = run("fixed-point", "tanh", "--sigma-w2", "2", "--sigma-b2", "0.05", "--q0", "-1")
    one_line_error(r, "--q0 must be a finite number >= 0, got -1")
    assert r.stdout == ""


@pytest.mark.slow
def test_png_into_a_missing_folder_names_the_users_path(tmp_path):
    target = tmp_path / "no_such_folder" / "pd.png"
    r = run("phase-diagram", "tanh", "--sigma-w2", "0.5:4:6", "--sigma-b2", "0:1:4", "--png", str(target))
    one_line_error(r, f"cannot write {target}: No such file or directory")
    assert ".tmp" not in r.stderr and ".neurodyn-" not in r.stderr


@pytest.mark.slow
def test_traceback_flag_shows_the_traceback():
    args = ("fixed-point", "tanh", "--sigma-w2", "-1", "--sigma-b2", "0.05")
    r = run("--traceback", *args)
    assert r.returncode == 1 and "Traceback (most recent call last)" in r.stderr and "sigma_w2" in r.stderr
    r = run(*args, "--traceback")                                           # after the command too
    assert r.returncode == 1 and "Traceback (most recent call last)" in r.stderr
    one_line_error(run(*args), "sigma_w2")


# ---------------------------------------------------------------------------------------------
# fixed-point: the single-input block first (flushed), the two-input block after; a c* failure
# keeps the q* block
# ---------------------------------------------------------------------------------------------
class Recorder(io.StringIO):
    """A stdout that records what had been flushed."""

    def __init__(self):
        super().__init__()
        self.flushed = ""

    def flush(self):
        self.flushed = self.getvalue()


def test_fixed_point_prints_the_single_input_block_before_the_two_input_work(monkeypatch):
    import neurodyn.cli.fixed_point as command
    from neurodyn.cli import main

    real = command.correlation_fixed_point
    seen = {}

    def spy(f, fp):
        seen["flushed"] = out.flushed
        return real(f, fp)

    out = Recorder()
    monkeypatch.setattr(command, "correlation_fixed_point", spy)
    assert main(["fixed-point", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05", "--dps", "20"], out=out) == 0
    assert "q_star  = 0.88942491728249094590" in seen["flushed"] and "c_star" not in seen["flushed"]
    text = out.getvalue()
    assert text.index("stable  =") < text.index("c_star  = 0.567224926758882") < text.index("phase   = chaotic")
    assert text.count("q_star") == 1


def test_fixed_point_keeps_q_star_when_c_star_fails(monkeypatch, capsys):
    import neurodyn.cli.fixed_point as command
    from neurodyn.cli import main
    from neurodyn.theory.errors import ConvergenceError

    def fail(f, fp):
        raise ConvergenceError("c* could not be confirmed to 20 digits")

    monkeypatch.setattr(command, "correlation_fixed_point", fail)
    out = io.StringIO()
    code = main(["fixed-point", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05", "--dps", "20"], out=out)
    err = capsys.readouterr().err
    assert code == 1
    assert "q_star  = 0.88942491728249094590" in out.getvalue() and "chi_1   = 1.09233792948626" in out.getvalue()
    assert err.strip() == "neurodyn: error: c*: c* could not be confirmed to 20 digits"
    out = io.StringIO()
    code = main(["fixed-point", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05", "--dps", "20", "--json"],
                out=out)
    data = json.loads(out.getvalue())
    assert code == 1 and data["q_star"]["value"].startswith("0.889424917282")
    assert data["c_star"] is None and "could not be confirmed" in data["c_star_note"]


# ---------------------------------------------------------------------------------------------
# phase-diagram: --csv beside --json, the user's umask, the plot's regions
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_phase_diagram_files_csv_and_permissions(tmp_path):
    r = run_umask(0o022, "phase-diagram", "relu", "--sigma-w2", "0.5:4:8", "--sigma-b2", "0:1:5",
                  "--png", "pd.png", "--json", "pd.json", "--csv", "pd.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pd.csv", "pd.json", "pd.png"]   # no temporary left
    for p in tmp_path.iterdir():
        assert p.stat().st_mode & 0o777 == 0o644, p.name
    rows = list(csv.DictReader(io.StringIO((tmp_path / "pd.csv").read_text())))
    assert len(rows) == 8 * 5 and set(rows[0]) == {"sigma_w2", "sigma_b2", "q_star", "chi_1", "phase"}
    data = json.loads((tmp_path / "pd.json").read_text())
    for row in rows:                                   # relu: q* = sb2/(1 - sw2/2) for sw2 < 2, diverges above
        sw2, sb2 = float(row["sigma_w2"]), float(row["sigma_b2"])
        if sw2 > 2 and sb2 > 0:
            assert row["phase"] == "q_diverges" and row["q_star"] == ""
        elif sw2 < 2:
            assert row["phase"] == "ordered" and abs(float(row["q_star"]) - sb2 / (1 - sw2 / 2)) < 1e-6
    assert "q* diverges" in r.stdout and "wrote pd.csv" in r.stdout
    assert data["sigma_w2"][0] == 0.5


@pytest.mark.parametrize("activation", ["relu", pytest.param("x*tanh(log(1+exp(x)))", marks=pytest.mark.slow),
                                        "tanh"])
def test_phase_labels_sit_inside_their_regions(activation):
    """The label of each region is on a grid cell of that region (ReLU and mish put them elsewhere before)."""
    import numpy as np

    from neurodyn import compile_laws, derive, phase_diagram
    from neurodyn.reports.plots import label_position, regions
    from neurodyn.theory import Activation, catalog

    act = catalog.get(activation) if activation in catalog.ENTRIES else Activation.parse(activation)
    pd = phase_diagram(compile_laws(derive(act)), np.linspace(0.5, 4, 40), np.linspace(0, 1, 30))
    masks = regions(pd.chi_1, pd.q_star)
    assert masks["ordered"].any()
    for name, mask in masks.items():
        where = label_position(mask)
        if mask.any():
            assert mask[where], (name, where)
    if activation != "tanh":
        assert masks["diverges"].any()


def test_phase_diagram_plot_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    import numpy as np

    from neurodyn.reports.plots import plot_phase_diagram

    sw, sb = np.linspace(0.5, 4, 6), np.linspace(0, 1, 4)
    chi = np.outer(np.ones(4), sw / 2)
    q = np.where(chi > 1.5, np.nan, 1.0)
    path = plot_phase_diagram(tmp_path / "pd.png", activation="test", sigma_w2=sw, sigma_b2=sb, q_star=q,
                              chi_1=np.where(np.isnan(q), np.nan, chi), critical_line=[[2.0, 0.0], [2.0, 1.0]])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------
# c-map and q-map on a grid
# ---------------------------------------------------------------------------------------------
C_STAR_TANH = 0.56722492676          # tanh at (2.25, 0.05): docs/theory.md §9
Q_STAR_TANH = 0.889424917282490946   # the same point


@pytest.mark.slow
def test_c_map_grid_writes_csv_json_png(tmp_path):
    r = run("c-map", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05", "--c", "-1:1:201",
            "--csv", "c.csv", "--json", "c.json", "--png", "c.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "c.csv").read_text())))
    assert len(rows) == 201 and rows[0]["c"] == "-1" and rows[100]["c"] == "0" and rows[-1]["c"] == "1"
    assert rows[101]["c"] == "0.01"                                           # exact decimal grid
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["dps"] is None and len(data["c_map"]) == len(data["chi_c"]) == 201
    stable = [p["c"] for p in data["fixed_points"] if p["stable"]]
    assert len(stable) == 1 and abs(stable[0] - C_STAR_TANH) < 1e-3             # interpolated between points
    assert {"c": 1.0, "stable": False} in data["fixed_points"]                 # chaotic: c = 1 repels
    assert abs(float(rows[-1]["chi_c"]) - 1.0923379294862612) < 1e-9           # chi_c(1) = chi_1
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "c.json", "c.png"]


@pytest.mark.slow
def test_c_map_grid_at_high_precision_agrees_with_float64():
    r = run("c-map", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05", "--c", "-1:1:5", "--dps", "25",
            "--json")
    assert r.returncode == 0, r.stderr
    hi = json.loads(r.stdout)
    lo = json.loads(run("c-map", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05", "--c", "-1:1:5",
                        "--json").stdout)
    assert hi["dps"] == 25 and hi["c"] == ["-1", "-0.5", "0", "0.5", "1"]
    for a, b in zip(hi["c_map"], lo["c_map"]):
        assert len(a["value"].replace("-", "").replace("0.", "", 1).lstrip("0")) >= 20
        assert abs(float(a["value"]) - b) < 1e-12
    single = json.loads(run("c-map", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05", "--c", "0.5",
                            "--dps", "25", "--json").stdout)
    assert single["c_map"]["value"] == hi["c_map"][3]["value"]


@pytest.mark.slow
def test_c_map_negative_grid_start_is_a_value_not_an_option():
    r = run("c-map", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05", "--c", "-0.5:0.5:3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == "c\tc_map\tchi_c" and r.stdout.splitlines()[2].startswith("-0.5\t")


def test_c_map_grid_outside_correlations_is_one_line():
    one_line_error(run("c-map", "tanh", "--sigma-w2", "2", "--sigma-b2", "0.1", "--c", "-1:1.5:3"), "[-1, 1]")


@pytest.mark.slow
def test_q_map_marks_its_fixed_points(tmp_path):
    r = run("q-map", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05", "--q", "0:3:121", "--json", "q.json",
            "--png", "q.png", "--csv", "q.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp_path / "q.json").read_text())
    assert len(data["q_map"]) == 121 and data["q"][1] == "0.025"
    assert [p["stable"] for p in data["fixed_points"]] == [True]
    assert abs(data["fixed_points"][0]["q"] - Q_STAR_TANH) < 1e-3
    assert abs(data["q_map"][0] - 0.05) < 1e-15                         # V(0) = sigma_b2 (tanh(0) = 0)
    assert "fixed points (grid, interpolated): 0.889" in r.stdout
    # sigma_b2 = 0: q = 0 is a fixed point on the grid, unstable in the chaotic phase
    r = run("q-map", "tanh", "--sigma-w2", "2", "--sigma-b2", "0", "--q", "0:2:41", "--json")
    points = json.loads(r.stdout)["fixed_points"]
    assert points[0] == {"q": 0.0, "stable": False} and points[1]["stable"] and len(points) == 2


def test_q_map_negative_grid_names_the_option():
    one_line_error(run("q-map", "tanh", "--sigma-w2", "2", "--sigma-b2", "0", "--q", "-1:1:3"), "--q must be >= 0")


@pytest.mark.slow
def test_wheel_holds_every_layer_and_the_console_script(tmp_path):
    """``pip install .`` installs the app, theory and numerics under ``neurodyn`` and the ``neurodyn`` command."""
    import importlib.util
    import zipfile

    offline = importlib.util.find_spec("wheel") or importlib.util.find_spec("setuptools.command.bdist_wheel")
    isolation = ["--no-build-isolation"] if offline else []        # else pip fetches the build backend
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    wheel, = tmp_path.glob("neurodyn-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("neurodyn/__init__.py", "neurodyn/__main__.py", "neurodyn/cli/__init__.py",
                   "neurodyn/cli/options.py", "neurodyn/cli/q_map.py", "neurodyn/reports/plots.py",
                   "neurodyn/reports/files.py", "neurodyn/theory/__init__.py", "neurodyn/numerics/__init__.py"):
        assert module in names, module
    assert not any(n.startswith(("neurodyn/numerics/cli", "neurodyn/numerics/document")) for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "neurodyn = neurodyn.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


# ---------------------------------------------------------------------------------------------
# the two-input commands (formerly run through python -m neurodyn.numerics in test_two_input.py)
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_input_commands(tmp_path):
    r = run("derive", "relu", "--two-input")
    assert r.returncode == 0 and "C(c) =" in r.stdout and "Theta'" in r.stdout and "asin" in r.stdout
    r = run("c-map", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05", "--c", "0.5", "--dps", "30", "--json")
    data = json.loads(r.stdout)
    assert {"c_map", "chi_c", "q_star"} <= set(data) and data["q_star"]["value"].startswith("0.889424917282")
    r = run("fixed-point", "erf", "--sigma-w2", "2", "--sigma-b2", "0.05", "--dps", "40", "--json")
    data = json.loads(r.stdout)
    assert data["phase"] == "chaotic" and abs(float(data["c_star"]["value"]) - 0.434481237456) < 1e-12
    r = run("critical", "tanh", "--sigma-b2", "0.05", "--dps", "40", "--json")
    data = json.loads(r.stdout)
    assert abs(float(data["sigma_w2"]["value"]) - 1.76095463961) < 1e-11 and "q_star" in data


@pytest.mark.parametrize("args, fragment", [
    (("c-map", "tanh", "--sigma-w2", "2", "--sigma-b2", "0.1", "--c", "1.5"), "[-1, 1]"),
    (("c-map", "relu", "--sigma-w2", "2.5", "--sigma-b2", "0.1", "--c", "0.5"), "no finite fixed point"),
    (("critical", "relu", "--sigma-b2", "0.05"), "no critical point"),
    (("phase-diagram", "tanh", "--sigma-w2", "0.5:9:20000", "--sigma-b2", "0:1:20000"), "larger than the limit"),
])
def test_two_input_bad_input(args, fragment):
    one_line_error(run(*args), fragment)


def test_bad_grid_is_usage_error():
    r = run("phase-diagram", "tanh", "--sigma-w2", "0.5:9", "--sigma-b2", "0:1:3")
    assert r.returncode == 2 and "START:STOP:NUM" in r.stderr


@pytest.mark.slow
def test_progress_only_on_a_terminal():
    """Off a terminal (a pipe, a file), the long commands print no progress: stderr stays empty."""
    r = run("fixed-point", "tanh", "--sigma-w2", "2.25", "--sigma-b2", "0.05", "--dps", "20")
    assert r.returncode == 0 and r.stderr == "" and "c_star" in r.stdout


@pytest.mark.slow
def test_elapsed_on_tty_writes_only_to_a_terminal():
    import time

    from neurodyn.cli.options import elapsed_on_tty

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term, pipe = Terminal(), io.StringIO()
    for stream in (term, pipe):
        with elapsed_on_tty("c*", stream=stream):
            time.sleep(0.7)
    assert "c* ..." in term.getvalue() and term.getvalue().endswith("\r\033[K")
    assert pipe.getvalue() == ""
