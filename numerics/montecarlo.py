"""Finite random networks: the jets sampler (docs/finite_width.md §4.2).

A point of the input manifold, its Jacobian ``J`` (n x m) and its Hessian
``H`` (n x m x m) are pushed through ``layers`` random layers of width ``n``,
``h' = W phi(h) + b`` with fresh ``W_ij ~ N(0, sigma_w2/n)``, ``b_i ~ N(0, sigma_b2)``:

    J'_a  = W (phi'(h) J_a)
    H'_ab = W (phi'(h) H_ab + phi''(h) J_a J_b)

State 0 is the input manifold (the convention of docs/theory.md §5.4): a point
``h0 = sqrt(n q0) u0`` of the sphere of per-neuron squared radius ``q0``, with
normal (angle) coordinates, so ``J_a = sqrt(n q0) u_a`` and ``H_ab = -delta_ab h0``,
for a random orthonormal frame ``u0, ..., um`` drawn afresh for every network.
A second point ``sqrt(n q0) (c0 u0 + sqrt(1 - c0^2) u1)`` (on the same great
circle) is propagated alongside for the correlation ``c`` and distance ``d``.

Per network and state ``l = 0..layers`` the sampler records (width-normalised
products ``<u, w> = u.w / n``): ``q = <h, h>``, the metric ``g_ab = <J_a, J_b>``, and
the normal products ``K_abcd = <H_ab^perp, H_cd^perp>`` (``H^perp`` is ``H``
minus its projection on the tangent space spanned by ``J``). From these:

* ``metric`` = ``tr g / m`` (the conformal factor; theory ``q0 prod chi_1(q^j)``),
* ``conformality`` = largest over smallest eigenvalue of ``g`` (mean over networks),
* ``Hsq = g^ac g^bd K_abcd``, ``trHsq = g^ab g^cd K_abcd``, ``Rbar = trHsq - Hsq``,
* ``c = <h, h2> / sqrt(<h, h> <h2, h2>)`` and ``d = <h - h2, h - h2>``.

The curvatures and ``c`` are ratios: they are estimated as **ratios of means**
(the mean tensors over networks are contracted; §4.2 of the reference: mean of
ratios picks up a log-normal bias), with jackknife standard errors over
networks; ``Hsq_per_network`` etc. are the means of the per-network ratios.
Plain means carry ``sd / sqrt(networks)``. ``bootstrap=B`` adds bootstrap
standard errors (``B`` resamples of the networks) to every quantity.

Two exact samplers: ``method="weights"`` multiplies by explicit Gaussian
matrices (cost ``n^2`` per layer and network); ``method="gram"`` draws
``W X`` directly from its exact distribution -- its rows are i.i.d.
``N(0, sigma_w2/n X^T X)`` for the ``k`` propagated columns ``X`` -- at cost
``n k^2``, vectorised over networks. Both are exact in distribution.

>>> from neurodyn.theory.catalog import get
>>> run = simulate_jets(get("tanh"), 2.0, 0.1, q0=1.0, dim=2, layers=2, width=300, networks=8, seed=1)
>>> run.measured["metric"].mean.shape
(3,)
>>> [round(float(run.measured[k].mean[0]), 12) for k in ("q", "metric", "Hsq", "trHsq", "Rbar", "c")]
[1.0, 1.0, 2.0, 4.0, 2.0, 0.5]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from neurodyn.theory.checks import numpy_function
from neurodyn.theory.errors import NotDefinedError

from .results import ParameterError

__all__ = ["JetSample", "Measured", "activation_callables", "memory_estimate", "simulate_jets", "METHODS",
           "ChainSample", "kernel_chain", "input_kernel", "chain_columns", "chain_memory_estimate", "ProgressBar",
           "CHAIN_COLUMNS", "Validation", "validate_networks", "one_over_n_predictions", "VALIDATE_QUANTITIES"]

#: The two exact samplers (see the module docstring).
METHODS = ("weights", "gram")

#: Default ceiling on the sampler's working arrays, bytes.
MEMORY_LIMIT = 2 * 1024**3


@dataclass(frozen=True)
class Measured:
    """One measured quantity per state ``l = 0..layers``: mean over networks and its standard error."""

    mean: np.ndarray
    stderr: np.ndarray
    estimator: str                       # "mean" or "ratio of means"
    bootstrap: np.ndarray | None = None  # bootstrap standard error, when asked for

    def z(self, theory) -> np.ndarray:
        """``(mean - theory) / stderr`` per state (nan where the standard error is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (self.mean - np.asarray(theory, dtype=float)) / self.stderr
        return np.where(self.stderr > 0, z, np.nan)


@dataclass(frozen=True)
class JetSample:
    """Result of :func:`simulate_jets`: per-network statistics and their summaries."""

    settings: dict
    per_network: dict = field(repr=False)   # name -> array (networks, layers + 1, ...)
    measured: dict = field(repr=False)      # name -> Measured

    def compare(self, theory: dict, names=None) -> list[dict]:
        """Rows ``{"quantity", "l", "width", "theory", "mean", "stderr", "z"}`` for states 1..layers.

        ``theory`` maps a quantity name to its values at states 0..layers (e.g. the
        mean-field recursions); ``names`` defaults to the quantities both sides have.

        >>> from neurodyn.theory.catalog import get
        >>> run = simulate_jets(get("tanh"), 2.0, 0.1, q0=1.0, layers=1, width=50, networks=4, seed=0)
        >>> sorted(run.compare({"q": [1.0, 1.0]})[0])
        ['l', 'mean', 'quantity', 'stderr', 'theory', 'width', 'z']
        """
        names = [n for n in theory if n in self.measured] if names is None else list(names)
        rows = []
        for name in names:
            m = self.measured[name]
            z = m.z(theory[name])
            for l in range(1, self.settings["layers"] + 1):
                rows.append(dict(quantity=name, l=l, width=self.settings["width"], theory=float(theory[name][l]),
                                 mean=float(m.mean[l]), stderr=float(m.stderr[l]), z=float(z[l])))
        return rows

    def table(self, names=("q", "metric", "conformality", "Hsq", "trHsq", "Rbar", "c", "d")) -> str:
        """A plain-text table: one row per state, ``mean +- stderr`` per quantity."""
        names = [n for n in names if n in self.measured]
        rows = ["l  " + "  ".join(f"{n:>22}" for n in names)]
        for l in range(self.settings["layers"] + 1):
            cells = [f"{self.measured[n].mean[l]:>11.5g} +- {self.measured[n].stderr[l]:<8.2g}" for n in names]
            rows.append(f"{l:<3d}" + "  ".join(cells))
        return "\n".join(rows)


def activation_callables(activation, curvature: bool = True):
    """float64 callables ``(phi, phi', phi'')`` of an :class:`~neurodyn.theory.activation.Activation`.

    ``phi''`` is ``None`` when ``curvature`` is false. A kinked activation has a
    Dirac delta in ``phi''`` (chi_2 is infinite, docs/theory.md §5.3): asking for
    curvature then raises :class:`~neurodyn.theory.errors.NotDefinedError`.

    >>> from neurodyn.theory.catalog import get
    >>> phi, d1, d2 = activation_callables(get("tanh"))
    >>> [round(float(f(np.array(0.5))), 6) for f in (phi, d1, d2)]
    [0.462117, 0.786448, -0.726862]
    """
    if curvature and not activation.is_continuous(1):
        raise NotDefinedError(
            f"curvature is not defined for {activation.name}: its derivative jumps at "
            f"{', '.join(str(k) for k in activation.kinks)}, so phi'' has a Dirac delta and chi_2 "
            "is infinite; use curvature=False for q, metric, c and d only")
    phi = numpy_function(activation.piecewise)
    d1 = numpy_function(activation.derivative(1))
    d2 = numpy_function(activation.derivative(2)) if curvature else None
    return phi, d1, d2


def _columns(dim: int, curvature: bool) -> int:
    pairs = dim * (dim + 1) // 2 if curvature else 0
    return 1 + dim + pairs + 1          # point, Jacobian, Hessian (a <= b), second point


def memory_estimate(width: int, dim: int, networks: int, layers: int, method: str = "weights",
                    batch: int = 64, curvature: bool = True) -> int:
    """Bytes of the sampler's largest working arrays (an estimate, within a small factor).

    >>> memory_estimate(1000, 2, 20, 6) > 8 * 1000**2
    True
    """
    k = _columns(dim, curvature)
    if method == "weights":
        work = 8 * width * width + 6 * 8 * width * k
    else:
        work = 6 * 8 * min(batch, networks) * width * k
    stats = 8 * networks * (layers + 1) * (3 + dim * dim + dim**4)
    return int(work + 4 * stats)


def _integer(name, value, least) -> int:
    """``value`` as an int, or a ParameterError unless it is an integer >= ``least``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ParameterError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def _numbers(sigma_w2, sigma_b2, q0, c0) -> dict:
    """The four numbers of a run as floats, or a ParameterError naming the bad one."""
    values = {}
    for name, value, ok, what in (("sigma_w2", sigma_w2, lambda v: v > 0, "> 0"),
                                  ("sigma_b2", sigma_b2, lambda v: v >= 0, ">= 0"),
                                  ("q0", q0, lambda v: v > 0, "> 0"),
                                  ("c0", c0, lambda v: -1 <= v <= 1, "in [-1, 1]")):
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"{name} must be a number {what}, got {value!r}") from None
        if not math.isfinite(v) or not ok(v):
            raise ParameterError(f"{name} must be a finite number {what}, got {value!r}")
        values[name] = v
    return values


def _check(sigma_w2, sigma_b2, q0, dim, layers, width, networks, c0, method, bootstrap):
    dim = _integer("dim", dim, 1)
    layers = _integer("layers (depth)", layers, 1)
    width = _integer("width", width, max(2, dim + 1))
    networks = _integer("networks", networks, 2)
    bootstrap = _integer("bootstrap", bootstrap, 0)
    values = _numbers(sigma_w2, sigma_b2, q0, c0)
    if method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return values, dim, layers, width, networks, bootstrap


def simulate_jets(activation, sigma_w2, sigma_b2=0.0, *, q0, dim: int = 1, layers: int, width: int,
                  networks: int, c0=0.5, seed=0, method: str = "weights", curvature: bool = True,
                  bootstrap: int = 0, batch: int = 64, memory_limit: int = MEMORY_LIMIT,
                  start: str = "sphere") -> JetSample:
    """Push a great circle (``dim=1``) or an ``dim``-patch of the sphere through random layers.

    Returns a :class:`JetSample` with ``measured[name]`` for ``q``, ``q2``, ``c``, ``d``,
    ``metric``, ``conformality`` and (``curvature=True``) ``Hsq``, ``trHsq``, ``Rbar``
    (ratios of means) and ``Hsq_per_network``, ``trHsq_per_network``, ``Rbar_per_network``.
    ``seed`` is an int or a :class:`numpy.random.Generator`; each network gets its own
    child stream, so network ``i`` is the same whatever ``batch`` is.

    ``start="sphere"`` (default) puts state 0 exactly on the sphere (an orthonormal frame,
    see the module docstring). ``start="gaussian"`` draws the frame's vectors i.i.d.
    ``N(0, q0)`` per neuron instead: state 0 is then a Gaussian layer with the kernel
    ``q0 cos(angle)``, i.e. **layer 1** of :func:`kernel_chain` and of the finite-width theory
    (docs/finite_width.md §3.1), and state ``s`` is that layer ``s + 1`` exactly in distribution.
    """
    values, dim, layers, width, networks, bootstrap = _check(
        sigma_w2, sigma_b2, q0, dim, layers, width, networks, c0, method, bootstrap)
    sw2, sb2, q0, c0 = values["sigma_w2"], values["sigma_b2"], values["q0"], values["c0"]
    batch = max(1, int(batch))
    need = memory_estimate(width, dim, networks, layers, method, batch, curvature)
    if need > memory_limit:
        raise ParameterError(
            f"this run needs about {need / 1024**2:.0f} MiB (width {width}, dim {dim}, {networks} networks, "
            f"{layers} layers, method {method}), above the limit of {memory_limit / 1024**2:.0f} MiB; "
            "use a smaller width or fewer networks, or raise memory_limit")
    if start not in ("sphere", "gaussian"):
        raise ParameterError(f"start must be 'sphere' or 'gaussian', got {start!r}")
    phi, d1, d2 = activation_callables(activation, curvature)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    streams = rng.spawn(networks)
    pairs = [(a, b) for a in range(dim) for b in range(a, dim)] if curvature else []

    g_all = np.empty((networks, layers + 1, dim, dim))
    K_all = np.empty((networks, layers + 1, dim, dim, dim, dim)) if curvature else None
    pt_all = np.empty((networks, layers + 1, 3))          # <h,h>, <h2,h2>, <h,h2>
    for first in range(0, networks, batch):
        idx = range(first, min(first + batch, networks))
        state = np.stack([_initial_state(streams[i], width, dim, q0, c0, pairs, start) for i in idx])
        for l in range(layers + 1):
            try:
                _record(state, dim, pairs, width, l, g_all[idx.start:idx.stop], pt_all[idx.start:idx.stop],
                        None if K_all is None else K_all[idx.start:idx.stop])
            except np.linalg.LinAlgError:
                raise NotDefinedError(f"the image of the manifold under {activation.name} is degenerate at "
                                      f"layer {l} (singular metric): its curvature is not defined") from None
            if l < layers:
                X = _layer_input(state, dim, pairs, phi, d1, d2)
                state = _propagate(X, [streams[i] for i in idx], sw2, sb2, method)
    if not (np.all(np.isfinite(g_all)) and np.all(np.isfinite(pt_all))
            and (K_all is None or np.all(np.isfinite(K_all)))):
        raise NotDefinedError(f"the forward pass of {activation.name} produced non-finite values "
                              "(overflow); use smaller sigma_w2 or fewer layers")
    per_network = {"g": g_all, "q": pt_all[..., 0], "q2": pt_all[..., 1], "q12": pt_all[..., 2]}
    if curvature:
        per_network["K"] = K_all
    settings = dict(activation=activation.name, sigma_w2=sw2, sigma_b2=sb2, q0=q0, c0=c0, dim=dim,
                    layers=layers, width=width, networks=networks, method=method, bootstrap=bootstrap, start=start)
    boot_rng = np.random.default_rng(rng.integers(2**63)) if bootstrap else None
    return JetSample(settings, per_network, _summaries(per_network, dim, curvature, bootstrap, boot_rng))


# -- one network's state: columns [h, J_1..J_m, H_ab (a <= b), h2] ---------------------------
def _initial_state(rng, width, dim, q0, c0, pairs, start="sphere"):
    if start == "gaussian":                                             # i.i.d. N(0, q0) entries
        frame = rng.standard_normal((width, dim + 1)) / math.sqrt(width)
    else:
        frame, _ = np.linalg.qr(rng.standard_normal((width, dim + 1)))  # Haar orthonormal frame
    radius = math.sqrt(width * q0)
    h = radius * frame[:, 0]
    cols = [h] + [radius * frame[:, a + 1] for a in range(dim)]
    cols += [-h if a == b else np.zeros(width) for a, b in pairs]        # H_ab = -delta_ab h
    cols.append(radius * (c0 * frame[:, 0] + math.sqrt(max(0.0, 1 - c0 * c0)) * frame[:, 1]))
    return np.stack(cols, axis=1)


def _layer_input(state, dim, pairs, phi, d1, d2):
    h = state[..., 0]
    J = state[..., 1:1 + dim]
    p1 = d1(h)[..., None]
    cols = [phi(h)[..., None], p1 * J]
    if pairs:
        p2 = d2(h)[..., None]
        H = state[..., 1 + dim:1 + dim + len(pairs)]
        a = [p for p, _ in pairs]
        b = [q for _, q in pairs]
        cols.append(p1 * H + p2 * J[..., a] * J[..., b])
    cols.append(phi(state[..., -1])[..., None])
    return np.concatenate(cols, axis=-1)


def _propagate(X, streams, sw2, sb2, method):
    nets, width, k = X.shape
    out = np.empty_like(X)
    if method == "weights":
        scale = math.sqrt(sw2 / width)
        for j, rng in enumerate(streams):
            W = rng.standard_normal((width, width))
            W *= scale
            out[j] = W @ X[j]
    else:
        gram = np.einsum("bna,bnc->bac", X, X) * (sw2 / width)
        lam, vec = np.linalg.eigh(gram)
        root = np.einsum("bac,bc,bdc->bad", vec, np.sqrt(np.clip(lam, 0, None)), vec)
        for j, rng in enumerate(streams):
            out[j] = rng.standard_normal((width, k)) @ root[j]
    if sb2 > 0:
        for j, rng in enumerate(streams):
            b = rng.standard_normal(width) * math.sqrt(sb2)
            out[j, :, 0] += b
            out[j, :, -1] += b
    return out


def _record(state, dim, pairs, width, l, g_out, pt_out, K_out):
    h, h2 = state[..., 0], state[..., -1]
    J = state[..., 1:1 + dim]
    pt_out[:, l, 0] = np.einsum("bn,bn->b", h, h) / width
    pt_out[:, l, 1] = np.einsum("bn,bn->b", h2, h2) / width
    pt_out[:, l, 2] = np.einsum("bn,bn->b", h, h2) / width
    G = np.einsum("bna,bnc->bac", J, J)
    g_out[:, l] = G / width
    if K_out is None:
        return
    Hp = state[..., 1 + dim:1 + dim + len(pairs)]
    JH = np.einsum("bna,bnp->bap", J, Hp)
    perp = Hp - np.einsum("bna,bac,bcp->bnp", J, np.linalg.inv(G), JH)   # normal part of H_ab
    Kp = np.einsum("bnp,bnr->bpr", perp, perp) / width
    full = np.empty((dim, dim), dtype=int)
    for i, (a, b) in enumerate(pairs):
        full[a, b] = full[b, a] = i
    K_out[:, l] = Kp[:, full[:, :, None, None], full[None, None, :, :]]


# -- estimators ---------------------------------------------------------------------------
def _curvatures(g, K):
    """``Hsq, trHsq`` from metric(s) ``g (..., m, m)`` and normal products ``K (..., m, m, m, m)``."""
    gi = np.linalg.inv(g)
    hsq = np.einsum("...ac,...bd,...abcd->...", gi, gi, K)
    tr = np.einsum("...ab,...cd,...abcd->...", gi, gi, K)
    return hsq, tr


def _conformality(g):
    lam = np.linalg.eigvalsh(g)
    return lam[..., -1] / lam[..., 0]


def _ratio_quantities(mean):
    """Ratio-of-means quantities from the network means of the raw statistics."""
    out = {"c": mean["q12"] / np.sqrt(mean["q"] * mean["q2"])}
    if "K" in mean:
        hsq, tr = _curvatures(mean["g"], mean["K"])
        out.update(Hsq=hsq, trHsq=tr, Rbar=tr - hsq)
    return out


def _summaries(per, dim, curvature, bootstrap, boot_rng):
    M = per["q"].shape[0]
    plain = {"q": per["q"], "q2": per["q2"],
             "d": per["q"] + per["q2"] - 2 * per["q12"],
             "metric": np.trace(per["g"], axis1=-2, axis2=-1) / dim,
             "conformality": _conformality(per["g"])}
    if curvature:
        hsq, tr = _curvatures(per["g"], per["K"])
        plain.update(Hsq_per_network=hsq, trHsq_per_network=tr, Rbar_per_network=tr - hsq)
    measured = {}
    for name, x in plain.items():
        measured[name] = (x.mean(0), x.std(0, ddof=1) / math.sqrt(M), "mean")
    # ratios of means, with jackknife (delete-one network) standard errors
    raw = {k: per[k] for k in ("q", "q2", "q12", "g") + (("K",) if curvature else ())}
    total = {k: v.sum(0) for k, v in raw.items()}
    full = _ratio_quantities({k: v / M for k, v in total.items()})
    jack = {name: [] for name in full}
    for i in range(M):
        loo = _ratio_quantities({k: (total[k] - raw[k][i]) / (M - 1) for k in raw})
        for name in full:
            jack[name].append(loo[name])
    for name, value in full.items():
        j = np.array(jack[name])
        se = np.sqrt((M - 1) / M * ((j - j.mean(0)) ** 2).sum(0))
        measured[name] = (value, se, "ratio of means")
    boot = {}
    if bootstrap:
        draws = {name: [] for name in measured}
        for _ in range(bootstrap):
            pick = boot_rng.integers(0, M, M)
            for name, x in plain.items():
                draws[name].append(x[pick].mean(0))
            for name, v in _ratio_quantities({k: v[pick].mean(0) for k, v in raw.items()}).items():
                draws[name].append(v)
        boot = {name: np.array(v).std(0, ddof=1) for name, v in draws.items()}
    return {name: Measured(m, s, est, boot.get(name)) for name, (m, s, est) in measured.items()}


# =========================================================================================
# Samplers A and B of docs/finite_width.md §4.2: the kernel chain
# =========================================================================================
#: The columns the chain can follow: the point ``h`` of the circle, its velocity ``u`` and
#: acceleration ``a`` along the circle, and a second point ``h2`` on the same great circle.
CHAIN_COLUMNS = ("h", "u", "a", "h2")
#: Elements of one batch's working array (networks x width x columns); sets the batch size.
CHAIN_BLOCK = 2**18


class ProgressBar:
    """A progress bar on a terminal: ``progress(fraction)`` redraws ``label [#####.....]  42%  3 s``.

    Nothing is drawn unless ``stream`` (default stderr) is a terminal and ``after`` seconds
    have passed (short runs stay silent); :meth:`close` erases the bar. Off a terminal it
    is a no-op, so it is safe in tests and pipes.

    >>> import io
    >>> bar = ProgressBar("sampling", stream=io.StringIO())
    >>> bar(0.5); bar.close(); bar.stream.getvalue()
    ''
    """

    def __init__(self, label: str, stream=None, after: float = 2.0, width: int = 30):
        import sys
        import time

        self._time = time.monotonic
        self.label, self.stream, self.after, self.width = label, stream or sys.stderr, after, width
        self.start = self._time()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.drawn = False
        self._last = -1.0

    def __call__(self, fraction: float) -> None:
        if not self.tty:
            return
        now = self._time()
        elapsed = now - self.start
        if elapsed < self.after or now - self._last < 0.2:
            return
        self._last = now
        fraction = min(max(float(fraction), 0.0), 1.0)
        full = int(round(fraction * self.width))
        left = f", ~{elapsed * (1 - fraction) / fraction:.0f} s left" if fraction > 0 else ""
        self.stream.write(f"\r{self.label} [{'#' * full}{'.' * (self.width - full)}] {100 * fraction:3.0f}%  "
                          f"{elapsed:.0f} s{left}\033[K")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.drawn = False


def _progress_callable(progress, label):
    """``(report(fraction), close())`` for a ``progress`` argument: None (a :class:`ProgressBar` on a
    terminal), False (nothing) or a callable taking the fraction done."""
    if progress is None:
        bar = ProgressBar(label)
        return bar, bar.close
    if progress is False:
        return (lambda fraction: None), (lambda: None)
    if not callable(progress):
        raise ParameterError(f"progress must be None, False or a callable, got {progress!r}")
    return progress, (lambda: None)


def chain_columns(pair: bool, curve: bool, curvature: bool = True) -> tuple:
    """The columns a chain follows: ``h``; with ``curve`` the velocity ``u`` (and with ``curvature``
    the acceleration ``a``); with ``pair`` the second point ``h2``.

    >>> chain_columns(pair=True, curve=True)
    ('h', 'u', 'a', 'h2')
    >>> chain_columns(pair=False, curve=True, curvature=False)
    ('h', 'u')
    """
    return ("h",) + (("u",) if curve else ()) + (("a",) if curve and curvature else ()) + (("h2",) if pair else ())


def input_kernel(q0: float, c0, columns) -> np.ndarray:
    """The layer-1 kernel ``K^(1)`` of the chain over ``columns`` (docs/finite_width.md §1, §4.2 (B)).

    Layer 1 is the input layer: its pre-activations along the great circle are
    ``z(theta) = A cos(theta) + B sin(theta)`` with ``A, B`` i.i.d. ``N(0, q0)`` per neuron, i.e.
    the Gaussian process with kernel ``q0 cos(theta - theta')``. The point is ``h = z(0)``, the
    velocity ``u = z'(0)``, the acceleration ``a = z''(0) = -h``, and the second point
    ``h2 = z(theta2)`` with ``cos(theta2) = c0``. So ``q = metric = q0``, ``Hsq = 1/q0`` and
    ``c = c0`` at layer 1: the state 0 of :func:`neurodyn.numerics.iterate.iterate` (whose state
    ``s`` is layer ``s + 1`` here), and the input layer of the finite-width theory (``V^(1) = 0``).

    >>> input_kernel(2.0, 0.6, ("h", "u", "a", "h2"))
    array([[ 2. ,  0. , -2. ,  1.2],
           [ 0. ,  2. ,  0. ,  1.6],
           [-2. ,  0. ,  2. , -1.2],
           [ 1.2,  1.6, -1.2,  2. ]])
    """
    c = 1.0 if c0 is None else float(c0)
    s = math.sqrt(max(0.0, 1.0 - c * c))
    # coefficients of each column on (A, B)
    coef = {"h": (1.0, 0.0), "u": (0.0, 1.0), "a": (-1.0, 0.0), "h2": (c, s)}
    C = np.array([coef[name] for name in columns])
    K = q0 * (C @ C.T)
    np.fill_diagonal(K, q0)                # exactly q0 (c^2 + s^2 = 1 up to rounding)
    return K


def chain_memory_estimate(width: int, columns: int, networks: int, depth: int) -> int:
    """Bytes of :func:`kernel_chain`'s arrays (an estimate, within a small factor): one batch's working
    arrays and the per-network kernels ``Ghat`` and ``Qhat`` and statistics kept for the estimators.

    >>> chain_memory_estimate(100, 2, 10**6, 30) > 2 * 8 * 10**6 * 30 * 4
    True
    """
    k = int(columns)
    block = max(CHAIN_BLOCK, width * k)
    work = 10 * 8 * block
    per_network = 8 * networks * depth * (2 * k * k + 1)
    features = 8 * networks * depth * (k * k + 24)
    return int(work + per_network + 2 * features)


@dataclass(frozen=True)
class ChainSample:
    """Result of :func:`kernel_chain` (samplers A and B of docs/finite_width.md §4.2).

    Index ``i`` of every array is **layer** ``l = i + 1``: layer 1 is the input layer with the
    deterministic kernel ``K^(1)`` (:func:`input_kernel`), the numbering of docs/finite_width.md
    §3.1 and §6. ``per_network`` holds ``G`` (the conditional kernels ``Ghat^(l)``, shape
    ``(networks, depth, k, k)``), ``Q`` (the empirical kernels ``Qhat^(l) = z^T z / n`` of the
    drawn pre-activations) and ``chi_1`` (``C_W mean_i phi'(z_i)^2`` at each layer);
    ``measured`` maps a quantity to its :class:`Measured` (see :func:`kernel_chain`).
    """

    settings: dict
    columns: tuple
    per_network: dict = field(repr=False)
    measured: dict = field(repr=False)

    @property
    def layers(self) -> np.ndarray:
        """The layer numbers ``1..depth`` of the arrays' rows."""
        return np.arange(1, self.settings["depth"] + 1)

    def compare(self, theory: dict, names=None, first: int = 1) -> list[dict]:
        """Rows ``{"quantity", "l", "width", "theory", "mean", "stderr", "z"}`` for layers ``first..depth``.

        ``theory`` maps a quantity to its values at layers ``1..depth`` (index 0 is layer 1; for
        :func:`~neurodyn.numerics.iterate.iterate`'s trajectory that is its states ``0..depth-1``).
        ``z`` is None where the standard error is 0 (the deterministic layer 1).

        >>> from neurodyn.theory.catalog import get
        >>> run = kernel_chain(get("tanh"), 2.0, 0.1, q0=1.0, depth=2, width=50, networks=4, seed=0)
        >>> [(r["l"], r["z"]) for r in run.compare({"q": [1.0, 0.9]})][0]
        (1, None)
        """
        names = [n for n in theory if n in self.measured] if names is None else list(names)
        rows = []
        for name in names:
            m = self.measured[name]
            z = m.z(theory[name])
            for l in range(first, self.settings["depth"] + 1):
                rows.append(dict(quantity=name, l=l, width=self.settings["width"],
                                 theory=float(theory[name][l - 1]), mean=float(m.mean[l - 1]),
                                 stderr=float(m.stderr[l - 1]),
                                 z=float(z[l - 1]) if np.isfinite(z[l - 1]) else None))
        return rows


def _check_chain(sigma_w2, sigma_b2, q0, c0, depth, width, networks, bootstrap):
    depth = _integer("depth", depth, 1)
    width = _integer("width", width, 2)
    networks = _integer("networks", networks, 2)
    bootstrap = _integer("bootstrap", bootstrap, 0)
    values = _numbers(sigma_w2, sigma_b2, q0, 0.0 if c0 is None else c0)
    return values, depth, width, networks, bootstrap


def _psd_root(G: np.ndarray) -> np.ndarray:
    """Lower-triangular ``R`` with ``R R^T = G`` for a stack of positive semi-definite ``k x k``
    matrices (Cholesky that drops directions of variance below ``1e-12 tr G``: the input layer's
    jet kernel is singular, ``a = -h``)."""
    k = G.shape[-1]
    R = np.zeros_like(G)
    tol = 1e-12 * np.trace(G, axis1=-2, axis2=-1)
    for j in range(k):
        d = G[..., j, j] - np.einsum("...m,...m->...", R[..., j, :j], R[..., j, :j])
        ok = d > tol
        rjj = np.sqrt(np.where(ok, d, 0.0))
        R[..., j, j] = rjj
        safe = np.where(ok, rjj, 1.0)
        for i in range(j + 1, k):
            num = G[..., i, j] - np.einsum("...m,...m->...", R[..., i, :j], R[..., j, :j])
            R[..., i, j] = np.where(ok, num / safe, 0.0)
    return R


def _chain_batch(rng, K1, bias, columns, depth, width, count, sw2, sb2, phi, d1, d2):
    """``count`` networks of the chain: ``(G, Q, chi)`` of shapes (count, depth, k, k) and (count, depth)."""
    k = len(columns)
    ih = columns.index("h")
    iu = columns.index("u") if "u" in columns else None
    ia = columns.index("a") if "a" in columns else None
    i2 = columns.index("h2") if "h2" in columns else None
    G = np.broadcast_to(K1, (count, k, k)).copy()
    Gs = np.empty((count, depth, k, k))
    Qs = np.empty((count, depth, k, k))
    chi = np.empty((count, depth))
    X = np.empty((count, width, k))
    for l in range(depth):
        Gs[:, l] = G
        R = _psd_root(G)
        z = rng.standard_normal((count, width, k))
        z = np.matmul(z, R.transpose(0, 2, 1))
        zt = z.transpose(0, 2, 1)
        Qs[:, l] = np.matmul(zt, z) / width
        h = z[..., ih]
        p1 = d1(h)
        chi[:, l] = sw2 * np.einsum("bn,bn->b", p1, p1) / width
        if l == depth - 1:
            break
        X[..., ih] = phi(h)
        if iu is not None:
            X[..., iu] = p1 * z[..., iu]
        if ia is not None:
            X[..., ia] = d2(h) * z[..., iu] ** 2 + p1 * z[..., ia]
        if i2 is not None:
            X[..., i2] = phi(z[..., i2])
        G = np.matmul(X.transpose(0, 2, 1), X) * (sw2 / width)
        G += sb2 * bias
    return Gs, Qs, chi


def kernel_chain(activation, sigma_w2, sigma_b2=0.0, *, q0=1.0, c0=None, depth: int, width: int, networks: int,
                 seed=0, curve: bool = False, curvature: bool = True, bootstrap: int = 0,
                 memory_limit: int = MEMORY_LIMIT, progress=None) -> ChainSample:
    r"""Samplers A and B of docs/finite_width.md §4.2: the exact Markov chain of the layer kernel.

    By docs/finite_width.md §1, given layer ``l - 1`` the pre-activations of layer ``l`` are
    ``n`` i.i.d. ``N(0, Ghat^(l))`` vectors over the followed columns, with
    ``Ghat^(l+1) = C_b E + (C_W / n) sum_i x_i x_i^T``, ``x_i`` the layer input of neuron ``i``:
    ``phi(h)`` for a point (``E`` puts the bias on the point columns only), ``phi'(h) u`` for
    the velocity and ``phi''(h) u^2 + phi'(h) a`` for the acceleration (the jets of §3.7). So
    drawing ``z ~ N(0, Ghat)`` per layer, at cost ``O(networks width depth k^2)``, is exact in
    distribution for i.i.d. Gaussian weights ``N(0, sigma_w2/n)`` and biases ``N(0, sigma_b2)``.

    **Layers** ``l = 1..depth``; layer 1 is the input layer, with the deterministic kernel of
    :func:`input_kernel` (``q = q0``, ``c = c0``, a great circle through both points), exactly
    the convention of the finite-width theory (docs/finite_width.md §3.1, §6: ``V^(1) = 0``).
    All hidden layers have width ``width``.

    Parameters: ``c0`` adds the second point (``c``, ``d``); ``curve`` the velocity (``metric``,
    ``length``) and, with ``curvature``, the acceleration (``Hsq``; ``curvature`` needs a
    continuous ``phi'``: ReLU raises :class:`NotDefinedError`). ``seed`` is an int or a
    :class:`numpy.random.Generator`; the networks are drawn in fixed batches, each from its own
    child stream, so the result depends only on the seed and the arguments. ``bootstrap=B``
    adds bootstrap standard errors (``B`` resamples of the networks). ``progress``: None (a bar
    on a terminal after 2 s), False, or a callable taking the fraction done. A run whose arrays
    would exceed ``memory_limit`` bytes is refused with the estimate.

    Estimators (one statistic per network, docs/finite_width.md §4.2), each a :class:`Measured`
    with index ``l - 1``:

    * means over networks, standard error ``sd / sqrt(networks)``: ``q`` (``Ghat_hh``; its
      expectation is ``K + G1/n``), ``q_empirical`` (``Qhat_hh``, same expectation), ``q2``,
      ``d`` (``Ghat_11 + Ghat_22 - 2 Ghat_12``), ``c`` (the per-network ``Ghat_12 /
      sqrt(Ghat_11 Ghat_22)``: its mean is the ``E[c_hat]`` of §3.3), ``chi_1`` (``C_W mean_i
      phi'(z_i)^2``, the layer's mean squared singular value, §3.7), ``metric`` (``Ghat_uu``),
      ``metric_empirical`` (``Qhat_uu``), ``length`` (``2 pi sqrt(Qhat_uu)``: the mean length
      of the layer's image of the circle over ``sqrt(n)``, by rotation invariance),
      ``log_q``, ``log_metric`` (means of the logs);
    * ratios of means (§4.2), delete-a-group jackknife standard errors (up to 100 groups):
      ``c_ratio`` (``c`` of the mean ``Ghat``), ``c_empirical`` (of the mean ``Qhat``) and
      ``Hsq`` (the squared curvature ``n kappa^2 = |a_perp|^2 / |u|^4`` of the layer's image of
      the circle, ``a_perp`` the part of the acceleration normal to the velocity: the network
      mean of ``|a_perp|^2 / n = Q_aa - Q_ua^2 / Q_uu`` over the squared network mean of
      ``Q_uu``, as :func:`simulate_jets` contracts its mean tensors);
    * fluctuations, jackknife standard errors: ``nvar_q = n Var(Ghat_hh)`` (``V`` at order 1/n),
      ``nvar_G12``, ``var_log_q = Var(ln Ghat_hh)``, ``var_log_metric = Var(ln Ghat_uu)``.

    >>> from neurodyn.theory.catalog import get
    >>> run = kernel_chain(get("relu"), 2.0, q0=1.0, depth=3, width=50, networks=2000, seed=1)
    >>> float(run.measured["q"].mean[0]), float(run.measured["q"].stderr[0])
    (1.0, 0.0)
    >>> bool(abs(run.measured["q"].z([1.0, 1.0, 1.0])[1:]).max() < 4)     # E[Ghat] = K exactly (§3.4)
    True
    """
    values, depth, width, networks, bootstrap = _check_chain(sigma_w2, sigma_b2, q0, c0, depth, width, networks,
                                                             bootstrap)
    sw2, sb2, q0v = values["sigma_w2"], values["sigma_b2"], values["q0"]
    columns = chain_columns(c0 is not None, bool(curve), bool(curvature))
    k = len(columns)
    need = chain_memory_estimate(width, k, networks, depth)
    if need > memory_limit:
        raise ParameterError(
            f"this run needs about {need / 1024**2:.0f} MiB ({networks} networks x {depth} layers x {k} columns, "
            f"width {width}), above the limit of {memory_limit / 1024**2:.0f} MiB; use fewer networks or layers, "
            "or raise memory_limit")
    phi, d1, d2 = activation_callables(activation, curvature="a" in columns)
    K1 = input_kernel(q0v, values["c0"] if c0 is not None else None, columns)
    points = np.array([c in ("h", "h2") for c in columns])
    bias = np.outer(points, points).astype(float)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    per_batch = max(1, CHAIN_BLOCK // (width * k))
    starts = list(range(0, networks, per_batch))
    streams = rng.spawn(len(starts))
    G = np.empty((networks, depth, k, k))
    Q = np.empty((networks, depth, k, k))
    chi = np.empty((networks, depth))
    report, close = _progress_callable(progress, f"kernel chain, width {width}")
    try:
        for start, stream in zip(starts, streams):
            stop = min(start + per_batch, networks)
            with np.errstate(over="ignore", invalid="ignore"):
                G[start:stop], Q[start:stop], chi[start:stop] = _chain_batch(
                    stream, K1, bias, columns, depth, width, stop - start, sw2, sb2, phi, d1, d2)
            report(stop / networks)
    finally:
        close()
    if not (np.all(np.isfinite(G)) and np.all(np.isfinite(Q)) and np.all(np.isfinite(chi))):
        raise NotDefinedError(f"the kernel chain of {activation.name} produced non-finite values (overflow); "
                              "use smaller sigma_w2 or fewer layers")
    settings = dict(activation=activation.name, sigma_w2=sw2, sigma_b2=sb2, q0=q0v, c0=values["c0"] if c0 is not None
                    else None, depth=depth, width=width, networks=networks, columns=columns, bootstrap=bootstrap)
    per_network = {"G": G, "Q": Q, "chi_1": chi}
    boot_rng = np.random.default_rng(rng.integers(2**63)) if bootstrap else None
    with np.errstate(divide="ignore", invalid="ignore"):     # ln 0 and 0/0 of a dead ReLU network: inf, nan
        measured = _chain_summaries(per_network, columns, width, bootstrap, boot_rng)
    return ChainSample(settings, columns, per_network, measured)


# -- the chain's estimators: every one a function of the means of per-network features ----
def _chain_features(per, columns):
    """Per-network features ``(networks, depth)`` whose means determine every estimator."""
    G, Q = per["G"], per["Q"]
    ix = {c: i for i, c in enumerate(columns)}
    h = ix["h"]
    feats = {"Ghh": G[..., h, h], "Qhh": Q[..., h, h], "chi_1": per["chi_1"]}
    with np.errstate(divide="ignore", invalid="ignore"):
        feats["log_q"] = np.log(G[..., h, h])
    if "u" in ix:
        u = ix["u"]
        feats.update(Guu=G[..., u, u], Quu=Q[..., u, u], length=2 * math.pi * np.sqrt(Q[..., u, u]))
        with np.errstate(divide="ignore", invalid="ignore"):
            feats["log_metric"] = np.log(G[..., u, u])
        if "a" in ix:
            a = ix["a"]
            # the normal part of the acceleration, per network: |a - (u.a/u.u) u|^2 / n
            feats["Qperp"] = Q[..., a, a] - Q[..., u, a] ** 2 / Q[..., u, u]
    if "h2" in ix:
        p = ix["h2"]
        feats.update(G22=G[..., p, p], G12=G[..., h, p], Q22=Q[..., p, p], Q12=Q[..., h, p])
        feats["d"] = G[..., h, h] + G[..., p, p] - 2 * G[..., h, p]
        with np.errstate(divide="ignore", invalid="ignore"):   # a dead ReLU network: Ghat = 0, c undefined
            feats["c"] = G[..., h, p] / np.sqrt(G[..., h, h] * G[..., p, p])
    # second moments (centred on a fixed constant, so the variance is a smooth function of means)
    for name in ("Ghh", "G12", "log_q", "log_metric"):
        if name in feats:
            x = feats[name]
            with np.errstate(invalid="ignore"):                 # ln 0 = -inf in a dead network
                centre = x.mean(0)
                feats[f"{name}__shift"] = np.broadcast_to(centre, x.shape)
                feats[f"{name}__sq"] = (x - centre) ** 2
    return feats


def _chain_estimates(mean, width):
    """The nonlinear estimators from the (possibly resampled) means of the features."""
    out = {}
    if "G12" in mean:
        out["c_ratio"] = mean["G12"] / np.sqrt(mean["Ghh"] * mean["G22"])
        out["c_empirical"] = mean["Q12"] / np.sqrt(mean["Qhh"] * mean["Q22"])
    if "Qperp" in mean:
        out["Hsq"] = mean["Qperp"] / mean["Quu"] ** 2
    for name, label, scale in (("Ghh", "nvar_q", width), ("G12", "nvar_G12", width),
                               ("log_q", "var_log_q", 1.0), ("log_metric", "var_log_metric", 1.0)):
        if f"{name}__sq" in mean:
            shift = mean[name] - mean[f"{name}__shift"]
            out[label] = scale * (mean[f"{name}__sq"] - shift**2)
    return out


_CHAIN_PLAIN = {"q": "Ghh", "q_empirical": "Qhh", "q2": "G22", "d": "d", "c": "c", "chi_1": "chi_1",
                "metric": "Guu", "metric_empirical": "Quu", "length": "length", "log_q": "log_q",
                "log_metric": "log_metric"}


def _chain_summaries(per, columns, width, bootstrap, boot_rng, groups: int = 100):
    feats = _chain_features(per, columns)
    names = list(feats)
    M = per["G"].shape[0]
    mean = {k: v.mean(0) for k, v in feats.items()}
    measured = {}
    for label, name in _CHAIN_PLAIN.items():
        if name in feats:
            x = feats[name]
            exact = np.all(x == x[:1], axis=0)          # the same in every network (layer 1's kernel)
            m = np.where(exact, x[0], mean[name])
            se = np.where(exact, 0.0, x.std(0, ddof=1) / math.sqrt(M))
            measured[label] = (m, se, "mean")
    full = _chain_estimates(mean, width)
    # delete-a-group jackknife: groups of consecutive (i.i.d.) networks
    g = min(groups, M)
    edges = np.linspace(0, M, g + 1).astype(int)
    sums = {k: np.add.reduceat(v, edges[:-1], axis=0) for k, v in feats.items()}
    sizes = np.diff(edges)[:, None]
    total = {k: v.sum(0) for k, v in feats.items()}
    loo = _chain_estimates({k: (total[k] - sums[k]) / (M - sizes) for k in names}, width)
    for label, value in full.items():
        j = loo[label]
        # weighted delete-a-group jackknife (equal groups up to one network)
        se = np.sqrt((g - 1) / g * ((j - j.mean(0)) ** 2).sum(0))
        estimator = "ratio of means" if label in ("c_ratio", "c_empirical", "Hsq") else "variance over networks"
        measured[label] = (value, se, estimator)
    boot = {}
    if bootstrap:
        table = np.stack([feats[k].reshape(M, -1) for k in names], axis=1).reshape(M, -1)
        draws = {label: [] for label in measured}
        for _ in range(bootstrap):
            counts = np.bincount(boot_rng.integers(0, M, M), minlength=M) / M
            flat = counts @ table
            bmean = {k: flat.reshape(len(names), -1)[i] for i, k in enumerate(names)}
            for label, name in _CHAIN_PLAIN.items():
                if name in bmean:
                    draws[label].append(bmean[name])
            for label, value in _chain_estimates(bmean, width).items():
                draws[label].append(value)
        boot = {label: np.array(v).std(0, ddof=1) for label, v in draws.items()}
    return {label: Measured(m, s, est, boot.get(label)) for label, (m, s, est) in measured.items()}


# =========================================================================================
# Finite networks against the theory, across widths (``neurodyn validate``)
# =========================================================================================
#: The quantities :func:`validate_networks` compares, in order.
VALIDATE_QUANTITIES = ("q", "c", "chi_1", "metric", "Hsq", "length")


@dataclass(frozen=True)
class Validation:
    """Result of :func:`validate_networks`: ``rows`` (one per quantity, layer and width) and ``fits``
    (one per quantity and layer: the weighted fit of the mean offset to ``coef / n``)."""

    settings: dict
    rows: list
    fits: list
    notes: list = field(default_factory=list)

    def to_json(self) -> dict:
        """``{"rows": [{"l", "width", "quantity", "theory", "mean", "stderr", "z", "theory_1n"}],
        "fits": [{"quantity", "l", "coef_1n", "coef_1n_err", "predicted"}]}`` (null where undefined)."""
        keys = ("l", "width", "quantity", "theory", "mean", "stderr", "z", "theory_1n")
        fit_keys = ("quantity", "l", "coef_1n", "coef_1n_err", "predicted")
        return {"rows": [{k: _json_number(r[k]) for k in keys} for r in self.rows],
                "fits": [{k: _json_number(f[k]) for k in fit_keys} for f in self.fits]}

    @staticmethod
    def _z_1n(row):
        """``(mean - theory_1n) / stderr``, None without a 1/n prediction or a standard error."""
        if row["theory_1n"] is None or not row["stderr"] > 0:
            return None
        return (row["mean"] - row["theory_1n"]) / row["stderr"]

    def largest_z(self):
        """The row with the largest ``|z|`` (None when no row has a z-score)."""
        scored = [r for r in self.rows if r["z"] is not None]
        return max(scored, key=lambda r: abs(r["z"])) if scored else None

    def __str__(self) -> str:
        s = self.settings
        lines = [f"{s['activation']} at sigma_w2 = {s['sigma_w2']}, sigma_b2 = {s['sigma_b2']}: {s['networks']} "
                 f"networks per width, depth {s['depth']} (layer 1 = the input layer: q = {s['q0']}, c = {s['c0']}), "
                 f"seed {s['seed']}",
                 "quantity  l  width        theory          mean +- stderr         z     theory_1n    z_1n"]
        for r in self.rows:
            z = "" if r["z"] is None else f"{r['z']:+.2f}"
            t1 = "" if r["theory_1n"] is None else f"{r['theory_1n']:.6g}"
            z1 = self._z_1n(r)
            z1 = "" if z1 is None else f"{z1:+.2f}"
            lines.append(f"{r['quantity']:<8} {r['l']:>2} {r['width']:>6}  {r['theory']:>12.6g}  {r['mean']:>12.6g} +- "
                         f"{r['stderr']:<9.2g} {z:>6}  {t1:>12}  {z1:>6}")
        lines.append("")
        lines.append("n (mean - theory) fitted to coef_1n across widths (weighted least squares) against the 1/n theory")
        lines.append("quantity  l      coef_1n +- error     predicted")
        for f in self.fits:
            p = "" if f["predicted"] is None else f"{f['predicted']:.4g}"
            lines.append(f"{f['quantity']:<8} {f['l']:>2}  {f['coef_1n']:>11.4g} +- {f['coef_1n_err']:<8.2g} {p:>10}")
        worst = self.largest_z()
        if worst is not None:
            lines.append(f"largest |z| against infinite width = {abs(worst['z']):.2f} ({worst['quantity']}, layer "
                         f"{worst['l']}, width {worst['width']})")
        scored = [(abs(self._z_1n(r)), r) for r in self.rows if self._z_1n(r) is not None]
        if scored:
            z1, r = max(scored, key=lambda t: t[0])
            lines.append(f"largest |z_1n| against the 1/n theory = {z1:.2f} ({r['quantity']}, layer {r['l']}, "
                         f"width {r['width']})")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _json_number(value):
    if value is None or isinstance(value, (str, int)) and not isinstance(value, bool):
        return value
    v = float(value)
    return v if math.isfinite(v) else None


def one_over_n_predictions(f, sigma_w2, sigma_b2, *, q0, c0, depth) -> dict:
    """The 1/n theory's predicted ``n (E[measured] - infinite width)`` per ``(quantity, l)``.

    ``q``: ``G1^(l)`` (docs/finite_width.md §3.1-3.2: ``E[Ghat] = K + G1/n``); ``c``: the
    correlation bias of §3.3 (``n (E[c_hat] - c)``, ``c_hat`` the per-network correlation
    of ``Ghat``). Both from :func:`neurodyn.numerics.finite_width.finite_width`, whose layer 1 is
    the input layer as here. ``chi_1`` (the layer's ``C_W mean_i phi'(z_i)^2``, whose
    expectation given ``Ghat`` is ``chi_1(Ghat)``): by §3.3's general statement
    ``E[F] = <F>_{K + G1/n} + V/(2n) d^2<F>/dK^2``, the coefficient
    ``chi_1'(K) G1 + chi_1''(K) V / 2`` (derivatives of the compiled law). An empty dict
    when :mod:`~neurodyn.numerics.finite_width` is not available: the predictions are then
    null. The other quantities have no 1/n theory here.

    >>> from neurodyn.theory import catalog, derive
    >>> from neurodyn.numerics.compile import compile_laws
    >>> p = one_over_n_predictions(compile_laws(derive(catalog.get("relu"))), 2.0, 0.0, q0=1.0, c0=None, depth=3)
    >>> [round(p[("q", l)], 12) + 0.0 for l in (1, 2, 3)], [round(p[("chi_1", l)], 9) + 0.0 for l in (1, 2, 3)]
    ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    """
    try:
        from .finite_width import finite_width
    except ImportError:
        return {}
    result = finite_width(f, sigma_w2, sigma_b2, depth=depth, q0=q0, c0=c0)
    out = {}
    for index, layer in enumerate(result.layers):
        l = _field(layer, "l")
        l = index + 1 if l is None else int(l)
        g1 = _field(layer, "G1")
        if g1 is not None and np.ndim(_number(g1)) == 0:
            out[("q", l)] = _number(g1)
        elif g1 is not None:          # pair-index form: (11, 22, 12)
            out[("q", l)] = float(np.ravel(_number(g1))[0])
        bias = _field(layer, "c_bias")
        if bias is not None:
            out[("c", l)] = _number(bias)
        K, V = _field(layer, "K"), _field(layer, "V")
        if g1 is not None and K is not None and V is not None and "chi_1" in f.names():
            slope, curve = _chi_1_derivatives(f, sigma_w2, sigma_b2, float(np.ravel(_number(K))[0]))
            out[("chi_1", l)] = slope * out[("q", l)] + 0.5 * curve * float(np.ravel(_number(V))[0])
    return out


def _chi_1_derivatives(f, sigma_w2, sigma_b2, K):
    """``chi_1'(K)`` and ``chi_1''(K)`` of the compiled law, by five-point central differences
    (step ``K/100``: truncation ``O(1e-8)`` relative, far below any Monte Carlo error)."""
    h = K / 100
    q = K + h * np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    with np.errstate(all="ignore"):
        v = np.asarray(f.evaluate_at(["chi_1"], {"sigma_w2": float(sigma_w2), "sigma_b2": float(sigma_b2),
                                                 "q": q})["chi_1"], float)
    first = (v[0] - 8 * v[1] + 8 * v[3] - v[4]) / (12 * h)
    second = (-v[0] + 16 * v[1] - 30 * v[2] + 16 * v[3] - v[4]) / (12 * h * h)
    return float(first), float(second)


def _field(obj, name):
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _number(value):
    if isinstance(value, dict):
        value = value.get("value")
    value = getattr(value, "value", value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return np.array([float(v) for v in value])
    return float(value)


def _weighted_fit(widths, offsets, errors):
    """``offset(n) = coef / n`` by weighted least squares: ``(coef, error)``, None when a standard error is 0."""
    x = 1.0 / np.asarray(widths, float)
    s = np.asarray(errors, float)
    if np.any(~np.isfinite(s)) or np.any(s <= 0):
        return None
    w = x * x / (s * s)
    coef = float(np.sum(x * np.asarray(offsets, float) / (s * s)) / np.sum(w))
    return coef, float(1.0 / math.sqrt(np.sum(w)))


def validate_networks(f, sigma_w2, sigma_b2=0.0, *, widths, depth: int, networks: int, q0=1.0, c0=0.9, seed=0,
                      quantities=VALIDATE_QUANTITIES, bootstrap: int = 0, memory_limit: int = MEMORY_LIMIT,
                      progress=None) -> Validation:
    """Finite random networks of each width against the mean-field theory, with the 1/n fits.

    For every width the kernel chain (:func:`kernel_chain`, samplers A and B of
    docs/finite_width.md §4.2) follows a pair of inputs on a great circle of the sphere of
    squared radius ``q0`` (correlation ``c0``) and the circle's jets through layers
    ``l = 1..depth`` of ``networks`` independent networks; **layer 1 is the input layer**
    (``q = q0``, ``c = c0``; the state 0 of :func:`~neurodyn.numerics.iterate.iterate`), as in
    the finite-width theory (docs/finite_width.md §3.1, §6). Each width draws from its own child
    stream of ``seed``.

    Rows: ``q`` (mean ``Ghat_hh``), ``c`` (mean per-network correlation of ``Ghat``), ``chi_1``
    (the layer's ``C_W mean phi'(z)^2``), ``metric`` (mean ``Ghat_uu``), ``Hsq`` (the image
    curve's squared curvature, ratio of means) and ``length`` (mean ``2 pi |u|/sqrt(n)``,
    theory ``2 pi sqrt(metric)``), with ``z = (mean - theory)/stderr`` against the
    infinite-width ``theory`` (:func:`~neurodyn.numerics.iterate.iterate`, float64) and
    ``theory_1n = theory + predicted/width`` where :func:`one_over_n_predictions` has a value.
    Fits: per quantity and layer, ``mean - theory = coef_1n / n`` over the widths by weighted
    least squares (weights ``1/stderr^2``), beside ``predicted``; layers whose measurement is
    exact (standard error 0, or at the rounding level: layer 1 of ``q``, ``c``, ``metric``; ``c``
    for ``c0 = 1``) have no fit. With
    ``bootstrap=B`` the standard errors are bootstrap ones (``B`` resamples of the networks).
    """
    from .iterate import iterate

    quantities = tuple(quantities)
    unknown = [q for q in quantities if q not in VALIDATE_QUANTITIES]
    if unknown or not quantities:
        raise ParameterError(f"quantities must be some of {', '.join(VALIDATE_QUANTITIES)}, got "
                             f"{', '.join(unknown) or 'none'}")
    try:
        widths = [int(w) for w in widths]
    except (TypeError, ValueError):
        raise ParameterError(f"widths must be integers >= 2, got {widths!r}") from None
    if not widths or min(widths) < 2:
        raise ParameterError(f"widths must be integers >= 2, got {', '.join(str(w) for w in widths) or 'none'}")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ParameterError(f"depth must be an integer >= 1, got {depth!r}")
    curvature = "Hsq" in quantities
    act = f.activation
    if curvature and not act.is_continuous(1):
        raise NotDefinedError(
            f"Hsq (the curve's curvature) is not defined for {act.name}: its derivative jumps at "
            f"{', '.join(str(k) for k in act.kinks)}, so phi'' has a Dirac delta and chi_2 is infinite; "
            f"leave Hsq out of the quantities ({','.join(q for q in VALIDATE_QUANTITIES if q != 'Hsq')})")
    pair = "c" in quantities
    columns = len(chain_columns(pair, True, curvature))
    for w in widths:        # refuse before any work
        _check_chain(sigma_w2, sigma_b2, q0, c0 if pair else None, depth, w, networks, bootstrap)
        need = chain_memory_estimate(w, columns, networks, depth)
        if need > memory_limit:
            raise ParameterError(
                f"width {w} needs about {need / 1024**2:.0f} MiB ({networks} networks x {depth} layers x {columns} "
                f"columns), above the limit of {memory_limit / 1024**2:.0f} MiB; use fewer networks or layers")
    traj = iterate(f, sigma_w2, sigma_b2, q0=q0, c0=c0 if pair else None, dim=1, layers=max(depth - 1, 1))
    theory = {}
    for name in ("q", "c", "chi_1", "metric", "Hsq"):
        if name in traj.columns:
            theory[name] = np.array([np.nan if r[name] is None else float(r[name]) for r in traj.rows])[:depth]
    theory["length"] = 2 * math.pi * np.sqrt(theory["metric"])
    predicted = one_over_n_predictions(f, sigma_w2, sigma_b2, q0=q0, c0=c0 if pair else None, depth=depth)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    streams = rng.spawn(len(widths))
    total = float(sum(widths))
    done = 0.0
    report, close = _progress_callable(progress, f"validating {len(widths)} widths")
    runs = {}
    try:
        for w, stream in zip(widths, streams):
            start = done

            def sub(fraction, start=start, w=w):
                report((start + fraction * w) / total)

            runs[w] = kernel_chain(act, sigma_w2, sigma_b2, q0=q0, c0=c0 if pair else None, depth=depth, width=w,
                                   networks=networks, seed=stream, curve=True, curvature=curvature,
                                   bootstrap=bootstrap, memory_limit=memory_limit, progress=sub)
            done += w
            report(done / total)
    finally:
        close()
    rows, fits = [], []
    for name in quantities:
        for l in range(1, depth + 1):
            th = float(theory[name][l - 1])
            pred = predicted.get((name, l))
            offsets, errors = [], []
            for w in widths:
                m = runs[w].measured[name]
                spread = m.stderr if m.bootstrap is None else m.bootstrap
                mean, se = float(m.mean[l - 1]), float(spread[l - 1])
                if se <= 1e-13 * max(abs(mean), 1.0):     # rounding only (c0 = +-1 keeps c = +-1): exact
                    se = 0.0
                z = (mean - th) / se if se > 0 and math.isfinite(th) else None
                rows.append(dict(l=l, width=w, quantity=name, theory=th, mean=mean, stderr=se, z=z,
                                 theory_1n=None if pred is None else th + pred / w))
                offsets.append(mean - th)
                errors.append(se)
            fit = _weighted_fit(widths, offsets, errors) if math.isfinite(th) else None
            if fit is not None:
                fits.append(dict(quantity=name, l=l, coef_1n=fit[0], coef_1n_err=fit[1], predicted=pred))
    notes = []
    if not predicted:
        notes.append("no 1/n theory available (numerics.finite_width): predicted and theory_1n are null")
    settings = dict(activation=act.name, sigma_w2=str(sigma_w2), sigma_b2=str(sigma_b2), widths=widths, depth=depth,
                    networks=networks, q0=q0, c0=c0 if pair else None, seed=seed if not isinstance(
                        seed, np.random.Generator) else None, quantities=quantities, bootstrap=bootstrap)
    return Validation(settings, rows, fits, notes)
