r"""The image of a great circle through finite random networks, against Gaussian-process ensembles.

The measurement proposed in docs/finite_width.md §5.3 for the paradox of
Amari-Karakida-Oizumi (docs/theory.md §6): does a deep chaotic network map a
curve to "a discrete set of equally spaced points" (the mean-field limit) or to
"a continuous curve of fractal nature"? Three ensembles of ``n`` functions of the
angle, on the same arc, same width ``n``, depth ``L`` and variances:

* ``network``: sampler C of docs/finite_width.md §4.2 -- ``P`` points of an arc of
  a great circle of per-neuron squared radius ``q*`` (the circle scaled to the
  fixed point, as in §4.4), pushed through the **same** random network of width
  ``n`` (fresh ``W_ij ~ N(0, sigma_w2/n)``, ``b_i ~ N(0, sigma_b2)`` at every layer;
  state 0 is the input circle, as in :mod:`neurodyn.numerics.montecarlo`);
* ``gp_mean_field``: ``n`` i.i.d. Gaussian-process paths with the mean-field
  kernel ``q* c^L(theta - theta')`` -- the covariance map iterated per angle
  difference (the kernel is stationary along a great circle);
* ``gp_corrected``: the same with the ``1/n``-corrected kernel ``K + G1/n``
  (docs/finite_width.md §3.3; ``G1`` from
  :func:`~neurodyn.numerics.finite_width.pair_corrections`, the pair-index recursions).

By docs/finite_width.md §1 the network's layer-L image is exactly ``n`` i.i.d. GP
paths with a *random* kernel: every difference between ``network`` and
``gp_mean_field`` is a finite-width effect, and between ``network`` and
``gp_corrected`` an effect beyond ``1/n``.

Estimators, one value per network (or GP sample), error bars over networks
(standard errors ``sd / sqrt(M)``; a bootstrap for the spread):

* ``autocorr``: the correlation along the curve at angular lag ``k delta``, by layer
  (ratio of means over the points of one network, §4.2);
* ``crossover``: the angle at which ``1 - c`` reaches half of ``1 - c*`` (the
  half-decorrelation angle; §5.3 predicts it moves like ``chi_1^(-l/2)``), by layer,
  and the slope of its log against the layer (theory ``-ln(chi_1)/2``);
* ``C(r)``: the correlation integral of the layer-L point set (per-neuron distance
  ``r``, pairs ``i < j``) and its local slope ``D(r) = d ln C / d ln r``;
* ``log_stretch``: ``ln s`` with ``s = |x_{i+1} - x_i|^2 / (n delta^2)`` at layer L (the local
  squared stretching, for ``delta`` well below the crossover); its spread over
  angles and networks against ``sqrt(nu_eff L / n)`` (§3.7).

>>> from neurodyn.theory.catalog import get
>>> study = curve_study(get("tanh"), "6.25", "0.09", widths=[20], depth=3, points=64, networks=2, seed=0)
>>> sorted(study.ensembles[20])
['gp_corrected', 'gp_mean_field', 'network']
>>> round(float(study.theory.c_layers[0, 1]), 12) == round(math.cos(study.theory.delta), 12)
True
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from neurodyn.theory.errors import ConvergenceError, NotDefinedError

from .compile import CompiledLaws, check_variances, compile_laws
from .finite_width import pair_corrections
from .fixedpoint import fixed_point
from .montecarlo import MEMORY_LIMIT, activation_callables
from .quadrature import IntegrandBundle, expect_np
from .results import ParameterError

__all__ = ["MeanField", "EnsembleStats", "CurveStudy", "ENSEMBLES", "mean_field", "nu_eff", "kernel_correction",
           "simulate_curve", "network_layers", "sample_gp", "curve_study", "curve_memory_estimate", "correlation_slope", "slope_span",
           "mean_stderr", "DEFAULT_ARC_UNITS", "DEFAULT_POINTS", "DEFAULT_NETWORKS"]

#: The three ensembles, in the order they are reported.
ENSEMBLES = ("network", "gp_mean_field", "gp_corrected")
#: Default arc, in units of theta_L = chi_1^(-L/2) (docs/finite_width.md §5.3 item 3 proposes [0, 10 theta_L]).
DEFAULT_ARC_UNITS = 10.0
DEFAULT_POINTS = 1024
DEFAULT_NETWORKS = 12
#: Points of the distance grid of C(r) and lags of the autocorrelation.
R_GRID = 64
N_LAGS = 48
#: Bootstrap resamples (of networks) for the spread of the log stretching.
BOOTSTRAP = 400
#: Scales r / d* at which the summary reports D(r) (d* = sqrt(2 q* (1 - c*)), the mean-field distance of
#: decorrelated points).
D_AT = (0.125, 0.25, 0.5, 0.75, 1.0)


# ----------------------------------------------------------------------------------------
# mean field on the arc
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeanField:
    """The infinite-width side of the study, on an arc of ``points`` equally spaced angles.

    ``c_layers[l, k]`` is the mean-field correlation ``c^l`` of two points ``k delta``
    apart (``l = 0..depth``; ``c^0 = cos(k delta)``); the kernel at layer ``l`` is
    ``q_star c_layers[l]`` (the circle sits at the fixed point ``q*``).
    """

    activation: str
    sigma_w2: float
    sigma_b2: float
    depth: int
    points: int
    arc: float
    q_star: float
    chi_1: float
    chi_par: float
    c_star: float
    nu_eff: float
    c_layers: np.ndarray = field(repr=False)
    lags: np.ndarray = field(repr=False)          # lag indices k of the autocorrelation estimators
    r_grid: np.ndarray = field(repr=False)        # per-neuron distances of C(r)
    notes: tuple = ()

    @property
    def delta(self) -> float:
        """The angular spacing of neighbouring points."""
        return self.arc / (self.points - 1)

    @property
    def theta_L(self) -> float:
        """``chi_1^(-L/2)``: the angular scale below which the mean-field image is smooth (§5.3 item 1)."""
        return self.chi_1 ** (-self.depth / 2)

    def kernel(self, layer: int | None = None) -> np.ndarray:
        """Autocovariance ``q* c^l(k delta)``, ``k = 0..points-1`` (default: the last layer)."""
        return self.q_star * self.c_layers[self.depth if layer is None else layer]

    def crossover(self) -> np.ndarray:
        """The mean-field half-decorrelation angle per layer, on the estimators' lag grid (nan: not on the arc)."""
        return _crossover(self.c_layers[:, self.lags], self.lags * self.delta, self.c_star)

    def log_stretch(self) -> float:
        """Mean-field ``ln s`` at the grid spacing: ``ln(2 q* (1 - c^L(delta)) / delta^2)``."""
        return math.log(2 * self.q_star * (1 - self.c_layers[-1, 1]) / self.delta**2)

    def correlation_integral(self, refine: int = 8) -> np.ndarray:
        """``C(r)`` on :attr:`r_grid` of the infinite-width image of the continuous arc (no sampling).

        At infinite width the distance of two points ``t`` apart is
        ``d(t) = sqrt(2 q* (1 - c^L(t)))``; the fraction of pairs of the arc closer than
        ``r`` is the integral of ``2 (arc - t) / arc^2`` over ``{t: d(t) < r}``, here on
        the lag grid refined ``refine`` times (``c^L`` and ``d`` linear on each piece).
        """
        t_grid = np.arange(self.points) * self.delta
        t = np.linspace(0, self.arc, refine * (self.points - 1) + 1)
        d = np.sqrt(np.maximum(2 * self.q_star * (1 - np.interp(t, t_grid, self.c_layers[-1])), 0))
        w = 2 * (self.arc - t) / self.arc**2
        dt = t[1] - t[0]
        da, db, weight = d[:-1], d[1:], (w[1:] + w[:-1]) / 2 * dt
        lo, hi = np.minimum(da, db), np.maximum(da, db)
        r = self.r_grid[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):      # d linear on each segment: the part below r
            part = np.where(hi > lo, np.clip((r - lo) / (hi - lo), 0, 1), (r > lo).astype(float))
        return part @ weight


def nu_eff(f: CompiledLaws, sigma_w2, sigma_b2, q: float) -> float:
    r"""The log-variance rate of the squared speed at the fixed point ``q`` (docs/finite_width.md §3.7 item 2).

    ``nu_eff = S22 + 2 beta S12/(1 - chi_par) + beta^2 S11/(1 - chi_par)^2`` with the
    Gaussian expectations at ``q`` by quadrature and ``beta = d ln chi_1/dq`` from
    the ``chi_1`` law (central difference); ``Var[ln g^L] ~ nu_eff L / n``.

    >>> from neurodyn.theory import derive, catalog
    >>> round(nu_eff(compile_laws(derive(catalog.get("tanh"))), 6.25, 0.09, 4.0791238), 2)
    8.22
    """
    act = f.activation
    phi, d1 = act.piecewise, act.derivative(1)
    bundle = IntegrandBundle([phi**2, phi**4, d1**2, d1**4, phi**2 * d1**2])
    (p2, p4, s2, s4, ps), _ = expect_np(bundle, np.array([float(q)]))
    p2, p4, s2, s4, ps = (float(v[0]) for v in (p2, p4, s2, s4, ps))
    sw2, sb2 = float(sigma_w2), float(sigma_b2)
    s22 = 3 * s4 / s2**2 - 1
    h = 1e-4 * q
    chi = [float(np.asarray(f.evaluate(["chi_1"], qq, sw2, sb2)["chi_1"])) for qq in (q - h, q, q + h)]
    beta = (math.log(chi[2]) - math.log(chi[0])) / (2 * h)
    if abs(beta) < 1e-12:        # chi_1 free of q (positively homogeneous activations): the speed walks alone
        return s22
    chi_par = float(np.asarray(f.evaluate(["chi_par"], q, sw2, sb2)["chi_par"]))
    s11 = sw2**2 * (p4 - p2**2)
    s12 = sw2 * (ps - p2 * s2) / s2
    return s22 + 2 * beta * s12 / (1 - chi_par) + beta**2 * s11 / (1 - chi_par) ** 2


_FIXED_POINTS: dict = {}


def _fixed_point(f, sigma_w2, sigma_b2):
    """q*, chi_1 and c* at 15 digits, remembered per activation and variances (the study asks for them once per
    run, tests many times; the two-input part takes seconds)."""
    key = (f.activation.name, str(f.activation.piecewise), str(sigma_w2), str(sigma_b2))
    if key not in _FIXED_POINTS:
        if len(_FIXED_POINTS) > 32:
            _FIXED_POINTS.clear()
        _FIXED_POINTS[key] = fixed_point(f, sigma_w2, sigma_b2, dps=15, two_input=True)
    return _FIXED_POINTS[key]


def _lag_grid(points: int) -> np.ndarray:
    return np.unique(np.round(np.geomspace(1, points - 1, N_LAGS)).astype(int))


def mean_field(f: CompiledLaws, sigma_w2, sigma_b2, *, depth: int, points: int, arc: float | None = None) -> MeanField:
    """The mean-field kernel on the arc: ``q*``, ``chi_1``, ``c*`` and ``c^l(k delta)`` for every lag and layer.

    Refuses (ParameterError) an ordered or critical point (``chi_1 <= 1``: the
    image of the curve does not decorrelate, there is no paradox to measure) and
    activations without a finite stable ``q*``.
    """
    check_variances(sigma_w2, sigma_b2)
    act = f.activation
    notes = []
    if not act.is_continuous(1):
        why = (f"{act.name} is kinked: phi'' has a Dirac delta, so chi_2 and the curvature of the image are "
               f"infinite (docs/theory.md §5.3); the image of the curve is piecewise linear at fine scales "
               f"(docs/finite_width.md §5.1)")
        notes.append(why)
    try:
        fp = _fixed_point(f, sigma_w2, sigma_b2)
    except ConvergenceError as exc:
        extra = f" ({notes[0]})" if notes else ""
        raise ParameterError(f"the curve study needs a finite stable q*: {exc}{extra}") from None
    chi_1 = float(fp.chi_1.value) if fp.chi_1 is not None else float("nan")
    if not fp.stable or not chi_1 > 1 or fp.c_star is None:
        extra = f" ({notes[0]})" if notes else ""
        raise ParameterError(
            f"the curve study needs the chaotic phase with a stable q* (chi_1 > 1); {act.name} at "
            f"sigma_w2={sigma_w2}, sigma_b2={sigma_b2} has chi_1 = {fp.chi_1}, phase {fp.phase or 'undefined'}: "
            f"the image of a curve does not decorrelate{extra}")
    q_star, c_star = float(fp.value), float(fp.c_star.value)
    theta_L = chi_1 ** (-depth / 2)
    arc = min(2 * math.pi, DEFAULT_ARC_UNITS * theta_L) if arc is None else float(arc)
    if not (math.isfinite(arc) and 0 < arc <= 2 * math.pi):
        raise ParameterError(f"arc must be an angle in (0, 2 pi], got {arc!r}")
    delta = arc / (points - 1)
    c = np.cos(np.arange(points) * delta)
    layers = [c]
    sw2, sb2 = float(sigma_w2), float(sigma_b2)
    for _ in range(depth):      # the covariance map at q* (the circle stays at q*), one lag per entry
        with np.errstate(all="ignore"):
            c = np.asarray(f.evaluate_at(["c_map"], {"c": c, "q_star": q_star, "sigma_w2": sw2,
                                                     "sigma_b2": sb2})["c_map"], float)
        c = np.minimum(c, 1.0)
        c[0] = 1.0
        layers.append(c)
    c_layers = np.array(layers)
    if not np.all(np.isfinite(c_layers)):
        raise NotDefinedError(f"the correlation map of {act.name} is not finite on the arc")
    d1 = math.sqrt(max(2 * q_star * (1 - c_layers[-1, 1]), 1e-300))
    dmax = math.sqrt(2 * q_star * max(1 - c_layers[-1].min(), 1e-300))
    r_grid = np.geomspace(min(16 * d1, dmax / 2), dmax * 2, R_GRID)
    if delta > theta_L / 4:
        notes.append(f"the grid spacing delta = {delta:.3g} is not well below theta_L = chi_1^(-L/2) = "
                     f"{theta_L:.3g}: the finite differences do not resolve the smooth scale (use more points "
                     "or a shorter arc)")
    return MeanField(act.name, sw2, sb2, int(depth), int(points), arc, q_star, chi_1, float(fp.slope.value),
                     c_star, nu_eff(f, sw2, sb2, q_star), c_layers, _lag_grid(points), r_grid, tuple(notes))


def kernel_correction(f: CompiledLaws, mf: MeanField) -> np.ndarray:
    """``G1`` of the last layer on the arc: ``(points,)`` array, entry ``k`` for two points ``k delta`` apart.

    The 1/n-corrected autocovariance of width ``n`` is ``mf.kernel() + G1 / n``
    (docs/finite_width.md §3.3: ``E[G_hat] = K + G1/n``), from
    :func:`~neurodyn.numerics.finite_width.pair_corrections` (its layer 1 is the input circle, state 0 here).
    Refuses an activation with kinks (NotDefinedError): there pair_corrections has no Price's-theorem form,
    and at the grid's correlations ``1 - c0 ~ delta^2/2`` its Hermite weights cancel to no digits in float64.
    """
    act = f.activation
    if act.kinks:
        raise NotDefinedError(f"the 1/n kernel correction on a curve needs {act.name} smooth (it has kinks, Dirac "
                              "deltas in its derivatives): for points this close together its pair recursions "
                              "lose every digit in float64")
    p = pair_corrections(f, mf.sigma_w2, mf.sigma_b2, depth=mf.depth + 1, q0=mf.q_star, c0=mf.c_layers[0])
    g1 = p.G1[-1, :, 2]
    if not np.all(np.isfinite(g1)):
        raise NotDefinedError("the 1/n correction G1 on the arc is not finite")
    return g1


# ----------------------------------------------------------------------------------------
# estimators, one set per network (or GP sample)
# ----------------------------------------------------------------------------------------
@dataclass
class EnsembleStats:
    """Per-network statistics of one ensemble at one width (first axis: the networks)."""

    ensemble: str
    width: int
    autocorr: np.ndarray        # (M, layers, lags): layers 0..L for the network, the last layer for a GP
    q: np.ndarray               # (M, layers): mean over points of |h|^2/n
    C: np.ndarray               # (M, R): correlation integral at the last layer
    log_stretch: np.ndarray     # (M, P-1): ln |x_{i+1} - x_i|^2/(n delta^2)
    notes: list = field(default_factory=list)

    @property
    def networks(self) -> int:
        return self.q.shape[0]

    def crossover(self, mf: MeanField) -> np.ndarray:
        """Half-decorrelation angle per network and recorded layer, ``(M, layers)`` (nan: not on the arc)."""
        return _crossover(self.autocorr, mf.lags * mf.delta, mf.c_star)


def _autocorr(X, lags):
    """Ratio-of-means correlation of the columns of ``X`` (n, P) at each lag."""
    sq = np.einsum("np,np->p", X, X)
    out = np.empty(len(lags))
    for j, k in enumerate(lags):
        dot = np.einsum("np,np->", X[:, :-k], X[:, k:])
        out[j] = dot / math.sqrt(sq[:-k].sum() * sq[k:].sum())
    return out


def _final(X, mf):
    """C(r) and the log stretching of the last layer's point set ``X`` (n, P)."""
    n, P = X.shape
    gram = X.T @ X
    sq = np.diag(gram).copy()
    iu = np.triu_indices(P, 1)
    d2 = (sq[:, None] + sq[None, :] - 2 * gram)[iu] / n
    d = np.sort(np.sqrt(np.maximum(d2, 0)))
    C = np.searchsorted(d, mf.r_grid, side="left") / d.size
    diff = np.diff(X, axis=1)
    s = np.einsum("np,np->p", diff, diff) / (n * mf.delta**2)
    with np.errstate(divide="ignore"):
        return C, np.log(s)


def correlation_slope(r, C, span: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(r_mid, D)``: the local slope ``d ln C / d ln r`` across ``2 span`` grid intervals (nan where C = 0).

    ``span = 1``: between neighbouring grid points, at their geometric mean; ``span = k``:
    from point ``i - k`` to ``i + k``, at ``r[i]`` -- a wider window averages the steps
    that a finite point set puts in C at small r.

    >>> r = np.geomspace(0.01, 1, 5)
    >>> correlation_slope(r, r**1.5)[1].round(12)
    array([1.5, 1.5, 1.5, 1.5])
    >>> correlation_slope(r, r**1.5, span=2)[1].round(12)
    array([1.5])
    """
    r, C = np.asarray(r, float), np.asarray(C, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lc = np.where(C > 0, np.log(C), np.nan)
    if span == 1:
        with np.errstate(invalid="ignore"):
            return np.sqrt(r[1:] * r[:-1]), np.diff(lc, axis=-1) / np.diff(np.log(r))
    lr = np.log(r)
    with np.errstate(invalid="ignore"):
        D = (lc[..., 2 * span:] - lc[..., :-2 * span]) / (lr[2 * span:] - lr[:-2 * span])
    return r[span:-span], D


def slope_span(r_grid) -> int:
    """The span of :func:`correlation_slope` for a window of a factor 2 in r on this geometric grid."""
    ratio = math.log(r_grid[1] / r_grid[0])
    return max(1, min(int(round(math.log(2) / (2 * ratio))), (len(r_grid) - 1) // 4))


def _crossover(c, angles, c_star):
    """Half-decorrelation angle: where ``1 - c`` first reaches ``(1 - c*)/2``, interpolated in ``ln angle``.

    ``c`` is ``(..., lags)``; nan where it is reached at the first lag or not on the arc.
    """
    target = (1 - c_star) / 2
    u = 1 - np.asarray(c, float)
    above = u >= target
    first = np.argmax(above, axis=-1)
    found = above.any(axis=-1) & (first > 0)
    j = np.clip(first, 1, None)
    lo = np.take_along_axis(u, (j - 1)[..., None], -1)[..., 0]
    hi = np.take_along_axis(u, j[..., None], -1)[..., 0]
    la, lb = np.log(angles[j - 1]), np.log(angles[j])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = (target - lo) / (hi - lo)
        return np.where(found, np.exp(la + t * (lb - la)), np.nan)


# ----------------------------------------------------------------------------------------
# the samplers
# ----------------------------------------------------------------------------------------
def curve_memory_estimate(width: int, points: int) -> int:
    """Bytes of the largest working arrays of one width (an estimate, within a small factor).

    A weight matrix and a few ``n x P`` layers, and the ``P x P`` Gram matrix,
    pair distances and the GP square root.

    >>> curve_memory_estimate(1600, 1024) < 2**28       # the default size: about 140 MiB
    True
    """
    n, P = int(width), int(points)
    return 8 * (n * n + 6 * n * P + 6 * P * P)


def _check_memory(width, points, memory_limit):
    need = curve_memory_estimate(width, points)
    if need > memory_limit:
        raise ParameterError(
            f"this run needs about {need / 1024**2:.0f} MiB (width {width}, {points} points), above the limit of "
            f"{memory_limit / 1024**2:.0f} MiB; use a smaller width or fewer points, or raise the limit "
            "(--memory-mib)")


def _forward(phi, mf, n, stream, name):
    """The layer images ``h^0..h^L`` of one network (a generator: one layer in memory at a time)."""
    theta = np.arange(mf.points) * mf.delta
    sw, sb = math.sqrt(mf.sigma_w2 / n), math.sqrt(mf.sigma_b2)
    frame, _ = np.linalg.qr(stream.standard_normal((n, 2)))       # Haar orthonormal pair
    h = math.sqrt(n * mf.q_star) * (np.outer(frame[:, 0], np.cos(theta)) + np.outer(frame[:, 1], np.sin(theta)))
    yield h
    for _ in range(mf.depth):
        W = stream.standard_normal((n, n))
        W *= sw
        h = W @ phi(h)
        if sb > 0:
            h += sb * stream.standard_normal(n)[:, None]
        if not np.all(np.isfinite(h)):
            raise NotDefinedError(f"the forward pass of {name} produced non-finite values (overflow)")
        yield h


def network_layers(activation, mf: MeanField, *, width: int, networks: int, seed=0):
    """Sampler C's forward pass: for each of ``networks`` networks, an iterator over its layer images ``h^0..h^L``.

    Each ``h^l`` is an ``(n, P)`` array (neurons by angles); ``h^0`` is the arc of a
    great circle of per-neuron squared radius ``q*`` in a Haar-random plane. Network
    ``i`` uses child stream ``i`` of ``seed`` (an int or a Generator), so it does not
    depend on how many are run.

    >>> from neurodyn.theory import catalog, derive
    >>> mf = mean_field(compile_laws(derive(catalog.get("tanh"))), 6.25, 0.09, depth=2, points=8)
    >>> [h.shape for h in next(network_layers(catalog.get("tanh"), mf, width=5, networks=1))]
    [(5, 8), (5, 8), (5, 8)]
    """
    phi, _, _ = activation_callables(activation, curvature=False)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    for stream in rng.spawn(networks):
        yield _forward(phi, mf, int(width), stream, activation.name)


def simulate_curve(activation, mf: MeanField, *, width: int, networks: int, seed=0) -> EnsembleStats:
    """Sampler C: the arc pushed through ``networks`` random networks of width ``width`` and depth ``mf.depth``.

    Each network uses its own child stream of ``seed`` (an int or a Generator),
    so network ``i`` does not depend on how many are run (see :func:`network_layers`).
    """
    n, P, L = int(width), mf.points, mf.depth
    auto = np.empty((networks, L + 1, len(mf.lags)))
    q = np.empty((networks, L + 1))
    C = np.empty((networks, len(mf.r_grid)))
    stretch = np.empty((networks, P - 1))
    for i, layers in enumerate(network_layers(activation, mf, width=n, networks=networks, seed=seed)):
        for l, h in enumerate(layers):
            auto[i, l] = _autocorr(h, mf.lags)
            q[i, l] = np.einsum("np,np->", h, h) / (n * P)
        C[i], stretch[i] = _final(h, mf)
    return EnsembleStats("network", n, auto, q, C, stretch)


def sample_gp(autocov, mf: MeanField, *, width: int, networks: int, seed=0, ensemble: str = "gp") -> EnsembleStats:
    """``networks`` samples of ``width`` i.i.d. Gaussian-process paths on the arc with a stationary kernel.

    ``autocov[k]`` is the covariance of two points ``k delta`` apart. The square
    root of the Toeplitz covariance comes from its eigendecomposition; negative
    eigenvalues (rounding, or a kernel that is not positive semi-definite) are set
    to 0 and their share of the trace is in ``notes``.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    autocov = np.asarray(autocov, float)
    n, P = int(width), mf.points
    idx = np.arange(P)
    T = autocov[np.abs(idx[:, None] - idx[None, :])]
    lam, vec = np.linalg.eigh(T)
    negative = -lam[lam < 0].sum() / lam.sum()
    root = vec * np.sqrt(np.clip(lam, 0, None))          # T = root root^T
    notes = []
    if negative > 1e-8:
        notes.append(f"{ensemble}: the kernel matrix has negative eigenvalues ({negative:.2g} of its trace), "
                     "set to 0")
    auto = np.empty((networks, 1, len(mf.lags)))
    q = np.empty((networks, 1))
    C = np.empty((networks, len(mf.r_grid)))
    stretch = np.empty((networks, P - 1))
    for i, stream in enumerate(rng.spawn(networks)):
        X = stream.standard_normal((n, P)) @ root.T
        auto[i, 0] = _autocorr(X, mf.lags)
        q[i, 0] = np.einsum("np,np->", X, X) / (n * P)
        C[i], stretch[i] = _final(X, mf)
    return EnsembleStats(ensemble, n, auto, q, C, stretch, notes)


# ----------------------------------------------------------------------------------------
# the study
# ----------------------------------------------------------------------------------------
def mean_stderr(x, axis=0):
    """Mean and standard error over ``axis``, ignoring nan (nan where fewer than two values)."""
    x = np.asarray(x, float)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        m = np.nanmean(x, axis=axis)
        k = np.sum(np.isfinite(x), axis=axis)
        sd = np.nanstd(x, axis=axis, ddof=1)
        return m, np.where(k > 1, sd / np.sqrt(k), np.nan)


def _pooled_sd(ls):
    """Total sd of ``ln s`` over angles and networks: sqrt(mean within-network variance + variance of means)."""
    within = ls.var(axis=1, ddof=1).mean()
    between = ls.mean(axis=1).var(ddof=1)
    return math.sqrt(within + between)


@dataclass
class CurveStudy:
    """Result of :func:`curve_study`: the mean-field side and ``ensembles[width][name]`` (EnsembleStats)."""

    theory: MeanField
    ensembles: dict
    g1: np.ndarray | None
    settings: dict
    notes: list = field(default_factory=list)

    def summary(self, bootstrap: int = BOOTSTRAP, seed: int = 0) -> dict:
        """Numbers with error bars per width and ensemble (JSON-ready), and the theory they are compared with."""
        mf = self.theory
        rng = np.random.default_rng(seed)
        L = mf.depth
        mf_cross = mf.crossover()
        d_star = math.sqrt(2 * mf.q_star * (1 - mf.c_star))
        rmid, Dmf = correlation_slope(mf.r_grid, mf.correlation_integral(), slope_span(mf.r_grid))
        peak = rmid[int(np.nanargmax(np.where(np.isfinite(Dmf), Dmf, -np.inf)))] / d_star
        ratios = sorted(set(D_AT) | {float(peak)})           # the listed scales and the mean-field peak of D
        rows = []
        for width, ens in self.ensembles.items():
            for name in ENSEMBLES:
                if name not in ens:
                    continue
                st = ens[name]
                M = st.networks
                row = {"width": width, "ensemble": name, "networks": M}
                m, se = mean_stderr(st.q[:, -1])
                row["q_L"] = {"mean": float(m), "stderr": float(se), "theory": mf.q_star}
                lag1 = int(np.flatnonzero(mf.lags == 1)[0])
                m, se = mean_stderr(st.autocorr[:, -1, lag1])
                row["c_lag1"] = {"mean": float(m), "stderr": float(se), "theory": float(mf.c_layers[-1, 1])}
                cross = st.crossover(mf)[:, -1]
                m, se = mean_stderr(cross)
                row["crossover_L"] = {"mean": float(m), "stderr": float(se), "resolved": int(np.isfinite(cross).sum()),
                                      "theory": float(mf_cross[-1]), "chi_1^(-L/2)": mf.theta_L}
                if name == "network":
                    row["crossover_slope"] = self._slope(st, mf)
                ls = st.log_stretch
                finite = np.all(np.isfinite(ls))
                sd = _pooled_sd(ls) if finite else float("nan")
                boot = [_pooled_sd(ls[rng.integers(0, M, M)]) for _ in range(bootstrap)] if finite else []
                within = ls.std(axis=1, ddof=1)
                wm, wse = mean_stderr(within)
                mm, mse = mean_stderr(ls.mean(axis=1) - mf.log_stretch())
                row["log_stretch"] = {
                    "sd": sd, "sd_err": float(np.std(boot, ddof=1)) if boot else float("nan"),
                    "sd_within": float(wm), "sd_within_err": float(wse),
                    "mean_offset": float(mm), "mean_offset_err": float(mse),
                    "theory_sd": math.sqrt(mf.nu_eff * L / width), "theory_offset": -mf.nu_eff * L / (2 * width),
                    "gp_sd": math.sqrt(2 / width)}
                rmid, D = correlation_slope(mf.r_grid, st.C, slope_span(mf.r_grid))
                dm, dse = mean_stderr(D)
                row["D"] = {"r": rmid.tolist(), "mean": _clean(dm), "stderr": _clean(dse)}
                row["D_at"] = self._d_summary(rmid, D, d_star, ratios)
                row["notes"] = list(st.notes)
                rows.append(row)
        theory = {"q_star": mf.q_star, "chi_1": mf.chi_1, "chi_par": mf.chi_par, "c_star": mf.c_star,
                  "nu_eff": mf.nu_eff, "theta_L": mf.theta_L, "arc": mf.arc, "delta": mf.delta,
                  "crossover_L": float(mf_cross[-1]), "crossover_slope": -math.log(mf.chi_1) / 2,
                  "log_stretch": mf.log_stretch(), "d_star": d_star}
        rmid, Dmf = correlation_slope(mf.r_grid, mf.correlation_integral(), slope_span(mf.r_grid))
        theory["D_infinite_width"] = {"r": rmid.tolist(), "D": _clean(Dmf)}
        theory["D_at"] = self._d_summary(rmid, Dmf[None, :], d_star, ratios)
        return _jsonable({"settings": dict(self.settings), "theory": theory, "rows": rows, "notes": list(self.notes)})

    @staticmethod
    def _slope(st, mf):
        """Per network, the least-squares slope of ln(crossover angle) against the layer, over the last half of
        the layers where the mean-field crossover and every network's are on the arc; mean and standard error
        over networks, beside the same fit of the mean-field crossover (``mean_field_fit``) and the
        asymptotic slope ``-ln(chi_1)/2`` (``theory``)."""
        cross = st.crossover(mf)                                      # (M, L + 1)
        theory = mf.crossover()
        use = np.isfinite(theory) & np.all(np.isfinite(cross), axis=0)
        use[: max(1, (mf.depth + 1) // 2)] = False                   # the last half of the layers
        layers = np.flatnonzero(use)
        out = {"theory": -math.log(mf.chi_1) / 2, "layers": layers.tolist()}
        if layers.size < 3:
            return dict(out, mean=None, stderr=None, mean_field_fit=None)
        slopes = np.polyfit(layers, np.log(cross[:, layers]).T, 1)[0]
        m, se = mean_stderr(slopes)
        fit = float(np.polyfit(layers, np.log(theory[layers]), 1)[0])
        return dict(out, mean=float(m), stderr=float(se), mean_field_fit=fit)

    @staticmethod
    def _d_summary(rmid, D, d_star, ratios):
        """D (mean and standard error over networks) at the grid points nearest ``r / d* = ratios``."""
        dm, dse = mean_stderr(D)
        out, seen = [], set()
        for ratio in ratios:
            j = int(np.argmin(np.abs(np.log(rmid / (ratio * d_star)))))
            if j not in seen:
                seen.add(j)
                out.append({"r_over_d_star": float(rmid[j] / d_star), "mean": _num(dm[j]), "stderr": _num(dse[j])})
        return out


def _jsonable(obj):
    """nan and inf become None (JSON has neither); numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _num(v):
    return float(v) if np.isfinite(v) else None


def _clean(a):
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, float)]


def curve_study(activation, sigma_w2, sigma_b2, *, widths, depth: int, points: int = DEFAULT_POINTS,
                networks: int = DEFAULT_NETWORKS, arc: float | None = None, seed=0, corrected: bool = True,
                memory_limit: int = MEMORY_LIMIT, progress=None) -> CurveStudy:
    """Run the three ensembles at every width (see the module docstring); ``progress(text)`` is told each step."""
    widths = [_positive_int("width", w, 2) for w in widths]
    if not widths:
        raise ParameterError("give at least one width")
    depth = _positive_int("depth", depth, 1)
    points = _positive_int("points", points, 16)
    networks = _positive_int("networks", networks, 2)
    for w in widths:
        _check_memory(w, points, memory_limit)
    f = compile_laws(_derive(activation))
    mf = mean_field(f, sigma_w2, sigma_b2, depth=depth, points=points, arc=arc)
    notes = list(mf.notes)
    g1 = None
    if corrected:
        try:
            g1 = kernel_correction(f, mf)
        except NotDefinedError as exc:
            notes.append(f"gp_corrected not run: {exc}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    ensembles = {}
    for w in widths:
        streams = rng.spawn(3)
        say = progress or (lambda text: None)
        say(f"width {w}: {networks} networks of depth {depth} on {points} points")
        out = {"network": simulate_curve(activation, mf, width=w, networks=networks, seed=streams[0])}
        say(f"width {w}: Gaussian-process ensembles")
        out["gp_mean_field"] = sample_gp(mf.kernel(), mf, width=w, networks=networks, seed=streams[1],
                                         ensemble="gp_mean_field")
        if g1 is not None:
            out["gp_corrected"] = sample_gp(mf.kernel() + g1 / w, mf, width=w, networks=networks, seed=streams[2],
                                            ensemble="gp_corrected")
        ensembles[w] = out
    settings = dict(activation=mf.activation, sigma_w2=str(sigma_w2), sigma_b2=str(sigma_b2), widths=widths,
                    depth=depth, points=points, networks=networks, arc=mf.arc,
                    seed=seed if isinstance(seed, int) else None)
    return CurveStudy(mf, ensembles, g1, settings, notes)


def _derive(activation):
    from neurodyn.theory import derive
    return derive(activation)


def _positive_int(name, value, least):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ParameterError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)
