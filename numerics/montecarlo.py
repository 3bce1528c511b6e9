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

__all__ = ["JetSample", "Measured", "activation_callables", "memory_estimate", "simulate_jets", "METHODS"]

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


def _check(sigma_w2, sigma_b2, q0, dim, layers, width, networks, c0, method, bootstrap):
    def positive_int(name, value, least):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ParameterError(f"{name} must be an integer >= {least}, got {value!r}")
        return int(value)

    dim = positive_int("dim", dim, 1)
    layers = positive_int("layers (depth)", layers, 1)
    width = positive_int("width", width, max(2, dim + 1))
    networks = positive_int("networks", networks, 2)
    bootstrap = positive_int("bootstrap", bootstrap, 0)
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
    if method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return values, dim, layers, width, networks, bootstrap


def simulate_jets(activation, sigma_w2, sigma_b2=0.0, *, q0, dim: int = 1, layers: int, width: int,
                  networks: int, c0=0.5, seed=0, method: str = "weights", curvature: bool = True,
                  bootstrap: int = 0, batch: int = 64, memory_limit: int = MEMORY_LIMIT) -> JetSample:
    """Push a great circle (``dim=1``) or an ``dim``-patch of the sphere through random layers.

    Returns a :class:`JetSample` with ``measured[name]`` for ``q``, ``q2``, ``c``, ``d``,
    ``metric``, ``conformality`` and (``curvature=True``) ``Hsq``, ``trHsq``, ``Rbar``
    (ratios of means) and ``Hsq_per_network``, ``trHsq_per_network``, ``Rbar_per_network``.
    ``seed`` is an int or a :class:`numpy.random.Generator`; each network gets its own
    child stream, so network ``i`` is the same whatever ``batch`` is.
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
    phi, d1, d2 = activation_callables(activation, curvature)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    streams = rng.spawn(networks)
    pairs = [(a, b) for a in range(dim) for b in range(a, dim)] if curvature else []

    g_all = np.empty((networks, layers + 1, dim, dim))
    K_all = np.empty((networks, layers + 1, dim, dim, dim, dim)) if curvature else None
    pt_all = np.empty((networks, layers + 1, 3))          # <h,h>, <h2,h2>, <h,h2>
    for start in range(0, networks, batch):
        idx = range(start, min(start + batch, networks))
        state = np.stack([_initial_state(streams[i], width, dim, q0, c0, pairs) for i in idx])
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
                    layers=layers, width=width, networks=networks, method=method, bootstrap=bootstrap)
    boot_rng = np.random.default_rng(rng.integers(2**63)) if bootstrap else None
    return JetSample(settings, per_network, _summaries(per_network, dim, curvature, bootstrap, boot_rng))


# -- one network's state: columns [h, J_1..J_m, H_ab (a <= b), h2] ---------------------------
def _initial_state(rng, width, dim, q0, c0, pairs):
    frame, _ = np.linalg.qr(rng.standard_normal((width, dim + 1)))      # Haar orthonormal frame
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
