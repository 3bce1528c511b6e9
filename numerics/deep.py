r"""Deep iteration at high precision near a marginal fixed point, and extrapolation of algebraic rates.

Where a one-dimensional map ``x -> F(x)`` has a fixed point ``x*`` of slope exactly 1 the
distance ``y_l = |x_l - x*|`` goes to zero algebraically, ``y_l ~ C l^(-e)`` (docs/theory.md §7.3),
and a constant ``C`` good to many digits needs depths of 10^6 layers and more. Two pieces:

* :func:`iterate_marginal` iterates the EXACT map ``F`` (an mpmath callable: a closed form, or a
  compiled law such as ``lambda x: f.q_map(x, 1, 0, dps=40)``, which returns an
  :class:`~neurodyn.numerics.results.Estimate`) from ``x0``. Once ``y`` is so small that the local
  expansion ``y' = y + sum_k c_k y^(p_k)`` (argument ``series``; powers ``p_k > 1`` may be
  fractions, e.g. ``3/2`` at a kink) is exact to working precision, it switches to that expansion:

  - the switch needs the last given term to be negligible: ``|c_K y^(p_K)| <= 10^-(dps+3) |c_1 y^(p_1)|``
    (the truncation error of one step relative to the step itself; relative to ``y`` it is
    smaller by the step's size ``|c_1| y^(p_1-1)``, and the ~``1/(|c_1| y^(p_1-1))`` steps over
    which ``y`` changes by a factor 2 add that factor back: so this bounds the relative error it
    leaves in ``y`` at any later depth, as estimated by first-order error propagation);
  - the switch is CONFIRMED: from the switch point ``x_s`` both the exact map and the series
    (in mpmath, every term) take ``confirm_steps`` steps; their largest relative difference
    is reported (:attr:`DeepRun.switch`), and must be below ``10^-dps`` (else the exact
    iteration goes on and the switch is tried again further in);
  - the series steps run in integer fixed-point arithmetic (gmpy2 ``mpz``, ``y = Y 2^-B``
    with ``B`` raised as ``y`` shrinks so that ``Y`` keeps ``dps`` digits plus guard bits), a
    Horner scheme in ``u = y^(1/D)`` (``D`` the common denominator of the powers; an integer
    root per step when ``D > 1``); terms that fall below one unit of ``2^-B`` are dropped block by
    block (their size is added to the truncation error). About 1 microsecond a layer.
  - the error of ``y`` is carried along: every rounding (floor of each product, one unit of
    ``2^-B`` each, counted per step), the evaluation error of ``F`` in the exact phase, and the
    truncation estimate (size of the last given term, plus any dropped terms), propagated from
    block to block by the flow's first-order factor ``v(y_end)/v(y_start)``, ``v(y) = y' - y``
    (exact for the continuous flow; the map's own derivative differs by ``O(y)``). Every error
    reported is therefore an ESTIMATE (the truncation of an asymptotic series cannot be bounded
    rigorously); a rerun at higher ``dps`` checks it.

  ``driven`` quantities ``z_{l+1} = g(x_l) z_l + s(x_l)`` (the metric, curvature and NTK laws
  of the geometry recursions have that form) are iterated alongside (:class:`Driven`): exact
  callables ``g``, ``s`` before the switch, their series in ``y`` after it (confirmed at the
  switch point in the same way).

* :func:`extrapolate` takes sampled ``(l, y_l)`` (or ``z_l``), a known exponent ``e`` and the form of
  the corrections, fits ``l^e y_l = C + sum_k sum_j a_kj (ln l)^j l^(-k)`` (``j <= k`` for
  ``form="log"``, ``j = 0`` for ``form="power"``; a generalised Richardson extrapolation) by least
  squares at the samples' precision, and estimates the error of ``C`` as the largest difference
  to two other fits (one order fewer; a window half as deep). Given the exact ``C`` it reports
  the agreeing digits.

Example: the sine q-map at ``(sigma_w2, sigma_b2) = (1, 0)`` is ``q' = (1 - exp(-2q))/2 =
q - q^2 + (2/3) q^3 - ...``, so ``q_l ~ 1/l - (1/3) ln l / l^2``:

>>> import math, mpmath
>>> from fractions import Fraction
>>> F = lambda q: (1 - mpmath.exp(-2 * q)) / 2
>>> series = [(n, Fraction(-(-2) ** n, 2 * math.factorial(n))) for n in range(2, 30)]
>>> run = iterate_marginal(F, 1, 20000, dps=30, fixed_point=0, side=1, series=series)
>>> run.switch.layer, run.switch.confirmed
(2, True)
>>> ls, ys = run.column("y")
>>> fit = extrapolate(ls, ys, 1, form="log", exact=1)
>>> fit.value_digits() >= 8, fit.digits >= 8
(True, True)
>>> mpmath.nstr(fit.coefficient(1, 1), 6)          # the ln l / l^2 coefficient: -1/3
'-0.333333'

The API (stable; other modules build on it): :func:`iterate_marginal`, :class:`Driven`,
:class:`DeepRun` (``samples``, ``column(name)``, ``switch``, ``seconds``, ``notes``),
:class:`Switch`, :func:`default_samples`, :func:`extrapolate`, :class:`Extrapolation`.
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

import gmpy2
import mpmath
import sympy
from gmpy2 import mpz

from neurodyn.theory.errors import ConvergenceError

from .compile import check_dps, to_mpf
from .quadrature import GUARD_DIGITS
from .results import Estimate, ParameterError

__all__ = ["iterate_marginal", "Driven", "DeepRun", "Sample", "Switch", "default_samples", "extrapolate",
           "Extrapolation", "BLOCK"]

#: Layers per block of the series phase (truncation, scaling and error bookkeeping are redone per block).
BLOCK = 4096
#: Largest depth accepted.
MAX_LAYERS = 10 ** 9


# ------------------------------------------------------------------------------------------ inputs
def _power(p) -> Fraction:
    """A power as an exact fraction (int, Fraction, SymPy Rational, or a string such as "3/2")."""
    if isinstance(p, bool):
        raise ParameterError(f"a series power must be a rational number, got {p!r}")
    if isinstance(p, (int, Fraction)):
        return Fraction(p)
    if isinstance(p, sympy.Rational):
        return Fraction(int(p.p), int(p.q))
    if isinstance(p, str):
        try:
            return Fraction(p.strip())
        except ValueError:
            pass
    if isinstance(p, float) and p.is_integer():
        return Fraction(int(p))
    raise ParameterError(f"a series power must be a rational number (int, Fraction or '3/2'), got {p!r}")


def _terms(series, what, minimum):
    """``[(Fraction power, raw coefficient)]`` sorted by power, powers > minimum (or >= 0 for gains)."""
    if series is None:
        return None
    out = []
    for item in series:
        try:
            p, coef = item
        except (TypeError, ValueError):
            raise ParameterError(f"{what}: each term must be a pair (power, coefficient), got {item!r}") from None
        p = _power(p)
        if p <= minimum if minimum is not None else p < 0:
            raise ParameterError(f"{what}: power {p} must be {'> ' + str(minimum) if minimum is not None else '>= 0'}")
        out.append((p, coef))
    if not out:
        raise ParameterError(f"{what}: the series has no terms")
    powers = [p for p, _ in out]
    if len(set(powers)) != len(powers):
        raise ParameterError(f"{what}: a power appears twice")
    return sorted(out)


def _coef(c) -> mpmath.mpf:
    """A coefficient at the working precision (Fraction, int, decimal string, mpf, SymPy number)."""
    if isinstance(c, Fraction):
        return mpmath.mpf(c.numerator) / c.denominator
    return to_mpf(c)


def _value(v):
    """(mpf value, mpf error) of a callable's result: an Estimate, an mpf or a number."""
    if isinstance(v, Estimate):
        return +v.value, +v.error
    return to_mpf(v), mpmath.mpf(0)


@dataclass
class Driven:
    """A linear quantity driven by the marginal iterate: ``z_{l+1} = g(x_l) z_l + s(x_l)``, ``z_0 = z0``.

    ``gain``/``source`` are exact callables of ``x`` (mpf in, mpf or Estimate out; ``source=None``
    means 0); ``gain_series``/``source_series`` the same functions as series in ``y = |x - x*|``,
    ``[(power, coefficient), ...]`` with powers ``>= 0`` (used after the switch; required when
    the main map has a series).
    """

    z0: object
    gain: object
    source: object = None
    gain_series: list = None
    source_series: list = None


@dataclass(frozen=True)
class Switch:
    """Where the exact iteration handed over to the series: at ``layer`` (distance ``distance``), with
    ``terms`` series terms; ``truncation`` is the estimated relative truncation error (see the module
    docstring); ``agreement`` the largest relative difference between exact and series steps over
    ``confirm_steps`` steps from there (``driven`` likewise per driven quantity, for ``g`` and ``s``
    at the switch point); ``confirmed`` whether it met ``10^-dps``; ``attempts`` how many switch
    points were tried."""

    layer: int
    distance: mpmath.mpf
    terms: int
    truncation: mpmath.mpf
    agreement: mpmath.mpf
    confirm_steps: int
    confirmed: bool
    attempts: int
    driven: dict = field(default_factory=dict)

    @property
    def digits(self) -> float:
        """Agreeing digits of the confirmation (``inf`` for an exact agreement)."""
        return math.inf if self.agreement == 0 else float(-mpmath.log10(self.agreement))

    def describe(self) -> str:
        return (f"exact map for layers 0..{self.layer}, series ({self.terms} terms) from layer {self.layer} "
                f"(distance {mpmath.nstr(self.distance, 6)}); exact and series steps agree to "
                f"{mpmath.nstr(self.agreement, 3)} relative over {self.confirm_steps} steps there")


@dataclass(frozen=True)
class Sample:
    """The state at layer ``l``: ``x``, ``y = |x - x*|``, ``error`` (estimate of the absolute error of
    both), and ``driven``: name -> ``(z, error estimate)``."""

    l: int
    x: mpmath.mpf
    y: mpmath.mpf
    error: mpmath.mpf
    driven: dict


@dataclass
class DeepRun:
    """Result of :func:`iterate_marginal`: the ``samples`` (list of :class:`Sample`, increasing ``l``),
    the :class:`Switch` (None: exact map throughout), the time of each phase (``seconds``), ``notes``."""

    layers: int
    dps: int
    fixed_point: mpmath.mpf
    side: int
    samples: list
    switch: Switch | None
    seconds: dict
    notes: list = field(default_factory=list)

    def column(self, name="y", errors=False):
        """``(ls, values)`` (and ``errors``) of ``x``, ``y`` or a driven quantity, over the samples."""
        ls, vals, errs = [], [], []
        for s in self.samples:
            if name in ("x", "y"):
                v, e = getattr(s, name), s.error
            elif name in s.driven:
                v, e = s.driven[name]
            else:
                raise KeyError(f"no quantity {name!r} (have x, y{''.join(', ' + k for k in s.driven)})")
            ls.append(s.l)
            vals.append(v)
            errs.append(e)
        return (ls, vals, errs) if errors else (ls, vals)

    def at(self, l) -> Sample:
        """The sample at layer ``l``."""
        for s in self.samples:
            if s.l == l:
                return s
        raise KeyError(f"layer {l} was not sampled")


def default_samples(layers: int) -> list:
    """Layers 0, 1, 2, 3, ... on a geometric grid of ratio ``2^(1/8)`` (rounded), every power of 10
    and ``layers`` itself: dense enough for :func:`extrapolate`'s fits."""
    out = {0, layers}
    k = 0
    while True:
        l = round(2 ** (k / 8))
        if l > layers:
            break
        out.add(l)
        k += 1
    p = 1
    while p <= layers:
        out.add(p)
        p *= 10
    return sorted(out)


# ------------------------------------------------------------------------------------------ the engine
class _Poly:
    """A series ``sum_k c_k y^(p_k)`` as a dense polynomial in ``u = y^(1/D)`` (mpf coefficients)."""

    def __init__(self, terms, D):
        self.terms = terms                      # [(Fraction p, mpf c)]
        exps = [int(p * D) for p, _ in terms]
        self.lo, self.hi = min(exps), max(exps)
        self.coef = [mpmath.mpf(0)] * (self.hi - self.lo + 1)
        for e, (_, c) in zip(exps, terms):
            self.coef[e - self.lo] = c
        self.D = D

    def __call__(self, y):
        return mpmath.fsum(c * y ** p for p, c in self.terms)

    def derivative(self, y):
        return mpmath.fsum(p * c * y ** (p - 1) for p, c in self.terms if p != 0)

    def last(self, y):
        """Size of the highest given term (the truncation estimate)."""
        p, c = self.terms[-1]
        return abs(c) * y ** p

    def active(self, u, B):
        """Highest exponent whose term still reaches ``2^-(B+4)`` at ``u`` (fixed point), and the
        size of the dropped terms."""
        hi = self.hi
        dropped = mpmath.mpf(0)
        tiny = mpmath.ldexp(1, -(B + 4))
        while hi > self.lo:
            size = abs(self.coef[hi - self.lo]) * u ** hi
            if size >= tiny:
                break
            dropped += size
            hi -= 1
        return hi, dropped

    def ints(self, hi, B):
        """Coefficients ``lo..hi`` as integers at scale ``2^B``, highest first."""
        return tuple(mpz(int(mpmath.nint(mpmath.ldexp(c, B)))) for c in reversed(self.coef[:hi - self.lo + 1]))


def _check_inputs(layers, dps, side, samples):
    if isinstance(layers, bool) or not isinstance(layers, int) or not 1 <= layers <= MAX_LAYERS:
        raise ParameterError(f"layers must be an integer between 1 and {MAX_LAYERS}, got {layers!r}")
    check_dps(dps)
    if side not in (1, -1):
        raise ParameterError(f"side must be +1 (x > x*) or -1 (x < x*), got {side!r}")
    samples = default_samples(layers) if samples is None else sorted({int(s) for s in samples})
    if samples and (samples[0] < 0 or samples[-1] > layers):
        raise ParameterError(f"samples must lie in 0..{layers}")
    return samples


def iterate_marginal(F, x0, layers: int, *, dps: int, fixed_point, side: int, series=None, samples=None,
                     driven: dict | None = None, confirm_steps: int = 3, max_exact: int = 100000) -> DeepRun:
    """Iterate ``x -> F(x)`` from ``x0`` for ``layers`` layers at ``dps`` digits (module docstring).

    Parameters
    ----------
    F : callable
        The exact map: mpf -> mpf or :class:`Estimate` (called inside ``mpmath.workdps(dps + 10)``;
        an Estimate's error is carried as the evaluation error).
    x0 : number, decimal string, mpf or SymPy number
    layers : int
        Depth (up to 10^9; 10^6 layers take about a second in the series phase).
    dps : int
        Digits wanted; the iteration works with ``dps + 10``.
    fixed_point : number
        ``x*`` (exact: a SymPy number or decimal string is converted at the working precision).
    side : +1 or -1
        ``x = x* + side * y``: +1 approaches from above, -1 from below.
    series : list of (power, coefficient), optional
        ``y' = y + sum c_k y^(p_k)``, powers ``> 1`` (int, Fraction, "3/2", SymPy Rational);
        coefficients as numbers, decimal strings or SymPy expressions (evaluated at the working
        precision). Without it the exact map is iterated at every layer.
    samples : iterable of int, optional
        Layers to record (default :func:`default_samples`).
    driven : dict name -> :class:`Driven`, optional
    confirm_steps : int
        Steps over which exact map and series are compared at the switch.
    max_exact : int
        Exact steps allowed before the switch when a series is given (ConvergenceError after).
    """
    samples = _check_inputs(layers, dps, side, samples)
    driven = dict(driven or {})
    terms = _terms(series, "series", 1)
    for name, d in driven.items():
        if not isinstance(d, Driven):
            raise ParameterError(f"driven[{name!r}] must be a Driven, got {type(d).__name__}")
        if terms is not None and d.gain_series is None:
            raise ParameterError(f"driven[{name!r}] needs gain_series (the map has a series)")
    work = dps + GUARD_DIGITS
    notes = []
    with mpmath.workdps(work):
        xs = to_mpf(fixed_point)
        x = to_mpf(x0)
        ulp = mpmath.mpf(10) ** (-work)
        target = mpmath.mpf(10) ** (-dps)
        D, poly, gpolys = 1, None, {}
        if terms is not None:
            conv = [(p, _coef(c)) for p, c in terms]
            dsers = {}
            for name, d in driven.items():
                dsers[name] = (
                    [(p, _coef(c)) for p, c in _terms(d.gain_series, f"{name}: gain_series", None)],
                    [(p, _coef(c)) for p, c in _terms(d.source_series, f"{name}: source_series", None)]
                    if d.source_series is not None else None)
            allp = [p for p, _ in conv] + [p for g, s in dsers.values() for p, _ in g + (s or [])]
            D = math.lcm(*[p.denominator for p in allp])
            poly = _Poly(conv, D)
            gpolys = {name: (_Poly(g, D), _Poly(s, D) if s else None) for name, (g, s) in dsers.items()}
        zs = {name: to_mpf(d.z0) for name, d in driven.items()}
        zerr = {name: mpmath.mpf(0) for name in driven}
        err = mpmath.mpf(0)
        recorded = []
        want = iter(samples)
        next_sample = next(want, None)

        def record(l, xv, yv, e):
            recorded.append(Sample(l, +xv, +yv, +e, {n: (+zs[n], +zerr[n]) for n in driven}))

        def distance(xv):
            return (xv - xs) * side

        # ---------------------------------------------------------------- exact phase
        t0 = time.perf_counter()
        l = 0
        switch = None
        attempts = 0
        prev_step = None
        refuse_above = None               # after a failed confirmation, ask for a smaller y
        while l < layers:
            if next_sample == l:
                record(l, x, distance(x), err)
                next_sample = next(want, None)
            y = distance(x)
            if poly is not None and y > 0 and (refuse_above is None or y < refuse_above) \
                    and _series_ready(poly, y, dps):
                attempts += 1
                ok, info = _confirm(F, driven, gpolys, poly, x, xs, side, y, min(confirm_steps, layers - l), target)
                if ok:
                    switch = Switch(l, +y, len(poly.terms), _truncation(poly, y), info["agreement"],
                                    info["steps"], True, attempts, info["driven"])
                    break
                refuse_above = y / 2
                notes.append(f"switch at layer {l} not confirmed (exact and series differ by "
                             f"{mpmath.nstr(info['agreement'], 3)} relative): exact iteration goes on")
            if poly is not None and l >= max_exact:
                raise ConvergenceError(f"the series could not take over within {max_exact} exact layers "
                                       f"(distance {mpmath.nstr(y, 5)} to the fixed point)", last=x, dps=dps,
                                       hint="give more series terms, or check the fixed point and side")
            fx, fe = _value(F(x))
            for name, d in driven.items():
                g, ge = _value(d.gain(x))
                s, se = _value(d.source(x)) if d.source is not None else (mpmath.mpf(0), mpmath.mpf(0))
                znew = g * zs[name] + s
                zerr[name] = abs(g) * zerr[name] + abs(zs[name]) * ge + se + abs(znew) * ulp
                zs[name] = znew
            step = fx - x
            slope = abs(step / prev_step) if prev_step else mpmath.mpf(1)     # secant estimate of F'
            err = slope * err + fe + abs(fx) * ulp
            prev_step = step if step != 0 else None
            x = fx
            l += 1
        if next_sample == l and switch is None:
            record(l, x, distance(x), err)
            next_sample = next(want, None)
        t_exact = time.perf_counter() - t0
        t_series = 0.0
        if switch is None and poly is not None:
            notes.append("no switch to the series: the exact map was iterated at every layer")
        if switch is not None:
            t0 = time.perf_counter()
            err = _series_phase(poly, gpolys, xs, side, switch.layer, layers, x, err, zs, zerr, dps,
                                samples, recorded, driven)
            t_series = time.perf_counter() - t0
    seconds = {"exact": t_exact, "series": t_series}
    if switch is not None:
        notes.append(switch.describe())
    return DeepRun(layers, dps, +xs, side, recorded, switch, seconds, notes)


def _truncation(poly, y):
    """Relative truncation estimate: last term over the leading step (module docstring)."""
    lead = abs(poly.terms[0][1]) * y ** poly.terms[0][0]
    return poly.last(y) / lead if lead else mpmath.inf


def _series_ready(poly, y, dps):
    """Whether the series is exact to working precision at ``y`` and the step contracts errors."""
    if _truncation(poly, y) > mpmath.mpf(10) ** (-(dps + 3)):
        return False
    # |v'(y)| <= 1/2: the series map's derivative 1 + v'(y) lies in [1/2, 3/2] (no oscillation)
    return abs(poly.derivative(y)) <= mpmath.mpf(1) / 2


def _confirm(F, driven, gpolys, poly, x, xs, side, y, steps, target):
    """Exact map vs series (all terms, mpmath) for ``steps`` steps from ``x``: (ok, info)."""
    worst = mpmath.mpf(0)
    xe, ys = x, y
    for _ in range(max(steps, 1)):
        xe = _value(F(xe))[0]
        ys = ys + poly(ys)
        ye = (xe - xs) * side
        if ye <= 0:
            return False, {"agreement": mpmath.inf, "steps": steps, "driven": {}}
        worst = max(worst, abs(ys - ye) / ye)
    dworst = {}
    for name, d in driven.items():
        gp, sp = gpolys[name]
        g = _value(d.gain(x))[0]
        gap = abs(gp(y) - g) / max(abs(g), mpmath.mpf(1))
        if d.source is not None or sp is not None:
            s = _value(d.source(x))[0] if d.source is not None else mpmath.mpf(0)
            sv = sp(y) if sp is not None else mpmath.mpf(0)
            gap = max(gap, abs(sv - s) / max(abs(s), abs(g), mpmath.mpf(1)))
        dworst[name] = gap
    ok = worst <= target and all(v <= target for v in dworst.values())
    return ok, {"agreement": worst, "steps": max(steps, 1), "driven": dworst}


def _series_phase(poly, gpolys, xs, side, start, layers, x, err, zs, zerr, dps, samples, recorded, driven):
    """The fixed-point series iteration from layer ``start`` (where ``x`` is exact) to ``layers``."""
    D = poly.D
    lo = poly.lo
    need = int((dps + GUARD_DIGITS) * 3.3219280948873626) + max(layers, 2).bit_length() + 16
    y = (x - xs) * side
    B = need - int(mpmath.floor(mpmath.log(y, 2)))
    Y = mpz(int(mpmath.floor(mpmath.ldexp(y, B))))
    err += mpmath.ldexp(1, -B)
    names = list(driven)
    Zs, Ez = {}, {}
    for n in names:
        z = zs[n]
        Ez[n] = need - int(mpmath.floor(mpmath.log(abs(z), 2))) if z != 0 else need
        Zs[n] = mpz(int(mpmath.nint(mpmath.ldexp(z, Ez[n]))))
        zerr[n] += abs(z) * mpmath.ldexp(1, -need)
    pos = bisect.bisect_right(samples, start)
    l = start
    iroot, isqrt = gmpy2.iroot, gmpy2.isqrt

    def root(Yv, Bv):
        if D == 1:
            return Yv
        if D == 2:
            return isqrt(Yv << Bv)
        return iroot(Yv << (Bv * (D - 1)), D)[0]

    cache = {}
    while l < layers:
        nxt = min(l + BLOCK, layers)
        if pos < len(samples) and samples[pos] < nxt:
            nxt = samples[pos]
        n = nxt - l
        # rescale so that Y keeps `need` bits
        if Y.bit_length() < need:
            shift = need + 32 - Y.bit_length()
            Y <<= shift
            B += shift
            cache.clear()
        y0 = mpmath.ldexp(mpmath.mpf(int(Y)), -B)
        if not _series_ready(poly, y0, dps):
            raise ConvergenceError(f"the iterate left the range where the series is exact (distance "
                                   f"{mpmath.nstr(y0, 5)} at layer {l})", last=xs + side * y0, dps=dps)
        u0 = mpmath.root(y0, D)
        hi, dropped = poly.active(u0, B)
        key = (B, hi)
        if key not in cache:
            cache.clear()
            cache[key] = poly.ints(hi, B)
        coefs = cache[key]
        top, rest = coefs[0], coefs[1:]
        shift_lo = B * lo
        # per-step rounding (units of 2^-B): one floor per Horner product, the power, the coefficients,
        # the root (its error of one unit in u moves the step by |d step/du| units)
        rounding = len(coefs) + lo + 3
        if D > 1:
            rounding += float(mpmath.fsum(abs(c) * k * u0 ** (k - 1)
                                          for k, c in enumerate(poly.coef, start=lo) if c))
        tau = poly.last(y0) + dropped
        gdata = []
        for nme in names:
            gp, sp = gpolys[nme]
            ghi, gdrop = gp.active(u0, B)
            gints = gp.ints(ghi, B)
            if sp is not None:
                shi, sdrop = sp.active(u0, B)
                sints = sp.ints(shi, B)
            else:
                sints, sdrop = None, mpmath.mpf(0)
            gdata.append((nme, gints, sints, gp.lo, sp.lo if sp is not None else 0, gdrop, sdrop))
        z_start = {nme: Zs[nme] for nme in names}
        # ------------------------------------------------ the hot loop
        if not names:
            if D == 1 and lo == 2:
                for _ in range(n):
                    acc = top
                    for a in rest:
                        acc = a + (acc * Y >> B)
                    Y += (acc * Y >> B) * Y >> B
            else:
                for _ in range(n):
                    U = root(Y, B)
                    acc = top
                    for a in rest:
                        acc = a + (acc * U >> B)
                    Y += acc * (U ** lo) >> shift_lo
        else:
            for _ in range(n):
                U = root(Y, B)
                for nme, gints, sints, glo, slo, _gd, _sd in gdata:
                    acc = gints[0]
                    for a in gints[1:]:
                        acc = a + (acc * U >> B)
                    if glo:
                        acc = acc * (U ** glo) >> (B * glo)
                    Z = Zs[nme]
                    Znew = acc * Z >> B
                    if sints is not None:
                        sacc = sints[0]
                        for a in sints[1:]:
                            sacc = a + (sacc * U >> B)
                        if slo:
                            sacc = sacc * (U ** slo) >> (B * slo)
                        e = Ez[nme] - B
                        Znew += (sacc << e) if e >= 0 else (sacc >> -e)
                    Zs[nme] = Znew
                acc = top
                for a in rest:
                    acc = a + (acc * U >> B)
                Y += acc * (U ** lo) >> shift_lo
        l = nxt
        if Y <= 0:
            raise ConvergenceError(f"the series iterate crossed the fixed point at layer {l}", dps=dps)
        # ------------------------------------------------ error bookkeeping (first-order estimate)
        y1 = mpmath.ldexp(mpmath.mpf(int(Y)), -B)
        v0, v1 = poly(y0), poly(y1)
        factor = abs(v1 / v0) if v0 != 0 else mpmath.mpf(1)
        err = err * factor + n * (rounding * mpmath.ldexp(1, -B) + tau)
        for nme, gints, sints, glo, slo, gdrop, sdrop in gdata:
            gp, sp = gpolys[nme]
            g0 = gp(y0)
            z0 = mpmath.ldexp(mpmath.mpf(int(z_start[nme])), -Ez[nme])
            z1 = mpmath.ldexp(mpmath.mpf(int(Zs[nme])), -Ez[nme])
            zmax = max(abs(z0), abs(z1))
            # per step: rounding of g (relative ~ terms * 2^-B), its truncation, the error of y through g',
            # the rounding of z itself, and the same for the source
            per = zmax * ((len(gints) + glo + 3) * mpmath.ldexp(1, -B) + gp.last(y0) + gdrop
                          + abs(gp.derivative(y0)) * err) + mpmath.ldexp(1, -Ez[nme]) * 2
            if sp is not None:
                per += (len(sints) + slo + 3) * mpmath.ldexp(1, -B) + sp.last(y0) + sdrop \
                    + abs(sp.derivative(y0)) * err
            # an error of z is multiplied by prod g over the block: bounded by max(|g|)^n at the block's ends
            # (g is monotone in y near the fixed point, and y is monotone)
            growth = max(abs(g0), abs(gp(y1)))
            zerr[nme] = zerr[nme] * growth ** n + n * per
            # keep Z at `need` bits
            bl = Zs[nme].bit_length()
            if bl < need or bl > need + 64:
                s = need + 32 - bl
                Zs[nme] = Zs[nme] << s if s >= 0 else Zs[nme] >> -s
                Ez[nme] += s
                zerr[nme] += abs(z1) * mpmath.ldexp(1, -need)
        if pos < len(samples) and samples[pos] == l:
            for nme in names:
                zs[nme] = mpmath.ldexp(mpmath.mpf(int(Zs[nme])), -Ez[nme])
            recorded.append(Sample(l, xs + side * y1, y1, +err,
                                   {nme: (+zs[nme], +zerr[nme]) for nme in names}))
            pos += 1
    return err


# ------------------------------------------------------------------------------------------ extrapolation
@dataclass(frozen=True)
class Extrapolation:
    """Result of :func:`extrapolate`: ``value`` (the constant ``C``) with an ``error`` estimate, the
    fitted ``coefficients`` (dict ``(k, j) -> a_kj`` of ``(ln l)^j l^(-k)``; ``(0, 0)`` is ``C``),
    the samples' ``window`` (first and last layer), ``alternatives`` (the other fits' values), and
    ``exact``/``digits`` (agreeing digits with the exact value, when one was given)."""

    value: mpmath.mpf
    error: mpmath.mpf
    dps: int
    coefficients: dict
    window: tuple
    alternatives: tuple
    exact: object = None
    digits: float | None = None

    def coefficient(self, k, j=0):
        """The fitted coefficient of ``(ln l)^j l^(-k)`` in ``l^e y_l``."""
        return self.coefficients[(k, j)]

    def estimate(self) -> Estimate:
        return Estimate(self.value, self.error, self.dps)

    def value_digits(self) -> float:
        """Digits the error estimate supports (relative)."""
        if self.error == 0:
            return float(self.dps)
        return float(-mpmath.log10(self.error / abs(self.value)))


def _basis(form, orders):
    cols = [(0, 0)]
    for k in range(1, orders + 1):
        for j in (range(k, -1, -1) if form == "log" else (0,)):
            cols.append((k, j))
    return cols


def _fit(ls, fs, cols, scale):
    A = mpmath.matrix(len(ls), len(cols))
    b = mpmath.matrix(len(ls), 1)
    for i, (l, f) in enumerate(zip(ls, fs)):
        lm = mpmath.mpf(l)
        ln = mpmath.log(lm)
        for c, (k, j) in enumerate(cols):
            A[i, c] = ln ** j * (scale / lm) ** k
        b[i] = f
    sol, _res = mpmath.qr_solve(A, b)
    return {col: sol[c] * scale ** col[0] for c, col in enumerate(cols)}


def extrapolate(ls, values, exponent, *, form="log", orders=None, window=100, exact=None,
                dps=None) -> Extrapolation:
    """``C = lim l^exponent * |value_l|`` from samples, with an error estimate (module docstring).

    ``ls``/``values``: sampled layers and values (mpf; e.g. ``DeepRun.column("y")``).
    ``exponent``: ``e`` (negative for growth: ``z_l ~ C l``, ``e = -1``; fractions welcome).
    ``form``: ``"log"`` (corrections ``(ln l)^j l^-k``, ``j <= k``) or ``"power"`` (``l^-k`` only).
    ``orders``: highest ``k`` (default 4 for ``"log"``, 6 for ``"power"``).
    ``window``: fit the samples with ``l >= L/window`` (``L`` the deepest sample, and ``l >= 10``).
    ``exact``: the exact ``C`` (number, string or SymPy expression), for the agreeing digits.
    ``dps``: digits of the result (default: from the working precision).
    """
    if form not in ("log", "power"):
        raise ParameterError(f"form must be 'log' or 'power', got {form!r}")
    orders = orders if orders is not None else (4 if form == "log" else 6)
    if len(ls) != len(values):
        raise ParameterError("ls and values must have the same length")
    dps = dps or mpmath.mp.dps
    with mpmath.workdps(dps + GUARD_DIGITS):
        e = _coef(exponent)
        pts = sorted((int(l), to_mpf(v)) for l, v in zip(ls, values) if int(l) >= 10)
        if not pts:
            raise ParameterError("no samples at l >= 10")
        L = pts[-1][0]

        def window_of(top, depth):
            sel = [(l, v) for l, v in pts if top / depth <= l <= top]
            return [l for l, _ in sel], [mpmath.mpf(l) ** e * abs(v) for l, v in sel]

        def run(top, depth, k):
            wl, wf = window_of(top, depth)
            cols = _basis(form, k)
            if len(wl) < len(cols) + 2:
                raise ParameterError(f"{len(wl)} samples in the window l = {top // depth}..{top}: too few for "
                                     f"{len(cols)} unknowns (sample more densely, or lower orders)")
            return _fit(wl, wf, cols, mpmath.mpf(top)), (wl[0], wl[-1])

        best, span = run(L, window, orders)
        alts = [run(L, window, orders - 1)[0][(0, 0)] if orders > 1 else None]
        top2 = max(l for l, _ in pts if l <= L // 2)
        alts.append(run(top2, window, orders)[0][(0, 0)])
        alts = [a for a in alts if a is not None]
        value = best[(0, 0)]
        error = max(abs(a - value) for a in alts)
        digits = None
        if exact is not None:
            ex = _coef(exact)
            gap = abs(value - ex)
            digits = math.inf if gap == 0 else float(-mpmath.log10(gap / abs(ex)))
        return Extrapolation(+value, +error, dps, {k: +v for k, v in best.items()}, span,
                             tuple(+a for a in alts), exact, digits)
