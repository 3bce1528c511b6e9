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
    is reported (:attr:`DeepRun.switch`), and must be below ``10^-dps`` (plus twice the exact
    map's own relative evaluation error, where that is larger) -- else the exact iteration goes
    on and the switch is tried again further in;
  - the series steps run in integer fixed-point arithmetic (gmpy2 ``mpz``, ``y = Y 2^-B``
    with ``B`` raised as ``y`` shrinks so that ``Y`` keeps ``dps + 5`` digits plus ``log2(layers)``
    guard bits), a Horner scheme in ``u = y^(1/D)`` (``D`` the common denominator of the powers;
    an integer root per step when ``D > 1``); terms that fall below one unit of ``2^-B`` are
    dropped block by block (their size is added to the truncation error). A few microseconds a layer;
  - deeper in, where it is exact to working precision, the series phase JUMPS: the ``2^k``-fold
    iterate of the series map is itself a series in ``u`` (built once by repeated squaring:
    composition of series truncated at degree :data:`JUMP_DEGREE`, exact to that degree; the
    driven affine maps compose alongside), and one Horner evaluation advances ``2^k`` layers. A
    level is used only where its last term is below ``10^-(dps+3)`` of its leading term (the
    switch criterion for ``2^k`` layers at once); ``jumps=False`` steps one layer at a time (the
    tests check that both agree to working precision). 10^6 layers at 30 digits take about a
    second, most of it building the composed series;
  - the error of ``y`` is carried along: every rounding (floor of each product, one unit of
    ``2^-B`` each, counted per step), the evaluation error of ``F`` in the exact phase, and the
    truncation estimate (size of the last given term, plus any dropped terms), propagated from
    block to block by the flow's first-order factor ``v(y_end)/v(y_start)``, ``v(y) = y' - y``
    (exact for the continuous flow; the map's own derivative differs by ``O(y)``). Every error
    reported is therefore an ESTIMATE (the truncation of an asymptotic series cannot be bounded
    rigorously); a rerun at higher ``dps`` checks it. The notes say how many layers were single
    steps and how many were jumped.

  ``driven`` quantities ``z_{l+1} = g(x_l) z_l + s(x_l)`` (the metric, curvature and NTK laws
  of the geometry recursions have that form) are iterated alongside (:class:`Driven`): exact
  callables ``g``, ``s`` before the switch, their series in ``y`` after it (compared with the
  exact ``g``, ``s`` at the switch point: :attr:`Switch.driven`). Their error estimate carries
  the evaluation and rounding errors and, after the switch, the error of ``y`` through ``g'``
  (before it, where ``x`` is good to working precision, that part is left out).

* :func:`extrapolate` takes sampled ``(l, y_l)`` (or ``z_l``), a known exponent ``e`` and the form of
  the corrections, fits ``l^e y_l = C + sum_k sum_j a_kj (ln l)^j l^(-k)`` (``j <= k`` for
  ``form="log"``, ``j = 0`` for ``form="power"``; a generalised Richardson extrapolation) by least
  squares at the samples' precision, and estimates the error of ``C`` as the largest difference
  to two other fits (one order fewer; a window half as deep). Given the exact ``C`` it reports
  the agreeing digits.

Example: the sine q-map at ``(sigma_w2, sigma_b2) = (1, 0)`` is ``q' = (1 - exp(-2q))/2 =
q - q^2 + (2/3) q^3 - ...``, so ``q_l ~ 1/l - (1/3) ln l / l^2``; its metric ``g' = chi_1(q) g`` with
``chi_1 = (1 + exp(-2q))/2 = 1 - q + ...`` decays as ``C/l``:

>>> import math, mpmath
>>> from fractions import Fraction
>>> F = lambda q: -mpmath.expm1(-2 * q) / 2          # (1 - exp(-2q))/2, no cancellation at small q
>>> series = [(n, Fraction(-(-2) ** n, 2 * math.factorial(n))) for n in range(2, 30)]
>>> metric = Driven(1, lambda q: (1 + mpmath.exp(-2 * q)) / 2,
...                 gain_series=[(0, 1)] + [(n, Fraction((-2) ** n, 2 * math.factorial(n))) for n in range(1, 30)])
>>> run = iterate_marginal(F, 1, 20000, dps=30, fixed_point=0, side=1, series=series, driven={"metric": metric})
>>> run.switch.layer, run.switch.confirmed, run.switch.agreement < 1e-30
(2, True, True)
>>> ls, ys = run.column("y")
>>> fit = extrapolate(ls, ys, 1, form="log", exact=1)
>>> fit.value_digits() >= 8, fit.digits >= 8
(True, True)
>>> mpmath.nstr(fit.coefficient(1, 1), 6)          # the ln l / l^2 coefficient: -1/3
'-0.333333'
>>> metric_fit = extrapolate(*run.column("metric"), 1)
>>> metric_fit.value_digits() > 8
True

The API (stable; other modules build on it): :func:`iterate_marginal` (``jumps=False`` for one
layer at a time), :class:`Driven`, :class:`DeepRun` (``samples`` of :class:`Sample`,
``column(name)``, ``at(l)``, ``switch``, ``seconds``, ``notes``), :class:`Switch`
(``layer``, ``distance``, ``agreement``, ``digits``, ``describe()``), :func:`default_samples`,
:func:`extrapolate`, :class:`Extrapolation` (``value``, ``error``, ``digits``, ``coefficient(k, j)``,
``estimate()``).
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
#: Degree (in ``u = y^(1/D)``) at which the composed series of the jumps are truncated.
JUMP_DEGREE = 24
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


def _evaluate(fn, x):
    """``fn(x)`` with an error estimate: an Estimate's own error, else the difference to a re-evaluation
    with ``GUARD_DIGITS`` more digits (a closed form can lose digits to cancellation) plus one unit
    in the last place."""
    v = fn(x)
    if isinstance(v, Estimate):
        return +v.value, +v.error
    value = to_mpf(v)
    with mpmath.workdps(mpmath.mp.dps + GUARD_DIGITS):
        better = to_mpf(fn(x))
        gap = abs(better - value)
    return value, gap + abs(value) * mpmath.mpf(10) ** (1 - mpmath.mp.dps)


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
    at the switch point); ``confirmed`` whether it met ``tolerance`` (``10^-dps``, or more where the
    exact map's own evaluation error is larger: see ``_confirm``); ``attempts`` how many switch
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
    tolerance: mpmath.mpf = None
    dps: int | None = None

    @property
    def digits(self) -> float:
        """Agreeing digits of the confirmation (``inf`` for an exact agreement)."""
        return math.inf if self.agreement == 0 else float(-mpmath.log10(self.agreement))

    def describe(self) -> str:
        text = (f"exact map for layers 0..{self.layer}, series ({self.terms} terms) from layer {self.layer} "
                f"(distance {mpmath.nstr(self.distance, 6)}); exact and series steps agree to "
                f"{mpmath.nstr(self.agreement, 3)} relative over {self.confirm_steps} steps there")
        if self.tolerance is not None and self.dps is not None and self.tolerance > 2 * mpmath.mpf(10) ** -self.dps:
            text += f", within the exact map's own accuracy there ({mpmath.nstr(self.tolerance, 2)} relative)"
        return text


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

    def _u(self, y):
        return y if self.D == 1 else mpmath.root(y, self.D)

    def _horner(self, coefs, u):
        acc = mpmath.mpf(0)
        for c in reversed(coefs):
            acc = acc * u + c
        return acc

    def __call__(self, y):
        u = self._u(y)
        return self._horner(self.coef, u) * u ** self.lo

    def derivative(self, y):
        """d/dy (``y^(p-1) = u^(Dp - D)``)."""
        u = self._u(y)
        scaled = [mpmath.mpf(k) / self.D * c for k, c in enumerate(self.coef, start=self.lo)]
        if self.lo == 0:
            return self._horner(scaled[1:], u) * u ** (1 - self.D)
        return self._horner(scaled, u) * u ** (self.lo - self.D)

    def last(self, y):
        """Size of the highest given term: the estimate of the omitted tail (0 for a series that ends
        with a zero coefficient, the way to say that it is complete)."""
        return abs(self.coef[-1]) * self._u(y) ** self.hi

    def lead(self, y):
        """Size of the lowest term."""
        return abs(self.coef[0]) * self._u(y) ** self.lo

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
        """Coefficients ``lo..hi`` as integers at scale ``2^B``, highest first (exact roundings of the
        coefficients, whatever the working precision)."""
        with mpmath.workprec(max(B, 0) + 64 + max((c.man.bit_length() for c in self.coef if c), default=0)):
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
                     driven: dict | None = None, confirm_steps: int = 3, max_exact: int = 100000,
                     jumps: bool = True) -> DeepRun:
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
        coefficients as Fractions, ints, decimal strings or SymPy expressions (evaluated at the
        working precision; a float64 coefficient is only good to 16 digits, and the confirmation
        will say so). The size of the last term estimates the omitted tail; a series that is
        complete (a polynomial) ends with a zero coefficient. Without ``series`` the exact map is
        iterated at every layer (each evaluation of ``F`` that is not an Estimate is repeated with
        10 more digits to estimate its rounding error).
    samples : iterable of int, optional
        Layers to record (default :func:`default_samples`).
    driven : dict name -> :class:`Driven`, optional
    confirm_steps : int
        Steps over which exact map and series are compared at the switch.
    max_exact : int
        Exact steps allowed before the switch when a series is given (ConvergenceError after).
    jumps : bool
        Where valid, advance ``2^k`` layers at once with the composed series (module docstring);
        ``False``: one layer at a time throughout (slower, for comparison).
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
        zerr = {name: abs(zs[name]) * ulp for name in driven}
        # the start and the fixed point rounded to the working precision: near x* that rounding is a
        # relative error of y of order 10^-work |x*| / y, the error of layer 0
        with mpmath.workdps(work + GUARD_DIGITS):
            x_hi, xs_hi = to_mpf(x0), to_mpf(fixed_point)
            err = abs(x_hi - x) + abs(xs_hi - xs) + (abs(x_hi) + abs(xs_hi)) * mpmath.mpf(10) ** (1 - mpmath.mp.dps)
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
                                    info["steps"], True, attempts, info["driven"], info["tolerance"], dps)
                    break
                refuse_above = y / 2
                notes.append(f"switch at layer {l} not confirmed (exact and series differ by "
                             f"{mpmath.nstr(info['agreement'], 3)} relative): exact iteration goes on")
            if poly is not None and l >= max_exact:
                raise ConvergenceError(f"the series could not take over within {max_exact} exact layers "
                                       f"(distance {mpmath.nstr(y, 5)} to the fixed point)", last=x, dps=dps,
                                       hint="give more series terms or exact coefficients (a float64 "
                                       "coefficient has 16 digits), or check the fixed point and side")
            fx, fe = _evaluate(F, x)
            for name, d in driven.items():
                g, ge = _evaluate(d.gain, x)
                s, se = _evaluate(d.source, x) if d.source is not None else (mpmath.mpf(0), mpmath.mpf(0))
                znew = g * zs[name] + s
                zerr[name] = abs(g) * zerr[name] + abs(zs[name]) * ge + se + abs(znew) * ulp
                zs[name] = znew
            step = fx - x
            slope = abs(step / prev_step) if prev_step else mpmath.mpf(1)     # secant estimate of F'
            err = slope * err + fe
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
            degree = min(JUMP_DEGREE, poly.D * (poly.terms[-1][0] - 1) + 1) if jumps else 0
            err, stats = _series_phase(poly, gpolys, xs, side, switch.layer, layers, x, err, zs, zerr, dps,
                                       samples, recorded, driven, int(degree))
            notes.append(f"series phase: {stats['single']} single layers and {stats['jumps']} jumps of 2^k layers "
                         f"covering {stats['jumped']} layers")
            t_series = time.perf_counter() - t0
    seconds = {"exact": t_exact, "series": t_series}
    if switch is not None:
        notes.append(switch.describe())
    return DeepRun(layers, dps, +xs, side, recorded, switch, seconds, notes)


def _truncation(poly, y):
    """Relative truncation estimate: last term over the leading step (module docstring)."""
    lead = poly.lead(y)
    return poly.last(y) / lead if lead else mpmath.inf


def _series_ready(poly, y, dps):
    """Whether the series is exact to working precision at ``y``, the iterate approaches the fixed point
    (leading coefficient < 0: ``y`` decreases, so the series stays exact further on) and the step
    contracts errors."""
    if poly.coef[0] >= 0 or _truncation(poly, y) > mpmath.mpf(10) ** (-(dps + 3)):
        return False
    # |v'(y)| <= 1/2: the series map's derivative 1 + v'(y) lies in [1/2, 3/2] (no oscillation)
    return abs(poly.derivative(y)) <= mpmath.mpf(1) / 2


def _confirm(F, driven, gpolys, poly, x, xs, side, y, steps, target):
    """Exact map vs series (all terms, mpmath) for ``steps`` steps from ``x``: (ok, info).

    Confirmed when the largest relative difference is below ``target`` (``10^-dps``) plus twice the
    exact map's own evaluation error there (an Estimate's error, or the change on re-evaluation with
    more digits): a map that cannot be evaluated to ``10^-dps`` relative near the fixed point (a
    difference ``F(x) - x*`` that cancels) is confirmed to its own accuracy, which the run's error
    estimates then carry."""
    worst = mpmath.mpf(0)
    allowed = target
    xe, ys, fe = x, y, mpmath.mpf(0)
    for _ in range(max(steps, 1)):
        xe, e = _evaluate(F, xe)
        fe += e
        ys = ys + poly(ys)
        ye = (xe - xs) * side
        if ye <= 0:
            return False, {"agreement": mpmath.inf, "steps": steps, "driven": {}, "tolerance": target}
        worst = max(worst, abs(ys - ye) / ye)
        allowed = max(allowed, target + 2 * fe / ye)
    dworst, ok = {}, worst <= allowed
    for name, d in driven.items():
        gp, sp = gpolys[name]
        g, ge = _evaluate(d.gain, x)
        scale = max(abs(g), mpmath.mpf(1))
        gap = abs(gp(y) - g) / scale
        ok = ok and gap <= target + 2 * ge / scale
        if d.source is not None or sp is not None:
            s, se = _evaluate(d.source, x) if d.source is not None else (mpmath.mpf(0), mpmath.mpf(0))
            sv = sp(y) if sp is not None else mpmath.mpf(0)
            scale = max(abs(s), abs(g), mpmath.mpf(1))
            sgap = abs(sv - s) / scale
            ok = ok and sgap <= target + 2 * se / scale
            gap = max(gap, sgap)
        dworst[name] = gap
    return ok, {"agreement": worst, "steps": max(steps, 1), "driven": dworst, "tolerance": allowed}


def _mul(a, b, K):
    """Product of two dense series (lists of mpf, index = degree), truncated at degree K."""
    out = [mpmath.mpf(0)] * (K + 1)
    for i, ai in enumerate(a):
        if ai:
            for j in range(min(len(b), K + 1 - i)):
                out[i + j] += ai * b[j]
    return out


def _powers(b, K):
    """``[b^0, b^1, ..., b^K]`` truncated at degree K (``b`` has no constant term)."""
    out = [[mpmath.mpf(1)] + [mpmath.mpf(0)] * K]
    for _ in range(K):
        out.append(_mul(out[-1], b, K))
    return out


def _compose(a, b, K, powers=None):
    """``a(b(u))`` truncated at degree K (``b`` has no constant term; ``powers`` = ``_powers(b, K)``)."""
    powers = powers or _powers(b, min(K, len(a) - 1))
    out = [mpmath.mpf(0)] * (K + 1)
    for j, coef in enumerate(a[:len(powers)]):
        if coef:
            for d in range(j, K + 1):            # b^j starts at degree j
                out[d] += coef * powers[j][d]
    return out


def _dense(poly, K):
    """A :class:`_Poly` as a dense list in ``u`` of degrees 0..K."""
    out = [mpmath.mpf(0)] * (K + 1)
    for k, c in enumerate(poly.coef, start=poly.lo):
        if k <= K:
            out[k] += c
    return out


def _as_poly(dense, D, skip=()):
    terms = [(Fraction(j, D), c) for j, c in enumerate(dense) if c and j not in skip]
    return _Poly(terms or [(Fraction(0), mpmath.mpf(0))], D)


class _Jumps:
    """The ``2^m``-fold iterates of the series map (and of the driven affine maps) as series in
    ``u = y^(1/D)``, truncated at degree ``K``, built by repeated squaring (composition of series):
    ``H_{m+1} = H_m o H_m``, ``G_{m+1} = (G_m o H_m) G_m``, ``S_{m+1} = (G_m o H_m) S_m + S_m o H_m``.
    Truncated composition is exact to degree ``K``; the size of the degree-K term estimates the rest,
    as for the given series. Level ``m`` is used where that estimate is below ``10^-(dps+3)`` of the
    jump's leading term (the criterion of the switch, for ``2^m`` layers at once)."""

    MAX_LEVEL = 20

    def __init__(self, poly, gpolys, names, K):
        D = poly.D
        self.D, self.K, self.names, self.work = D, K, names, mpmath.mp.dps
        self.valid_below = {}
        inc = _dense(poly, K * D)          # y' - y in u, degrees up to K*D
        if D == 1:
            H = inc[:K + 1]
            H[1] += 1
        else:
            # u' = u (1 + w)^(1/D), w = (y' - y)/y as a series in u
            w = [inc[j + D] if j + D < len(inc) else mpmath.mpf(0) for j in range(K)]
            N = K - 1
            alpha = mpmath.mpf(1) / D
            binom = [mpmath.binomial(alpha, i) for i in range(N + 1)]
            root = _compose(binom, w[:N + 1], N)
            H = [mpmath.mpf(0)] + root[:K]
        self.levels = [(H, {n: (_dense(g, K), _dense(s, K) if s is not None else None)
                            for n, (g, s) in gpolys.items()})]
        self.polys = [self._polys(0)]

    def _polys(self, m):
        H, gs = self.levels[m]
        return (_as_poly(H, self.D, skip=(1,)),
                {n: (_as_poly(g, self.D), _as_poly(s, self.D) if s is not None else None) for n, (g, s) in gs.items()})

    def _build(self):
        with mpmath.workdps(self.work):
            self._build_next()

    def _build_next(self):
        H, gs = self.levels[-1]
        K = self.K
        powers = _powers(H, K)                    # every composition below is with H
        H2 = _compose(H, H, K, powers)
        gs2 = {}
        for n, (g, s) in gs.items():
            gh = _compose(g, H, K, powers)
            g2 = _mul(gh, g, K)
            s2 = None if s is None else [a + b for a, b in zip(_mul(gh, s, K), _compose(s, H, K, powers))]
            gs2[n] = (g2, s2)
        self.levels.append((H2, gs2))
        self.polys.append(self._polys(len(self.levels) - 1))

    def valid(self, m, y0, dps):
        """Whether level ``m`` is exact to working precision at ``y0`` (building it if needed)."""
        while len(self.levels) <= m:
            self._build()
        if y0 <= self.valid_below.get(m, -1):
            return True                           # valid at a larger y: the tails only shrink with y
        with mpmath.workdps(20):                  # a criterion: a few digits are enough
            tol = mpmath.mpf(10) ** (-(dps + 3))
            inc, gs = self.polys[m]
            if inc.last(y0) > tol * inc.lead(y0):
                return False
            for g, s in gs.values():
                for p in (g, s):
                    if p is None:
                        continue
                    moving = abs(p(y0) - (p.coef[0] if p.lo == 0 else 0)) if p is g else abs(p(y0))
                    if p.last(y0) > tol * moving:
                        return False
            self.valid_below[m] = +y0
            return True

    def plan(self, y0, n, dps):
        """``[(level, count), ...]`` covering as many of ``n`` layers as valid levels allow, and the rest."""
        m = 0
        while m < self.MAX_LEVEL and (2 << m) <= n and self.valid(m + 1, y0, dps):
            m += 1
        if m == 0:
            return [], n
        out, rest = [(m, n >> m)], n & ((1 << m) - 1)
        for k in range(m - 1, 0, -1):
            if rest >> k & 1:
                out.append((k, 1))
                rest -= 1 << k
        return out, rest


def _series_phase(poly, gpolys, xs, side, start, layers, x, err, zs, zerr, dps, samples, recorded, driven,
                  jump_degree):
    """The fixed-point series iteration from layer ``start`` (where ``x`` is exact) to ``layers``."""
    D = poly.D
    lo = poly.lo
    need = int((dps + 5) * 3.3219280948873626) + max(layers, 2).bit_length() + 8
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
    jumps = _Jumps(poly, gpolys, names, jump_degree) if jump_degree else None
    stats = {"single": 0, "jumps": 0, "jumped": 0}

    def root(Yv, Bv):
        if D == 1:
            return Yv
        if D == 2:
            return isqrt(Yv << Bv)
        return iroot(Yv << (Bv * (D - 1)), D)[0]

    def horner(ints, U, Bv):
        acc = ints[0]
        for a in ints[1:]:
            acc = a + (acc * U >> Bv)
        return acc

    def drive(Zs, data, U, Bv):
        """One step (or jump) of the driven quantities, z' = g(u) z + s(u), in integer arithmetic."""
        for nme, gints, glo, sints, slo in data:
            acc = horner(gints, U, Bv)
            if glo:
                acc = acc * (U ** glo) >> (Bv * glo)
            Znew = acc * Zs[nme] >> Bv
            if sints is not None:
                sacc = horner(sints, U, Bv)
                if slo:
                    sacc = sacc * (U ** slo) >> (Bv * slo)
                e = Ez[nme] - Bv
                Znew += (sacc << e) if e >= 0 else (sacc >> -e)
            Zs[nme] = Znew

    cache = {}
    while l < layers:
        with mpmath.workdps(20):          # bookkeeping needs a few digits; the state is integer
            nxt = min(l + (BLOCK if jumps is None else BLOCK << 8), layers)
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
            plan, singles = jumps.plan(y0, n, dps) if jumps is not None else ([], n)
            if singles > BLOCK:               # no jump is valid here: blocks of single steps, as without jumps
                plan, singles = [], min(singles, BLOCK)
                nxt = l + singles
                n = singles
            tiny_err = mpmath.ldexp(1, -B)
            block_err = mpmath.mpf(0)                            # rounding + truncation added in this block (y units)
            zblock = {nme: mpmath.mpf(0) for nme in names}       # the same for z, relative to |z|
            z_start = {nme: Zs[nme] for nme in names}
            # ------------------------------------------------ jumps of 2^k layers
            for k, count in plan:
                inc, gk = jumps.polys[k]
                hi, dropped = inc.active(u0, B)
                key = ("jump", k, B, hi)
                if key not in cache:
                    cache[key] = inc.ints(hi, B)
                hints = cache[key]
                hlo = inc.lo
                jd = []
                for nme in names:
                    g, s_ = gk[nme]
                    ghi, gdrop = g.active(u0, B)
                    gints = g.ints(ghi, B)
                    sints, sdrop, slo = (None, mpmath.mpf(0), 0)
                    if s_ is not None:
                        shi, sdrop = s_.active(u0, B)
                        sints, slo = s_.ints(shi, B), s_.lo
                    jd.append((nme, gints, g.lo, sints, slo))
                    zblock[nme] += count * ((len(gints) + g.lo + 3) * tiny_err + g.last(y0) + gdrop
                                            + abs(g.derivative(y0)) * err) / max(abs(g(y0)), tiny_err)
                    if s_ is not None:
                        zblock[nme] += count * ((len(sints) + slo + 3) * tiny_err + s_.last(y0) + sdrop
                                                + abs(s_.derivative(y0)) * err) / max(
                            abs(mpmath.ldexp(mpmath.mpf(int(Zs[nme])), -Ez[nme])), tiny_err)
                # rounding of one jump (units of 2^-B in u): the Horner floors, the power, the root and
                # the conversion back to y (D units); times dy/du = D y/u
                rounding = (len(hints) + hlo + 3 + 2 * D) * tiny_err * D * y0 / u0
                block_err += count * (rounding + (inc.last(y0) + dropped) * D * y0 / u0)
                for _ in range(count):
                    U = root(Y, B)
                    drive(Zs, jd, U, B)
                    U += horner(hints, U, B) * (U ** hlo) >> (B * hlo)
                    Y = U if D == 1 else U ** D >> (B * (D - 1))
                stats["jumps"] += count
                stats["jumped"] += count << k
            # ------------------------------------------------ single layers
            if singles:
                stats["single"] += singles
                hi, dropped = poly.active(u0, B)
                key = ("single", B, hi)
                if key not in cache:
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
                block_err += singles * (rounding * tiny_err + poly.last(y0) + dropped)
                gdata = []
                for nme in names:
                    gp, sp = gpolys[nme]
                    ghi, gdrop = gp.active(u0, B)
                    gints = gp.ints(ghi, B)
                    sints, sdrop = None, mpmath.mpf(0)
                    if sp is not None:
                        shi, sdrop = sp.active(u0, B)
                        sints = sp.ints(shi, B)
                    gdata.append((nme, gints, gp.lo, sints, sp.lo if sp is not None else 0))
                    zabs = max(abs(mpmath.ldexp(mpmath.mpf(int(Zs[nme])), -Ez[nme])), tiny_err)
                    zblock[nme] += singles * ((len(gints) + gp.lo + 3) * tiny_err + gp.last(y0) + gdrop
                                              + abs(gp.derivative(y0)) * err)
                    if sp is not None:
                        zblock[nme] += singles * ((len(sints) + sp.lo + 3) * tiny_err + sp.last(y0) + sdrop
                                                  + abs(sp.derivative(y0)) * err) / zabs
                # ------------------------------------------------ the hot loop
                if not names:
                    if D == 1 and lo == 2:
                        for _ in range(singles):
                            acc = top
                            for a in rest:
                                acc = a + (acc * Y >> B)
                            Y += (acc * Y >> B) * Y >> B
                    else:
                        for _ in range(singles):
                            U = root(Y, B)
                            acc = top
                            for a in rest:
                                acc = a + (acc * U >> B)
                            Y += acc * (U ** lo) >> shift_lo
                else:
                    for _ in range(singles):
                        U = root(Y, B)
                        drive(Zs, gdata, U, B)
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
            err = err * factor + block_err
            for nme in names:
                gp, sp = gpolys[nme]
                z0 = mpmath.ldexp(mpmath.mpf(int(z_start[nme])), -Ez[nme])
                z1 = mpmath.ldexp(mpmath.mpf(int(Zs[nme])), -Ez[nme])
                # an error of z is multiplied by prod g over the block: bounded by max(|g|)^n at the block's ends
                # (g is monotone in y near the fixed point, and y is monotone); the errors made in the block
                # (relative to z, plus the rounding of z itself, 2 units per step) are added without contraction
                growth = max(abs(gp(y0)), abs(gp(y1)))
                zerr[nme] = zerr[nme] * growth ** n + max(abs(z0), abs(z1)) * zblock[nme] \
                    + 2 * n * mpmath.ldexp(1, -Ez[nme])
                # keep Z at `need` bits
                bl = Zs[nme].bit_length()
                if bl < need or bl > need + 64:
                    s = need + 32 - bl
                    Zs[nme] = Zs[nme] << s if s >= 0 else Zs[nme] >> -s
                    Ez[nme] += s
                    zerr[nme] += abs(z1) * mpmath.ldexp(1, -need)
        if pos < len(samples) and samples[pos] == l:
            # Y and Z are exact integers: their value to the working precision
            y1 = mpmath.ldexp(mpmath.mpf(int(Y)), -B)
            for nme in names:
                zs[nme] = mpmath.ldexp(mpmath.mpf(int(Zs[nme])), -Ez[nme])
            recorded.append(Sample(l, xs + side * y1, y1, +err, {nme: (+zs[nme], +zerr[nme]) for nme in names}))
            pos += 1
    return err, stats


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
        if self.value == 0:
            return 0.0
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
    ``dps``: digits of the fit (default: as many as the samples carry, at least the working precision).
    """
    if form not in ("log", "power"):
        raise ParameterError(f"form must be 'log' or 'power', got {form!r}")
    orders = orders if orders is not None else (4 if form == "log" else 6)
    if len(ls) != len(values):
        raise ParameterError("ls and values must have the same length")
    if dps is None:             # the digits the samples carry (an mpf keeps the mantissa it was made with)
        bits = max((v.man.bit_length() for v in values if isinstance(v, mpmath.mpf) and v), default=0)
        dps = max(int(bits * 0.30103), mpmath.mp.dps)
    dps = check_dps(dps)
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
        shallower = [l for l, _ in pts if l <= L // 2]
        if not shallower:
            raise ParameterError(f"no samples at l <= {L // 2}: the error estimate needs a second, shallower fit")
        alts.append(run(max(shallower), window, orders)[0][(0, 0)])
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
