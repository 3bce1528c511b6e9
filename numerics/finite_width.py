r"""The leading 1/n corrections: the four-point vertex ``V`` and the NLO kernel ``G1`` (docs/finite_width.md §3).

For a network of hidden widths ``n`` the layer-``l`` conditional covariance
``Ghat^(l)`` is random; docs/finite_width.md §3.1 defines

* ``K^(l)``: the infinite-width kernel (the q-map and covariance map of §2);
* ``V^(l) = n Var(Ghat^(l))`` (pair form ``V_(ab)(cd) = n Cov(Ghat_ab, Ghat_cd)``): the four-point vertex;
* ``G1^(l)``: ``E[Ghat^(l)] = K^(l) + G1^(l)/n + O(1/n^2)``, the next-to-leading kernel.

**Layer convention.** Layer 1 is the input layer: ``K^(1) = q0`` (the given
kernel, default 1), ``V^(1) = 0`` and ``G1^(1) = 0``; two inputs of equal norm
add ``K^(1)_12 = c0 q0``. Layer ``l + 1`` follows from layer ``l`` by the
recursions of §3.2 (one input) and §3.3 (the pair-index form over
``a in {11, 22, 12}``), for equal widths:

``K'_a = C_b + C_W <F_a>``, ``A_ac = C_W d<F_a>/dK_c``,
``V'_ab = C_W^2 (<F_a F_b> - <F_a><F_b>) + (A V A^T)_ab``,
``G1'_a = (A G1)_a + (C_W/2) sum_cd V_cd d^2<F_a>/dK_c dK_d``,

with ``F_11 = phi(u1)^2``, ``F_22 = phi(u2)^2``, ``F_12 = phi(u1) phi(u2)`` and
``<.>`` the Gaussian expectation at ``K^(l)``. ``K'`` comes from the engine's
``q_map`` and ``cov_map`` laws and ``A_11,11`` from its ``chi_par`` law (each
checked against the moments below, the difference counted in the error). Every
derivative with respect to a kernel entry is taken in the **Hermite form**: the
derivative acts on the Gaussian density, which gives polynomial weights
(one input: ``d<F>/dK = <F (x^2 - K)>/(2K^2)``, ``d^2<F>/dK^2 = <F (x^4 - 6K x^2 +
3K^2)>/(4K^4)``; two inputs: the weights of ``Sigma^-1 u``), so no activation is
ever differentiated (§3.2's warning: a quadrature of ``(phi^2)''''`` broke
``G1_11 = G1_22``), and kinked activations need no Dirac deltas. All the
expectations are moments ``<phi(u1) u1^i phi(u2) u2^j>``, ``<phi^4>``,
``<phi^3(u1) phi(u2)>``, ``<phi^2(u1) phi^2(u2)>`` computed in one quadrature
sweep per layer.

Derived observables (§3.1, §3.3, delta method): the mean of the measured
``qhat = |z|^2/n`` is ``K + G1/n`` (its 1/n coefficient is ``G1``) and ``n Var(qhat)
= V + 2K^2``; the correlation ``c = G_12/sqrt(G_11 G_22)`` of ``Ghat`` has the mean
offset ``n(E[c_hat] - c) = grad c . G1 + (1/2) sum_ab d^2c/dG_a dG_b V_ab``
(``c_bias``); measured on the empirical kernel ``Qhat`` the Wishart term
``K_ac K_bd + K_ad K_bc`` is added to ``V`` (``c_bias_qhat``).

Precision: with ``dps=N`` mpmath at N digits, each number an
:class:`~neurodyn.numerics.results.Estimate` whose error is propagated to first
order from the quadrature errors, the rounding, and the difference between the
laws and the moments (an estimate, not a bound); without ``dps`` float64, with
errors propagated the same way (printed with at most 15 digits). The Hermite
weights grow like ``1/K^4`` and ``1/(1 - c^2)^2``: near ``c = +-1`` the pair
entries lose digits (the float64 errors say how many; the mpmath moments are
computed with extra digits to compensate).

>>> from neurodyn.theory import catalog, derive
>>> from neurodyn.numerics.compile import compile_laws
>>> f = compile_laws(derive(catalog.get("relu")))
>>> r = finite_width(f, "2", "0", depth=4, dps=20)
>>> [(row.l, str(row.K), str(row.V), str(row.G1)) for row in r.layers]
[(1, '1.0000000000000000000', '0', '0'), (2, '1.0000000000000000000', '5.0000000000000000000', '0'), ...]
>>> r.layers[3].to_json()["V"]
{'value': '15.000000000000000000', 'error': ...}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import mpmath
import numpy as np
import sympy

from neurodyn.theory.errors import ConvergenceError, NotDefinedError
from neurodyn.theory.symbols import x

from .compile import CompiledLaws, check_dps, check_variances, to_mpf
from .quadrature import GUARD_DIGITS, IntegrandBundle, expect_mp, expect_np
from .quadrature2d import BivariateBundle, expect2_mp
from .results import Estimate, ParameterError

__all__ = ["finite_width", "pair_corrections", "FiniteWidth", "FiniteWidthLayer", "PairCorrections", "PAIRS"]

#: The pair index of the two-input form, in the order of every 3-vector and 3x3 matrix.
PAIRS = ("11", "22", "12")
#: The monomials u1^i u2^j of the Hermite weights (degree 0, 2, 4).
_MONOMIALS = ((0, 0), (2, 0), (1, 1), (0, 2), (4, 0), (3, 1), (2, 2), (1, 3), (0, 4))
_F64_DIGITS = 15
_EPS = np.finfo(float).eps


# ----------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------
def _json(value):
    return value.to_json() if isinstance(value, Estimate) else value


@dataclass
class FiniteWidthLayer:
    """One layer ``l`` (layer 1 = the input layer): ``K``, ``V``, ``G1`` (:class:`Estimate`).

    With two inputs also ``c`` (the infinite-width correlation), ``K_pairs``,
    ``G1_pairs`` (3-tuples over :data:`PAIRS`), ``V_pairs`` (3x3), and the delta-method
    predictions ``c_bias = n(E[c_hat] - c)`` (``c_hat`` of ``Ghat``), ``c_bias_qhat`` (of
    the empirical kernel ``Qhat``) and ``c_var = n Var(c_hat)``. ``K``, ``V``, ``G1`` are the
    ``11`` entries (one input's length).
    """

    l: int
    K: Estimate
    V: Estimate
    G1: Estimate
    c: Estimate | None = None
    K_pairs: tuple | None = None
    V_pairs: tuple | None = None
    G1_pairs: tuple | None = None
    c_bias: Estimate | None = None
    c_bias_qhat: Estimate | None = None
    c_var: Estimate | None = None
    qhat_var: Estimate | None = None

    @property
    def qhat_bias(self) -> Estimate:
        """The 1/n coefficient of the mean of the measured ``qhat``: ``E[qhat] = K + G1/n`` (§3.1)."""
        return self.G1

    @property
    def V_12_12(self):
        return None if self.V_pairs is None else self.V_pairs[2][2]

    @property
    def G1_12(self):
        return None if self.G1_pairs is None else self.G1_pairs[2]

    def to_json(self) -> dict:
        out = {"l": self.l, "K": _json(self.K), "V": _json(self.V), "G1": _json(self.G1),
               "qhat_bias": _json(self.G1), "qhat_var": _json(self.qhat_var)}
        if self.c is not None:
            out.update({"c": _json(self.c), "V_12_12": _json(self.V_12_12), "G1_12": _json(self.G1_12),
                        "c_bias": _json(self.c_bias), "c_bias_qhat": _json(self.c_bias_qhat),
                        "c_var": _json(self.c_var),
                        "pairs": list(PAIRS),
                        "K_pairs": [_json(v) for v in self.K_pairs],
                        "G1_pairs": [_json(v) for v in self.G1_pairs],
                        "V_pairs": [[_json(v) for v in row] for row in self.V_pairs]})
        return out


@dataclass
class FiniteWidth:
    """The 1/n theory layer by layer (:func:`finite_width`): ``layers`` (:class:`FiniteWidthLayer`)."""

    activation: str
    sigma_w2: str
    sigma_b2: str
    q0: str
    c0: str | None
    dps: int | None
    layers: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def to_json(self) -> dict:
        """``{"activation", ..., "layers": [{"l", "K", "V", "G1", ...}]}``, each number ``{"value", "error"}``."""
        return {"activation": self.activation, "sigma_w2": self.sigma_w2, "sigma_b2": self.sigma_b2,
                "q0": self.q0, "c0": self.c0, "dps": self.dps,
                "precision": "float64 (errors are estimates)" if self.dps is None else f"{self.dps} digits",
                "convention": "layer 1 is the input layer: K = q0, V = 0, G1 = 0; E[Ghat] = K + G1/n, "
                              "n Var(Ghat) = V (n the width of the layer below)",
                "layers": [row.to_json() for row in self.layers], "notes": list(self.notes)}

    def __str__(self) -> str:
        prec = "float64" if self.dps is None else f"{self.dps} digits"
        head = (f"{self.activation} at sigma_w2 = {self.sigma_w2}, sigma_b2 = {self.sigma_b2}, q0 = {self.q0}"
                + (f", c0 = {self.c0}" if self.c0 is not None else "") + f" ({prec})")
        cols = ["l", "K", "V", "G1"] + (["c", "V_12_12", "G1_12", "c_bias"] if self.c0 is not None else [])
        lines = [head, "\t".join(cols)]
        for row in self.layers:
            cells = [str(row.l)] + [str(getattr(row, name)) for name in cols[1:]]
            lines.append("\t".join(cells))
        lines.append("E[Ghat] = K + G1/n and n Var(Ghat) = V at width n (docs/finite_width.md §3.1); "
                     "layer 1 is the input layer")
        if self.c0 is not None:
            lines.append("c_bias = n (E[c_hat] - c), c_hat = Ghat_12/sqrt(Ghat_11 Ghat_22) (delta method, §3.3)")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class PairCorrections:
    """Float64 arrays for layers ``1..depth`` (axis 0) and the inputs' correlations ``c0`` (axis 1).

    ``K``: (depth, N, 3), ``G1``: (depth, N, 3), ``V``: (depth, N, 3, 3), over :data:`PAIRS`;
    ``*_error``: error estimates of the same shapes; ``c = K_12/sqrt(K_11 K_22)`` (depth, N).
    """

    c0: np.ndarray
    K: np.ndarray
    G1: np.ndarray
    V: np.ndarray
    K_error: np.ndarray
    G1_error: np.ndarray
    V_error: np.ndarray

    @property
    def c(self) -> np.ndarray:
        return self.K[..., 2] / np.sqrt(self.K[..., 0] * self.K[..., 1])

    def corrected_kernel(self, n: float) -> np.ndarray:
        """``K + G1/n`` (depth, N, 3): the mean of ``Ghat`` at width ``n`` to order 1/n."""
        return self.K + self.G1 / n


# ----------------------------------------------------------------------------------------
# values with a first-order error (mpf or float64 arrays alike)
# ----------------------------------------------------------------------------------------
class _D:
    """A value with an absolute error estimate; arithmetic propagates it to first order."""

    __slots__ = ("v", "e")
    ulp = 0.0                                  # relative rounding of one operation (set per run)

    def __init__(self, v, e=0):
        self.v, self.e = v, e

    @staticmethod
    def of(y):
        return y if isinstance(y, _D) else _D(y, 0)

    def _r(self, v, e):
        return _D(v, e + abs(v) * _D.ulp)

    def __add__(self, o):
        o = _D.of(o)
        return self._r(self.v + o.v, self.e + o.e)

    __radd__ = __add__

    def __sub__(self, o):
        o = _D.of(o)
        return self._r(self.v - o.v, self.e + o.e)

    def __rsub__(self, o):
        return _D.of(o) - self

    def __neg__(self):
        return _D(-self.v, self.e)

    def __mul__(self, o):
        o = _D.of(o)
        return self._r(self.v * o.v, abs(self.v) * o.e + abs(o.v) * self.e + self.e * o.e)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = _D.of(o)
        v = self.v / o.v
        return self._r(v, (self.e + abs(v) * o.e) / abs(o.v))

    def __rtruediv__(self, o):
        return _D.of(o) / self


def _dsum(terms):
    total = _D(0, 0)
    for t in terms:
        total = total + t
    return total


def _dsqrt(a: _D, sqrt):
    v = sqrt(a.v)
    return _D(v, a.e / (2 * v) + abs(v) * _D.ulp)


# ----------------------------------------------------------------------------------------
# the Hermite weights of the two-input derivatives
# ----------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _hermite_weights():
    """Coefficients of the monomials of d<F>/dK_c and d^2<F>/dK_c dK_d weights, as functions of (K11, K12, K22).

    With ``P = Sigma^-1``, ``w = P u`` and ``E_c = dSigma/dK_c`` (``K_12 = K_21`` one variable):
    ``d p/dK_c = p h_c``, ``h_c = (w^T E_c w - tr(P E_c))/2``, and
    ``d^2 p/dK_c dK_d = p (h_c h_d - w^T E_c P E_d w + tr(P E_d P E_c)/2)``.
    Returns ``(first, second)`` lambdified for mpmath and numpy: ``first(k11, k12, k22)`` is
    a 3 x 9 nested list, ``second`` 3 x 3 x 9 (over :data:`_MONOMIALS`).
    """
    k11, k12, k22, u1, u2 = sympy.symbols("k11 k12 k22 u1 u2", real=True)
    det = k11 * k22 - k12**2
    P = sympy.Matrix([[k22, -k12], [-k12, k11]]) / det
    u = sympy.Matrix([u1, u2])
    w = P * u
    E = [sympy.Matrix([[1, 0], [0, 0]]), sympy.Matrix([[0, 0], [0, 1]]), sympy.Matrix([[0, 1], [1, 0]])]
    h = [((w.T * Ec * w)[0] - (P * Ec).trace()) / 2 for Ec in E]

    def coefficients(expr):
        poly = sympy.Poly(sympy.expand(expr), u1, u2)
        out = [sympy.factor(poly.coeff_monomial(u1**i * u2**j)) for i, j in _MONOMIALS]
        rest = sympy.expand(expr - sum(c * u1**i * u2**j for c, (i, j) in zip(out, _MONOMIALS)))
        if sympy.cancel(rest) != 0:                 # pragma: no cover - a degree above 4
            raise AssertionError(f"the Hermite weight has a monomial outside _MONOMIALS: {rest}")
        return out

    first = [coefficients(hc) for hc in h]
    second = [[coefficients(h[c] * h[d] - (w.T * E[c] * P * E[d] * w)[0] + (P * E[d] * P * E[c]).trace() / 2)
               for d in range(3)] for c in range(3)]
    args = (k11, k12, k22)
    return (sympy.lambdify(args, first, "mpmath"), sympy.lambdify(args, first, "numpy"),
            sympy.lambdify(args, second, "mpmath"), sympy.lambdify(args, second, "numpy"))


# ----------------------------------------------------------------------------------------
# the expectations
# ----------------------------------------------------------------------------------------
class _Moments:
    """The bundles of one activation (single input and pairs), built once."""

    def __init__(self, f: CompiledLaws):
        phi = f.activation.piecewise
        # one input, x ~ N(0, K): <phi^2>, <phi^2 x^2>, <phi^2 x^4>, <phi^4>
        self.single = IntegrandBundle([phi**2, phi**2 * x**2, phi**2 * x**4, phi**4])
        # two inputs: the monomials, then <phi1^2 phi2^2>, <phi1^3 phi2>, <phi1 phi2^3>
        pairs = [(phi * x**i, phi * x**j) for i, j in _MONOMIALS]
        pairs += [(phi**2, phi**2), (phi**3, phi), (phi, phi**3)]
        self.pair = BivariateBundle(pairs)


def _as_d(values, errors):
    return [_D(v, e) for v, e in zip(values, errors)]


class _MP:
    """mpmath back end at ``dps`` digits."""

    def __init__(self, f, moments, dps, sw2, sb2):
        self.f, self.m, self.dps = f, moments, dps
        self.sqrt = mpmath.sqrt
        self.point = {"sigma_w2": sw2, "sigma_b2": sb2}

    def extra(self, K, rho=None):
        """Digits the Hermite weights cancel at (K small, |rho| near 1)."""
        k = float(K)
        digits = 4 * max(0.0, -math.log10(k)) if k > 0 else 0.0
        if rho is not None:
            r2 = 1 - min(float(abs(rho)), 1.0) ** 2
            digits += 2 * max(0.0, -math.log10(max(r2, 1e-300)))
        return min(int(math.ceil(digits)) + 3, 3 * self.dps + 30)

    def single(self, K):
        vals, errs = expect_mp(self.m.single, K.v, self.dps + self.extra(K.v))
        return _as_d(vals, errs)

    def pair(self, K11, K12, K22):
        rho = K12.v / mpmath.sqrt(K11.v * K22.v)
        vals, errs = expect2_mp(self.m.pair, K11.v, K12.v, K22.v, self.dps + self.extra(min(K11.v, K22.v), rho))
        return _as_d(vals, errs)

    def laws(self, names, point):
        out = self.f.evaluate_at(names, dict(self.point, **{k: v.v for k, v in point.items()}), self.dps)
        return {n: _D(e.value, e.error) for n, e in out.items()}


class _NP:
    """float64 back end, vectorised over arrays of kernels."""

    def __init__(self, f, moments, sw2, sb2):
        self.f, self.m = f, moments
        self.sqrt = np.sqrt
        self.point = {"sigma_w2": float(to_mpf(sw2)), "sigma_b2": float(to_mpf(sb2))}

    def single(self, K):
        vals, errs = expect_np(self.m.single, np.asarray(K.v, float))
        return [_D(v, e + 4 * _EPS * abs(v)) for v, e in zip(vals, errs)]

    def pair(self, K11, K12, K22):
        vals, errs = expect2_f64(self.m.pair, K11.v, K12.v, K22.v)
        return [_D(v, e + 4 * _EPS * abs(v)) for v, e in zip(vals, errs)]

    def laws(self, names, point):
        with np.errstate(all="ignore"):
            out = self.f.evaluate_at(names, dict(self.point, **{k: v.v for k, v in point.items()}))
        return {n: _D(np.asarray(v, float), 4 * _EPS * np.abs(np.asarray(v, float))) for n, v in out.items()}


def expect2_f64(bundle: BivariateBundle, v11, v12, v22):
    """Float64 two-input expectations for the 1/n theory: (values, errors), arrays (m, ...).

    (Placeholder: the engine's vectorised float64 rule.)
    """
    from .quadrature2d import expect2_np
    with np.errstate(all="ignore"):
        return expect2_np(bundle, v11, v12, v22)


# ----------------------------------------------------------------------------------------
# one step of the recursions
# ----------------------------------------------------------------------------------------
def _single_step(B, cw, cb, K, V, G1):
    """(K', V', G1', A_11_11) from layer values (one input, §3.2)."""
    s2, s2x2, s2x4, s4 = B.single(K)
    laws = B.laws(["q_map", "chi_par"], {"q": K})
    # the engine's laws, checked against the moments (their difference joins the error)
    q_own = cb + cw * s2
    chi_own = cw * (s2x2 - K * s2) / (2 * K * K)
    Kn = _D(laws["q_map"].v, laws["q_map"].e + abs(laws["q_map"].v - q_own.v) + q_own.e)
    chi = _D(laws["chi_par"].v, laws["chi_par"].e + abs(laws["chi_par"].v - chi_own.v) + chi_own.e)
    d4 = (s2x4 - 6 * K * s2x2 + 3 * K * K * s2) / (4 * (K * K) * (K * K))     # d^2<phi^2>/dK^2 = <(phi^2)''''>/4
    Vn = cw * cw * (s4 - s2 * s2) + chi * chi * V
    G1n = chi * G1 + cw / 2 * V * d4
    return Kn, Vn, G1n, chi, (s2, s4, d4)


def _pair_step(B, cw, cb, K, V, G1, single11):
    """(K', V', G1') in the pair-index form (§3.3); ``single11`` is the single-input step at K_11 = K_22."""
    K11, K22, K12 = K
    Kn11, _, _, chi, (s2, s4, d4) = single11
    M = B.pair(K11, K12, K22)
    laws = B.laws(["cov_map"], {"q11": K11, "q12": K12, "q22": K22})
    cov_own = cb + cw * M[0]
    Kn12 = _D(laws["cov_map"].v, laws["cov_map"].e + abs(laws["cov_map"].v - cov_own.v) + cov_own.e)
    mp_first, np_first, mp_second, np_second = _hermite_weights()
    first_fn, second_fn = (np_first, np_second) if isinstance(B, _NP) else (mp_first, mp_second)
    with np.errstate(all="ignore"):
        w1 = first_fn(K11.v, K12.v, K22.v)
        w2 = second_fn(K11.v, K12.v, K22.v)
    mono = M[:9]
    s22, s31, s13 = M[9], M[10], M[11]

    def weighted(weights):
        return _dsum(m * wt for wt, m in zip(weights, mono))

    dF12 = [weighted(w1[c]) for c in range(3)]                  # d<phi1 phi2>/dK_c
    zero = _D(0 * K11.v, 0)
    # A over PAIRS = (11, 22, 12); equal norms: the 22 row mirrors the 11 row
    A = [[chi, zero, zero], [zero, chi, zero], [cw * dF12[0], cw * dF12[1], cw * dF12[2]]]
    mean = [s2, s2, M[0]]
    FF = [[s4, s22, s31], [s22, s4, s13], [s31, s13, s22]]
    S = [[cw * cw * (FF[a][b] - mean[a] * mean[b]) for b in range(3)] for a in range(3)]
    AV = [[_dsum(A[a][c] * V[c][d] for c in range(3)) for d in range(3)] for a in range(3)]
    Vn = [[S[a][b] + _dsum(AV[a][d] * A[b][d] for d in range(3)) for b in range(3)] for a in range(3)]
    # second derivatives: d^2<F_11>/dK_11^2 = d4, d^2<F_22>/dK_22^2 = d4, the rest of F_11, F_22 zero
    src11 = cw / 2 * V[0][0] * d4
    src22 = cw / 2 * V[1][1] * d4
    src12 = cw / 2 * _dsum(V[c][d] * weighted(w2[c][d]) for c in range(3) for d in range(3))
    G1n = [_dsum(A[a][c] * G1[c] for c in range(3)) + src for a, src in zip(range(3), (src11, src22, src12))]
    return [Kn11, Kn11, Kn12], Vn, G1n


def _observables(K, V, G1, sqrt):
    """(c, c_bias, c_bias_qhat, c_var) from the pair quantities (delta method, §3.3)."""
    K11, K22, K12 = K
    r = _dsqrt(K11 * K22, sqrt)
    c = K12 / r
    grad = [-c / (2 * K11), -c / (2 * K22), 1 / r]
    H = [[3 * c / (4 * K11 * K11), c / (4 * K11 * K22), -1 / (2 * K11 * r)],
         [c / (4 * K11 * K22), 3 * c / (4 * K22 * K22), -1 / (2 * K22 * r)],
         [-1 / (2 * K11 * r), -1 / (2 * K22 * r), _D(0 * K11.v, 0)]]
    # the Wishart covariance of the empirical kernel: n Cov(Q_ab, Q_cd) adds K_ac K_bd + K_ad K_bc
    full = [[K11, K12], [K12, K22]]
    index = [(0, 0), (1, 1), (0, 1)]
    W = [[full[i][k] * full[j][l] + full[i][l] * full[j][k] for (k, l) in index] for (i, j) in index]
    lin = _dsum(g * e for g, e in zip(grad, G1))
    curv = _dsum(H[a][b] * V[a][b] for a in range(3) for b in range(3))
    curv_w = _dsum(H[a][b] * W[a][b] for a in range(3) for b in range(3))
    bias = lin + curv / 2
    bias_q = bias + curv_w / 2
    var = _dsum(grad[a] * V[a][b] * grad[b] for a in range(3) for b in range(3))
    return c, bias, bias_q, var


# ----------------------------------------------------------------------------------------
# public functions
# ----------------------------------------------------------------------------------------
def _check(depth, q0, c0):
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ParameterError(f"depth must be an integer >= 1, got {depth!r}")
    try:
        qv = float(to_mpf(q0)) if not isinstance(q0, np.ndarray) else None
    except (TypeError, ValueError, ArithmeticError):
        raise ParameterError(f"q0 must be a number, got {q0!r}") from None
    if qv is not None and not (math.isfinite(qv) and qv > 0):
        raise ParameterError(f"q0 must be a finite number > 0, got {q0}")
    if c0 is not None:
        try:
            arr = np.asarray([float(to_mpf(c0))]) if isinstance(c0, (str, mpmath.mpf, int, float)) \
                else np.asarray(c0, dtype=float)
        except (TypeError, ValueError, ArithmeticError):
            raise ParameterError(f"c0 must be a number, got {c0!r}") from None
        if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > 1):
            raise ParameterError(f"c0 must lie in [-1, 1], got {c0}")


def _finite(d: _D, what: str, layer: int):
    ok = mpmath.isfinite(d.v) if isinstance(d.v, mpmath.mpf) else bool(np.all(np.isfinite(d.v)))
    if not ok:
        raise ConvergenceError(f"{what} is not finite at layer {layer} (the kernel overflows or an expectation "
                               f"diverges)", hint="use fewer layers or smaller variances")


def _run(B, sw2, sb2, depth, q0, c0, to_value):
    """The recursion over layers 1..depth; ``to_value(_D)`` makes the stored numbers."""
    cw, cb = _D(B.cw, abs(B.cw) * _D.ulp), _D(B.cb, abs(B.cb) * _D.ulp)
    K = _D(B.q0, abs(B.q0) * _D.ulp)
    zero = _D(0 * B.q0, 0)
    V, G1 = zero, zero
    pair = c0 is not None
    if pair:
        K12 = _D(B.q0 * B.c0, abs(B.q0 * B.c0) * 2 * _D.ulp)
        Kp, Vp, G1p = [K, K, K12], [[zero] * 3 for _ in range(3)], [zero] * 3
    rows = []
    for l in range(1, depth + 1):
        rows.append((l, K, V, G1, (Kp, Vp, G1p) if pair else None))
        if l == depth:
            break
        step = _single_step(B, cw, cb, K, V, G1)
        if pair:
            Kp, Vp, G1p = _pair_step(B, cw, cb, Kp, Vp, G1p, step)
            K, V, G1 = Kp[0], Vp[0][0], G1p[0]
        else:
            K, V, G1 = step[:3]
        for what, d in (("K", K), ("V", V), ("G1", G1)):
            _finite(d, what, l + 1)
        if (isinstance(K.v, mpmath.mpf) and K.v <= 0) or (not isinstance(K.v, mpmath.mpf) and np.any(K.v <= 0)):
            raise NotDefinedError(f"the kernel vanishes at layer {l + 1} (a constant-zero map): V and G1 "
                                  f"need K > 0")
    return rows


def finite_width(f: CompiledLaws, sigma_w2, sigma_b2=0.0, *, depth: int, q0=1.0, c0=None,
                 dps: int | None = None) -> FiniteWidth:
    """``K``, ``V``, ``G1`` at layers ``1..depth`` (layer 1 = the input layer: ``K = q0``, ``V = G1 = 0``).

    Parameters
    ----------
    f : CompiledLaws
        The compiled laws of the activation (``compile_laws(derive(activation))``).
    sigma_w2, sigma_b2 : number or decimal string
        ``C_W`` and ``C_b``.
    depth : int
        The number of layers reported, >= 1 (layer 1 is the input layer).
    q0 : number or decimal string
        ``K^(1)``, the inputs' squared norm per neuron (> 0).
    c0 : number in [-1, 1], optional
        The correlation of two inputs of equal norm: adds the pair-index form, ``c`` and ``c_bias``.
    dps : int, optional
        Digits (mpmath); float64 when omitted. Every number is an :class:`Estimate` either way.

    >>> from neurodyn.theory import catalog, derive
    >>> from neurodyn.numerics.compile import compile_laws
    >>> f = compile_laws(derive(catalog.get("linear")))
    >>> row = finite_width(f, 1, depth=3, q0=2, c0="0.5", dps=20).layers[-1]
    >>> str(row.V), str(row.V_12_12), str(row.G1_12)    # deep linear: V = 2(l-1)K^2, G1 = 0
    ('16.000000000000000000', '10.000000000000000000', '0')
    """
    check_variances(sigma_w2, sigma_b2)
    _check(depth, q0, c0)
    if c0 is not None and not isinstance(c0, (str, mpmath.mpf, int, float, np.floating, np.integer)):
        raise ParameterError("finite_width takes one c0 (use pair_corrections for an array)")
    moments = _Moments(f)
    result = FiniteWidth(f.activation.name, str(sigma_w2), str(sigma_b2), str(q0),
                         None if c0 is None else str(c0), dps)
    if dps is None:
        B = _NP(f, moments, sigma_w2, sigma_b2)
        B.cw, B.cb = np.float64(to_mpf(sigma_w2)), np.float64(to_mpf(sigma_b2))
        B.q0 = np.float64(to_mpf(q0))
        B.c0 = None if c0 is None else np.float64(to_mpf(c0))
        _D.ulp = _EPS
        try:
            rows = _run(B, sigma_w2, sigma_b2, int(depth), q0, c0, None)
        finally:
            _D.ulp = 0.0

        def est(d):
            v, e = float(np.asarray(d.v).reshape(-1)[0]), float(np.asarray(d.e).reshape(-1)[0])
            with mpmath.workdps(30):
                return Estimate(mpmath.mpf(v), mpmath.mpf(e) + abs(mpmath.mpf(v)) * 2 * _EPS, _F64_DIGITS)

        _collect(result, rows, est, np.sqrt)
        return result
    dps = check_dps(dps)
    work = dps + 2 * GUARD_DIGITS
    with mpmath.workdps(work):
        B = _MP(f, moments, dps, sigma_w2, sigma_b2)
        B.cw, B.cb, B.q0 = to_mpf(sigma_w2), to_mpf(sigma_b2), to_mpf(q0)
        B.c0 = None if c0 is None else to_mpf(c0)
        _D.ulp = mpmath.mpf(2) ** (-mpmath.mp.prec + 2)
        try:
            rows = _run(B, sigma_w2, sigma_b2, int(depth), q0, c0, None)

            def est(d):
                return Estimate(+d.v, +d.e, dps)

            _collect(result, rows, est, mpmath.sqrt)
        finally:
            _D.ulp = 0.0
    return result


def _collect(result, rows, est, sqrt):
    for l, K, V, G1, pair in rows:
        row = FiniteWidthLayer(l, est(K), est(V), est(G1), qhat_var=est(V + 2 * K * K))
        if pair is not None:
            Kp, Vp, G1p = pair
            c, bias, bias_q, var = _observables(Kp, Vp, G1p, sqrt)
            row.c, row.c_bias, row.c_bias_qhat, row.c_var = est(c), est(bias), est(bias_q), est(var)
            row.K_pairs = tuple(est(k) for k in Kp)
            row.G1_pairs = tuple(est(g) for g in G1p)
            row.V_pairs = tuple(tuple(est(v) for v in r) for r in Vp)
        result.layers.append(row)


def pair_corrections(f: CompiledLaws, sigma_w2, sigma_b2=0.0, *, depth: int, q0=1.0, c0) -> PairCorrections:
    """Float64 pair-index ``K``, ``G1``, ``V`` at layers ``1..depth`` for an array of correlations ``c0``.

    Two inputs of equal squared norm ``q0`` and correlation ``c0`` (1-D array, each in
    [-1, 1]); layer 1 is the input layer (``K = (q0, q0, c0 q0)``, ``V = G1 = 0``). The
    kernel along a great circle to order 1/n is ``K + G1/n``
    (:meth:`PairCorrections.corrected_kernel`).

    >>> from neurodyn.theory import catalog, derive
    >>> from neurodyn.numerics.compile import compile_laws
    >>> f = compile_laws(derive(catalog.get("linear")))
    >>> p = pair_corrections(f, 1, 0, depth=3, q0=1, c0=[0.0, 0.5])
    >>> p.V[-1, :, 2, 2]        # V_12,12 = 2(l-1)(K11 K22 + K12^2)/... for a linear network
    array([2. , 2.5])
    """
    check_variances(sigma_w2, sigma_b2)
    c0 = np.atleast_1d(np.asarray(c0, dtype=float))
    if c0.ndim != 1:
        raise ParameterError("c0 must be a 1-D array of correlations")
    _check(depth, q0, c0)
    B = _NP(f, _Moments(f), sigma_w2, sigma_b2)
    B.cw, B.cb = np.float64(to_mpf(sigma_w2)), np.float64(to_mpf(sigma_b2))
    B.q0 = np.full(c0.shape, float(to_mpf(q0)))
    B.c0 = c0
    _D.ulp = _EPS
    try:
        rows = _run(B, sigma_w2, sigma_b2, int(depth), q0, c0, None)
    finally:
        _D.ulp = 0.0
    shape = (len(rows), c0.size)

    def arr(get):
        return np.broadcast_to(np.asarray(get, float), c0.shape)

    K = np.empty(shape + (3,))
    G1 = np.empty(shape + (3,))
    V = np.empty(shape + (3, 3))
    Ke, G1e, Ve = np.empty_like(K), np.empty_like(G1), np.empty_like(V)
    for i, (_, _, _, _, (Kp, Vp, G1p)) in enumerate(rows):
        for a in range(3):
            K[i, :, a], Ke[i, :, a] = arr(Kp[a].v), arr(Kp[a].e)
            G1[i, :, a], G1e[i, :, a] = arr(G1p[a].v), arr(G1p[a].e)
            for b in range(3):
                V[i, :, a, b], Ve[i, :, a, b] = arr(Vp[a][b].v), arr(Vp[a][b].e)
    return PairCorrections(c0, K, G1, V, Ke, G1e, Ve)
