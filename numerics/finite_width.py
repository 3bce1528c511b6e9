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

import contextlib
import math
import threading
from dataclasses import dataclass, field
from functools import lru_cache

import mpmath
import numpy as np
import sympy

from neurodyn.theory.checks import NUMPY_FUNCTIONS
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

    def c_bias_at(self, n) -> Estimate:
        """``n(E[c_hat] - c)`` at width ``n`` by §3.3's formula as written,
        ``E[c_hat] = c(K + G1/n) + (1/2n) sum_ab d^2c/dG_a dG_b V_ab`` (``c`` evaluated at ``K + G1/n``,
        not linearised); :attr:`c_bias` is its limit ``n -> infinity``. The two differ at order 1/n
        (beyond the 1/n theory): the size of that difference is a measure of the theory's reach."""
        if self.c is None:
            raise ValueError("c_bias_at needs two inputs (c0)")
        n = mpmath.mpf(n)
        if not n > 0:
            raise ParameterError(f"the width n must be > 0, got {n}")
        dps = self.c.dps
        with mpmath.workdps(dps + 2 * GUARD_DIGITS):
            K = [k.value for k in self.K_pairs]
            G = [k + g.value / n for k, g in zip(K, self.G1_pairs)]
            c_inf = K[2] / mpmath.sqrt(K[0] * K[1])
            c_n = G[2] / mpmath.sqrt(G[0] * G[1])
            linear = sum(g.value * d for g, d in zip(self.G1_pairs, (-c_inf / (2 * K[0]), -c_inf / (2 * K[1]),
                                                                     1 / mpmath.sqrt(K[0] * K[1]))))
            value = self.c_bias.value + n * (c_n - c_inf) - linear
            # the errors of the inputs enter as in c_bias (first order); the rest is rounding
            error = 2 * self.c_bias.error + abs(value) * mpmath.mpf(10) ** (-dps - GUARD_DIGITS)
            return Estimate(+value, +error, dps)

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
_ROUNDING = threading.local()      # relative rounding of one operation, per thread (set per run)


def _ulp():
    return getattr(_ROUNDING, "ulp", 0.0)


@contextlib.contextmanager
def _rounding(ulp):
    """Within the block, every _D operation of this thread adds ``ulp`` relative rounding."""
    before = _ulp()
    _ROUNDING.ulp = ulp
    try:
        yield
    finally:
        _ROUNDING.ulp = before


class _D:
    """A value with an absolute error estimate; arithmetic propagates it to first order."""

    __slots__ = ("v", "e")

    def __init__(self, v, e=0):
        self.v, self.e = v, e

    @staticmethod
    def of(y):
        return y if isinstance(y, _D) else _D(y, 0)

    def _r(self, v, e):
        return _D(v, e + abs(v) * _ulp())

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
    return _D(v, a.e / (2 * v) + abs(v) * _ulp())


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
        # two inputs with c = -1 (u2 = -u1): <phi(x) phi(-x) x^k>, k = 0, 2, 4; <phi^3 phi_>, <phi^2 phi_^2>,
        # <phi phi_^3> (phi_ = phi(-x))
        minus = phi.subs(x, -x)
        self.mirror = IntegrandBundle([phi * minus, phi * minus * x**2, phi * minus * x**4, phi**3 * minus,
                                       phi**2 * minus**2, phi * minus**3])
        self.phi_np = sympy.lambdify(x, phi, [NUMPY_FUNCTIONS, "numpy"])
        self.kinks = tuple(f.activation.kinks)
        # a smooth activation: its first four derivatives, for Price's theorem near |c| = 1 (float64)
        self.derivs = None if self.kinks else [sympy.lambdify(x, sympy.diff(phi, x, k), [NUMPY_FUNCTIONS, "numpy"])
                                               for k in range(5)]


def _as_d(values, errors):
    return [_D(v, e) for v, e in zip(values, errors)]


#: Largest kernel accepted at high precision for a smooth activation (the quadrature's work grows like sqrt(K)).
MAX_KERNEL = 1e8


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

    def guard(self, K):
        """A smooth activation's rule steps by ~1/sqrt(K): refuse an exploding kernel (no endless quadrature)."""
        if self.m.single.smooth and K > MAX_KERNEL:
            raise ConvergenceError(f"the kernel K = {mpmath.nstr(K, 3)} exceeds {MAX_KERNEL:.0e}: the network's "
                                   f"variance explodes", hint="use fewer layers or smaller variances")

    def single(self, K):
        self.guard(K.v)
        vals, errs = expect_mp(self.m.single, K.v, self.dps + self.extra(K.v))
        return _as_d(vals, errs)

    def mirror(self, K):
        vals, errs = expect_mp(self.m.mirror, K.v, self.dps + self.extra(K.v))
        return _as_d(vals, errs)

    def pair(self, K11, K12, K22):
        self.guard(max(K11.v, K22.v))
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

    def mirror(self, K):
        vals, errs = expect_np(self.m.mirror, np.asarray(K.v, float))
        return [_D(v, e + 4 * _EPS * abs(v)) for v, e in zip(vals, errs)]

    def pair(self, K11, K12, K22):
        vals, errs = _pair_moments_f64(self.m.phi_np, self.m.kinks, K11.v, K12.v, K22.v)
        if np.ndim(K11.v) == 0:
            vals, errs = vals[:, 0], errs[:, 0]
        return [_D(v, e) for v, e in zip(vals, errs)]

    def laws(self, names, point):
        with np.errstate(all="ignore"):
            out = self.f.evaluate_at(names, dict(self.point, **{k: v.v for k, v in point.items()}))
        return {n: _D(np.asarray(v, float), 4 * _EPS * np.abs(np.asarray(v, float))) for n, v in out.items()}


#: Half-width of the float64 rules in the standardized variables (exp(-50) times the weights' x^4 is far
#: below double precision).
_L = 10.0
#: Gauss-Legendre nodes per panel: the rule used, then the two coarser rules of the error estimate.
_GL_RULES = (16, 12, 8)
#: Elements of the kernel arrays per block (bounds the (block, n1, n2) node arrays to a few tens of MB).
_BLOCK = 16


def _pair_moments_f64(phi, kinks, v11, v12, v22, combine=None, count=12):
    """Float64 ``[<phi(u1) u1^i phi(u2) u2^j>] + [<phi1^2 phi2^2>, <phi1^3 phi2>, <phi1 phi2^3>]``: (values, errors).

    ``u1 = s1 z1``, ``u2 = a z1 + b z2`` with standard ``z1, z2``. Smooth activations: the
    trapezoid rule on both axes (exponentially convergent for Gaussian-weighted analytic
    integrands; the step resolves features of width 1 in ``u``), the error from the rule of
    twice the step (every other node). Kinked ones: Gauss-Legendre panels cut at the kinks
    (outer: ``z1 = k/s1``, and ``z1 = k/a`` where the inner expectation is nearly kinked;
    inner: ``z2 = (k - a z1)/b``), the error from two coarser rules. Vectorised over the
    (1-D) arrays ``v11, v12, v22``; the engine's :func:`~neurodyn.numerics.quadrature2d.expect2_np`
    keeps only ~1e-5 near ``|c| = 1`` for these polynomial-weighted integrands.
    """
    v11, v12, v22 = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, float)) for v in (v11, v12, v22)))
    shape = v11.shape
    v11, v12, v22 = v11.ravel(), v12.ravel(), v22.ravel()
    vals = np.empty((count, v11.size))
    errs = np.empty((count, v11.size))
    combine = combine or (lambda *nodes: _combine(phi, *nodes))
    for start in range(0, v11.size, _BLOCK):
        sl = slice(start, start + _BLOCK)
        s1 = np.sqrt(v11[sl])
        a = v12[sl] / s1
        b = np.sqrt(np.maximum(v22[sl] - a * a, 0.0))
        rule = _trapezoid_pair if not kinks else _panels_pair
        (fine, coarse) = rule(combine, kinks, s1, a, b)
        vals[:, sl] = fine
        errs[:, sl] = np.abs(fine - coarse) + 8 * _EPS * np.abs(fine)
    return vals.reshape((count,) + shape), errs.reshape((count,) + shape)


def _combine(phi, u1, w1, u2, w2):
    """The 12 moments from outer nodes (u1, w1: (N, n1)) and inner nodes (u2, w2: (N, n1, n2))."""
    with np.errstate(all="ignore"):
        g = np.broadcast_to(np.asarray(phi(u2), float), u2.shape)
        inner = []
        gp = g * w2
        for j in range(5):
            inner.append(gp.sum(axis=-1))
            if j < 4:
                gp = gp * u2
        inner.append((g * g * w2).sum(axis=-1))           # E[phi(u2)^2 | z1]
        inner.append((g * g * g * w2).sum(axis=-1))       # E[phi(u2)^3 | z1]
        f = np.broadcast_to(np.asarray(phi(u1), float), u1.shape)
        fw = f * w1
        powers = [fw]
        for _ in range(4):
            powers.append(powers[-1] * u1)
        out = [(powers[i] * inner[j]).sum(axis=-1) for i, j in _MONOMIALS]
        out.append((f * fw * inner[5]).sum(axis=-1))
        out.append((f * f * fw * inner[0]).sum(axis=-1))
        out.append((fw * inner[6]).sum(axis=-1))
    return np.array(out)


#: Price's theorem: the derivative orders (of phi(u1), of phi(u2)) of the expectations that give
#: d<phi1 phi2>/dK_c and d^2<phi1 phi2>/dK_c dK_d for a smooth activation (:func:`_price_f64`).
_PRICE = ((1, 1), (2, 0), (0, 2), (4, 0), (0, 4), (2, 2), (3, 1), (1, 3))


def _combine_derivatives(derivs, u1, w1, u2, w2):
    with np.errstate(all="ignore"):
        inner = [(np.broadcast_to(np.asarray(d(u2), float), u2.shape) * w2).sum(axis=-1) for d in derivs]
        outer = [np.broadcast_to(np.asarray(d(u1), float), u1.shape) * w1 for d in derivs]
        return np.array([(outer[i] * inner[j]).sum(axis=-1) for i, j in _PRICE])


#: The trapezoid step in ``u`` (and at most in the standardized variables): :data:`STEP_F64`, and
#: :data:`STEP_NEAR_F64` where ``|c| > PRICE_ABOVE``. Near the diagonal ``G1_12 - G1_11`` and ``V_12,12 - V_11,11``
#: are differences of O(1) sums that grow like ``chi_1^l`` (``chi_1^2l``): the two-input moments must agree with
#: the one-input ones to rounding, and a step of 1/4 leaves ~1e-11 in the fourth derivatives of tanh
#: (1e-4 in ``G1_12`` after 20 chaotic layers at 1 - c0 ~ 1e-7); a step of 1/8 leaves none.
STEP_F64 = 0.25
STEP_NEAR_F64 = 0.125


def _trapezoid_pair(combine, kinks, s1, a, b):
    norm = 1 / math.sqrt(2 * math.pi)
    with np.errstate(all="ignore"):
        rho = np.abs(a) / np.sqrt(a * a + b * b)
    step = np.where(rho > PRICE_ABOVE, STEP_NEAR_F64, STEP_F64)
    # and at most STEP_F64 in the standardized variables (the Gaussian weight alone needs no finer step)
    h1 = np.minimum(STEP_F64, step / np.maximum(np.maximum(s1, np.abs(a)), 1e-300))
    h2 = np.minimum(STEP_F64, step / np.maximum(b, 1e-300))
    J1 = int(math.ceil(_L / float(h1.min()))) // 4 * 4 + 4     # multiples of 4: the coarser rules take
    J2 = int(math.ceil(_L / float(h2.min()))) // 4 * 4 + 4     # every 2nd and 4th node
    j1 = np.arange(-J1, J1 + 1)
    j2 = np.arange(-J2, J2 + 1)
    z1 = h1[:, None] * j1
    z2 = h2[:, None] * j2
    w1 = np.exp(-z1 * z1 / 2) * norm * h1[:, None]
    w2 = np.exp(-z2 * z2 / 2) * norm * h2[:, None]
    u1 = s1[:, None] * z1
    u2 = a[:, None, None] * z1[:, :, None] + (b[:, None] * z2)[:, None, :]
    levels = []
    for step in (4, 2, 1):
        k1, k2 = (j1 % step == 0), (j2 % step == 0)
        sub = u2[:, k1][:, :, k2]
        levels.append(combine(u1[:, k1], step * w1[:, k1], sub,
                               np.broadcast_to(step * w2[:, None, k2], sub.shape)))
    # each halving of the step about squares the error of a Gaussian-weighted analytic integrand:
    # the estimate of quadrature.level_error from the last two changes
    fine = levels[2]
    scale = np.abs(fine) + 1e-300
    d1, d2 = np.abs(levels[1] - levels[0]), np.abs(levels[2] - levels[1])
    with np.errstate(all="ignore"):
        model = 10 * scale * (d2 / scale) ** 3 / (d1 / scale) ** 2
    err = np.where((d1 > 0) & (d2 / scale <= (d1 / scale) ** 1.5), model, d2)
    return fine, fine - err         # (the caller takes |fine - coarse| as the error)


def _gl_nodes(edges, n):
    """Gauss-Legendre nodes and weights (times the standard normal density) on the panels between ``edges``.

    ``edges``: (..., k) sorted; returns (..., (k-1) n) nodes and weights.
    """
    t, wt = np.polynomial.legendre.leggauss(n)
    lo, hi = edges[..., :-1, None], edges[..., 1:, None]
    half = (hi - lo) / 2
    z = (lo + hi) / 2 + half * t
    w = half * wt * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return z.reshape(z.shape[:-2] + (-1,)), w.reshape(w.shape[:-2] + (-1,))


def _panels_pair(combine, kinks, s1, a, b):
    ks = np.array([float(k) for k in kinks])
    panel = np.linspace(-_L, _L, 9)
    with np.errstate(divide="ignore", invalid="ignore"):
        outer = np.concatenate([np.broadcast_to(panel, (s1.size, panel.size)), ks[None, :] / s1[:, None],
                                np.where(a[:, None] != 0, ks[None, :] / a[:, None], _L)], axis=1)
    outer = np.sort(np.clip(np.nan_to_num(outer, nan=_L), -_L, _L), axis=1)
    results = []
    for n in _GL_RULES:
        z1, w1 = _gl_nodes(outer, n)
        mean = a[:, None] * z1                                           # (N, n1)
        with np.errstate(divide="ignore", invalid="ignore"):
            cuts = (ks[None, None, :] - mean[..., None]) / b[:, None, None]
        cuts = np.clip(np.nan_to_num(cuts, nan=_L, posinf=_L, neginf=-_L), -_L, _L)
        inner = np.sort(np.concatenate([np.broadcast_to(panel, mean.shape + panel.shape), cuts], axis=-1), axis=-1)
        z2, w2 = _gl_nodes(inner, n)                                     # (N, n1, n2)
        u2 = mean[..., None] + b[:, None, None] * z2
        results.append(combine(s1[:, None] * z1, w1, u2, w2))
    # geometric convergence in the number of nodes: the change between the two finer rules, shrunk by
    # the ratio of the last two changes (times 10 for safety) when the rules do converge, else the change
    fine = results[0]
    d1, d2 = np.abs(results[1] - results[2]), np.abs(results[0] - results[1])
    with np.errstate(all="ignore"):
        err = np.where(d2 < d1 / 2, 10 * d2 * d2 / d1, d2)
    return fine, fine - np.nan_to_num(err, nan=0.0)


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
    # the error of K moves every expectation: K' by chi, the rest (crudely) by 8 times its relative error
    rel = K.e / abs(K.v)
    Kn = _D(Kn.v, Kn.e + abs(chi.v) * K.e)
    Vn = _D(Vn.v, Vn.e + 8 * rel * (abs(Vn.v) + abs(cw.v * cw.v * (s4.v - s2.v * s2.v))))
    G1n = _D(G1n.v, G1n.e + 8 * rel * (abs(chi.v * G1.v) + abs(cw.v * V.v * d4.v)))
    return Kn, Vn, G1n, chi, (s2, s4, d4)


#: float64: pairs with 1 - |c| at most this are treated as degenerate (u2 = +-u1, :func:`_degenerate_step`).
SNAP_F64 = 1e-10


def _pair_step(B, cw, cb, K, V, G1, single11):
    """(K', V', G1') in the pair-index form (§3.3); ``single11`` is the single-input step at K_11 = K_22.

    Where ``|c| = 1`` (to working precision; :data:`SNAP_F64` in float64) the Gaussian is
    degenerate and the Hermite weights infinite: there :func:`_degenerate_step` is exact.
    """
    K11, K22, K12 = K
    if isinstance(B, _MP):
        root = mpmath.sqrt(K11.v * K22.v)
        rho = K12.v / root
        # |c| = 1 within the error of the kernel (identical inputs stay identical: c = 1 exactly)
        if 1 - abs(rho) <= mpmath.mpf(10) ** (-(B.dps + GUARD_DIGITS)) + 10 * (K12.e + K11.e + K22.e) / root:
            return _degenerate_step(B, cw, cb, K, V, G1, single11, 1 if rho > 0 else -1)
        return _general_step(B, cw, cb, K, V, G1, single11)
    with np.errstate(all="ignore"):
        rho = np.asarray(K12.v / np.sqrt(K11.v * K22.v), float)
        snap = (1 - np.abs(rho)) <= SNAP_F64 + 10 * (K12.e + K11.e + K22.e) / np.sqrt(K11.v * K22.v)
    if not np.any(snap):
        return _general_step(B, cw, cb, K, V, G1, single11)
    sign = np.where(rho >= 0, 1.0, -1.0)
    degenerate = _degenerate_step(B, cw, cb, K, V, G1, single11, sign)
    if np.all(snap):
        general = degenerate
    else:
        safe = _D(np.where(snap, 0.0, K12.v), K12.e)        # keep the weights finite where not used
        general = _general_step(B, cw, cb, (K11, K22, safe), V, G1, single11)
    slack = np.sqrt(np.clip(1 - np.abs(rho), 0, None))       # the snapped pairs: c within SNAP_F64 of +-1

    def pick(d, g):
        return _D(np.where(snap, d.v, g.v), np.where(snap, d.e + slack * np.abs(d.v), g.e))

    Kd, Vd, Gd = degenerate
    Kg, Vg, Gg = general
    return ([pick(a, b) for a, b in zip(Kd, Kg)], [[pick(a, b) for a, b in zip(ra, rb)] for ra, rb in zip(Vd, Vg)],
            [pick(a, b) for a, b in zip(Gd, Gg)])


def _degenerate_step(B, cw, cb, K, V, G1, single11, sign):
    """The pair step at ``K_12 = s K_11`` (``u2 = s u1``, ``s = +-1``): V and G1 of the degenerate form.

    Then ``Ghat_12 = s Ghat_11`` for every network, ``V_ab = s_a s_b V_11`` and ``G1_12 = s G1_11``
    (``s_a = 1, 1, s``), and every sum over the pair index becomes a derivative along the line
    ``K = t (1, 1, s)``: of ``<phi(u) phi(s u)>``, one-input Hermite forms in ``t = K_11``.
    """
    K11, _, _ = K
    Kn11, Vn11, G1n11, chi, (s2, s4, d4) = single11
    t, V11, G11 = K11, V[0][0], G1[0]
    single = B.single(K11)                  # <phi^2>, <phi^2 x^2>, <phi^2 x^4>, <phi^4>
    plus = [single[0], single[1], single[2], single[3], single[3], single[3]]
    if isinstance(sign, np.ndarray):
        moments = plus
        if np.any(sign < 0):
            minus = B.mirror(K11)
            moments = [_D(np.where(sign > 0, p.v, m.v), np.where(sign > 0, p.e, m.e)) for p, m in zip(plus, minus)]
    else:
        moments = plus if sign > 0 else B.mirror(K11)
    m12, m12x2, m12x4, s31, s22, s13 = moments
    dm = (m12x2 - t * m12) / (2 * t * t)
    d2m = (m12x4 - 6 * t * m12x2 + 3 * t * t * m12) / (4 * (t * t) * (t * t))
    # u2 = u1: <phi(u1) phi(u2)> = <phi^2> exactly, and K'_12 = K'_11 keeps c = 1 exact
    if isinstance(sign, np.ndarray) or sign < 0:
        laws = B.laws(["cov_map"], {"q11": K11, "q12": _D(sign * K11.v, K11.e), "q22": K11})
        own = cb + cw * m12
        Kn12 = _D(laws["cov_map"].v, laws["cov_map"].e + abs(laws["cov_map"].v - own.v) + own.e)
    if isinstance(sign, np.ndarray):
        Kn12 = _D(np.where(sign > 0, Kn11.v, Kn12.v), np.where(sign > 0, Kn11.e, Kn12.e))
    elif sign > 0:
        Kn12 = Kn11
    a12 = cw * dm
    V1122 = cw * cw * (s22 - s2 * s2) + chi * chi * V11
    V1212 = cw * cw * (s22 - m12 * m12) + a12 * a12 * V11
    V1112 = cw * cw * (s31 - s2 * m12) + chi * a12 * V11
    V2212 = cw * cw * (s13 - s2 * m12) + chi * a12 * V11
    Vn = [[Vn11, V1122, V1112], [V1122, Vn11, V2212], [V1112, V2212, V1212]]
    G1n12 = a12 * G11 + cw / 2 * V11 * d2m
    rel = _max_rel(K)
    Kn12 = _D(Kn12.v, Kn12.e + abs(a12.v) * (K[0].e + K[1].e + K[2].e))
    Vn = [[_D(v.v, v.e + 16 * rel * abs(v.v)) for v in row] for row in Vn]
    G1n12 = _D(G1n12.v, G1n12.e + 8 * rel * (abs(G1n12.v) + abs(a12.v * G11.v) + abs(cw.v * V11.v * d2m.v)))
    return [Kn11, Kn11, Kn12], Vn, [G1n11, G1n11, G1n12]


def _general_step(B, cw, cb, K, V, G1, single11):
    """The pair step at a non-degenerate kernel (Hermite weights of ``Sigma^-1``)."""
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
    d2F12 = [[weighted(w2[c][d]) for d in range(3)] for c in range(3)]
    if isinstance(B, _NP) and B.m.derivs is not None:
        dF12, d2F12 = _near_diagonal_price(B, K11, K12, K22, dF12, d2F12)
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
    src12 = cw / 2 * _dsum(V[c][d] * d2F12[c][d] for c in range(3) for d in range(3))
    G1n = [_dsum(A[a][c] * G1[c] for c in range(3)) + src for a, src in zip(range(3), (src11, src22, src12))]
    # the errors of K move the expectations: K'_12 through A, V' and G1' (crudely) by 8 times the relative error
    Kn12 = _D(Kn12.v, Kn12.e + _dsum(_D(abs(A[2][c].v) * K[c].e) for c in range(3)).v)
    rel = _max_rel(K)
    Vn = [[_D(v.v, v.e + 8 * rel * (abs(v.v) + abs(S[a][b].v))) for b, v in enumerate(row)] for a, row in enumerate(Vn)]
    G1n = [_D(g.v, g.e + 8 * rel * (abs(g.v) + abs(src.v) + _dsum(_D(abs(A[a][c].v * G1[c].v)) for c in range(3)).v))
           for a, (g, src) in enumerate(zip(G1n, (src11, src22, src12)))]
    return [Kn11, Kn11, Kn12], Vn, G1n


#: float64, smooth activations: where |c| > PRICE_ABOVE the two-input derivatives are taken by Price's
#: theorem (derivatives of phi, bounded as |c| -> 1) instead of the Hermite weights, which cancel there.
PRICE_ABOVE = 0.9


def _near_diagonal_price(B, K11, K12, K22, dF12, d2F12):
    """Replace the Hermite-form derivatives by Price's-theorem ones where ``|c| > PRICE_ABOVE`` (float64).

    With ``F = phi(u1) phi(u2)`` and ``phi_k`` the k-th derivative (§3.3):
    ``d<F>/dK_11 = <phi_2 phi>/2``, ``d<F>/dK_12 = <phi_1 phi_1>``, ``d^2<F>/dK_11^2 = <phi_4 phi>/4``,
    ``d^2<F>/dK_11 dK_22 = <phi_2 phi_2>/4``, ``d^2<F>/dK_11 dK_12 = <phi_3 phi_1>/2``,
    ``d^2<F>/dK_12^2 = <phi_2 phi_2>``: bounded integrands, no cancellation at ``|c| = 1``.
    """
    with np.errstate(all="ignore"):
        rho = np.abs(np.asarray(K12.v / np.sqrt(K11.v * K22.v), float))
    near = rho > PRICE_ABOVE
    if not np.any(near):
        return dF12, d2F12
    shape = near.shape
    idx = np.nonzero(near.reshape(-1))[0]

    def take(v):
        return np.broadcast_to(np.asarray(v, float), shape).reshape(-1)[idx]

    vals, errs = _pair_moments_f64(None, B.m.kinks, take(K11.v), take(K12.v), take(K22.v),
                                   combine=lambda *nodes: _combine_derivatives(B.m.derivs, *nodes),
                                   count=len(_PRICE))
    P = {key: _D(v, e) for key, v, e in zip(_PRICE, vals, errs)}
    price1 = [P[(2, 0)] * 0.5, P[(0, 2)] * 0.5, P[(1, 1)]]
    price2 = [[P[(4, 0)] * 0.25, P[(2, 2)] * 0.25, P[(3, 1)] * 0.5],
              [P[(2, 2)] * 0.25, P[(0, 4)] * 0.25, P[(1, 3)] * 0.5],
              [P[(3, 1)] * 0.5, P[(1, 3)] * 0.5, P[(2, 2)]]]

    def put(hermite, price):
        v = np.array(np.broadcast_to(np.asarray(hermite.v, float), shape), dtype=float).reshape(-1)
        e = np.array(np.broadcast_to(np.asarray(hermite.e, float), shape), dtype=float).reshape(-1)
        v[idx], e[idx] = price.v, price.e
        return _D(v.reshape(shape), e.reshape(shape))

    return ([put(h, p) for h, p in zip(dF12, price1)],
            [[put(h, p) for h, p in zip(hr, pr)] for hr, pr in zip(d2F12, price2)])


def _max_rel(K):
    """The largest relative error of the kernel (``K_12`` relative to ``sqrt(K_11 K_22)``)."""
    K11, K22, K12 = K
    root = (K11.v * K22.v) ** 0.5 if isinstance(K11.v, np.ndarray) else mpmath.sqrt(K11.v * K22.v)
    rels = [K11.e / K11.v, K22.e / K22.v, K12.e / root]
    if isinstance(root, np.ndarray):
        return np.maximum(np.maximum(rels[0], rels[1]), rels[2])
    return max(rels)


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


def _run(B, depth, c0):
    """The recursion over layers 1..depth: (l, K, V, G1, pair values or None) per layer, as _D."""
    cw, cb = _D(B.cw, abs(B.cw) * _ulp()), _D(B.cb, abs(B.cb) * _ulp())
    K = _D(B.q0, abs(B.q0) * _ulp())
    zero = _D(0 * B.q0, 0)
    V, G1 = zero, zero
    pair = c0 is not None
    if pair:
        K12 = _D(B.q0 * B.c0, abs(B.q0 * B.c0) * 2 * _ulp())
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
        rows = _run_float64(f, moments, sigma_w2, sigma_b2, np.float64(to_mpf(q0)),
                            None if c0 is None else np.float64(to_mpf(c0)), depth)

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
        with _rounding(mpmath.mpf(2) ** (-mpmath.mp.prec + 2)):
            rows = _run(B, int(depth), c0)

            def est(d):
                return Estimate(+d.v, +d.e, dps)

            _collect(result, rows, est, mpmath.sqrt)
    return result


def _run_float64(f, moments, sigma_w2, sigma_b2, q0, c0, depth):
    """The recursions in float64 (``q0``, ``c0`` scalars or arrays of the same shape): the rows of _run."""
    B = _NP(f, moments, sigma_w2, sigma_b2)
    B.cw, B.cb = np.float64(to_mpf(sigma_w2)), np.float64(to_mpf(sigma_b2))
    B.q0, B.c0 = q0, c0
    with _rounding(_EPS), np.errstate(all="ignore"):     # an overflow is caught by _run's finiteness check
        return _run(B, int(depth), c0)


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
    rows = _run_float64(f, _Moments(f), sigma_w2, sigma_b2, np.full(c0.shape, float(to_mpf(q0))), c0, depth)
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
