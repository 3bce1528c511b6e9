"""The neurodyn command through a subprocess: exit codes, stdout, stderr, JSON."""

import json
import subprocess
import sys

import mpmath
import pytest


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "neurodyn.numerics", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_list():
    r = run("list")
    assert r.returncode == 0 and "leaky_relu" in r.stdout and "tanh" in r.stdout


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
    assert q_star.startswith("0.889424917282")          # reference/theory.md section 9
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
    (("derive", "nonsense"), "unknown symbol"),
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
