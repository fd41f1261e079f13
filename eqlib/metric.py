"""The paper's metric of latent equivariance, under every reading of "noise samples".

The paper fits, by least squares, the linear map ``A`` with ``A phi(x) ~ phi(g x)`` for a
prefix ``phi`` of the network (first layer, first two layers) and reports the median of
``||phi(g y) - A phi(y)|| / ||phi(y)||`` over 100,000 independent noise samples ``y``. It
does not say which noise. We compute every reading side by side (:data:`READINGS`); the first,
Gaussian noise with the training images' mean and covariance, is the primary one
(:data:`DEFAULT_READING`). It is noise, as the paper says, and it has the data's second moments,
so the first layer's pre-activations reach the range where the activation bends and the
reading tests the activation (standard Gaussian noise keeps them where Tanh is nearly linear).
It is not chosen because it matches the paper. Two more readings scale its covariance by 0.25
and by 4, to show how much the value depends on the probe's amplitude.

Every metric is read against its **floor**: the same metric on the layer's pre-activation
(``W_1 y + b_1``; ``W_2 f_1 + b_2`` for the two-layer prefix), the value it would take if the
activation were the identity. A reading whose value sits at its floor measures whether the
span of the filters is closed under the flip, not what the activation does
(:func:`activation_tested`).

All prefixes of all models on a page share one stream of inputs: each batch is drawn (or
read) once, transformed once per group element, and passed through every prefix, so the
costly samples (the image-covariance Gaussian) are made once per page, not once per model.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from eqlib.atomic import atomic_write
from eqlib.data import IMAGE_SHAPE, CIFAR10, cache_dir, mirror, vflip

READINGS = {
    "covariance": "Gaussian with the training images' mean and covariance (primary)",
    "gaussian": "standard Gaussian in the normalised input space",
    "uniform": "uniform pixels in [0, 1], then normalised",
    "images": "real images: fitted on training images, evaluated on test images",
    "covariance_x0.25": "the primary reading with its covariance scaled by 0.25 (amplitude check)",
    "covariance_x4": "the primary reading with its covariance scaled by 4 (amplitude check)",
}
DEFAULT_READING = "covariance"
PAPER_READINGS = ("covariance", "gaussian", "uniform", "images")     # the four readings of "noise samples"
AMPLITUDES = {"covariance": 1.0, "covariance_x0.25": 0.25, "covariance_x4": 4.0}   # covariance scale factors
READING_SHORT = {"covariance": "covariance", "gaussian": "Gaussian", "uniform": "uniform", "images": "images",
                 "covariance_x0.25": "covariance ×0.25", "covariance_x4": "covariance ×4"}
FLOOR_FACTOR = 1.5    # a reading tests the activation where f differs from its floor by this factor in every seed
FLIPS = {"mirror": mirror, "updown": vflip}          # the group's action and the control
FLIP_NAMES = {"mirror": "left-right (mirror)", "updown": "up-down (control)"}


def check_readings(readings):
    bad = [r for r in readings if r not in READINGS]
    if bad or not readings:
        raise ValueError(f"unknown readings {bad or readings!r}; allowed: {', '.join(READINGS)}")
    return list(readings)


# --------------------------------------------------------------------------- least squares
class LinearFit:
    """Normal equations of ``Z_t ~ Y A_t^T``, accumulated in float64 over batches of rows, for one or
    several targets ``Z_t`` that share the inputs ``Y`` (so ``Y^T Y`` is formed once for all)."""

    def __init__(self):
        self.YtY, self.YtZ = None, {}
        self.sy, self.sz = None, {}        # column sums, for the centred fit
        self.n = 0

    def add(self, y, z, t=None):
        """Rows ``y`` and their targets: ``z`` a batch (one target) or a dict ``{t: batch}``."""
        y = y.double()
        self.YtY = y.T @ y if self.YtY is None else self.YtY + y.T @ y
        self.sy = y.sum(0) if self.sy is None else self.sy + y.sum(0)
        for k, zt in (z.items() if isinstance(z, dict) else [(t, z)]):
            yz, sz = y.T @ zt.double(), zt.double().sum(0)
            self.YtZ[k] = yz if k not in self.YtZ else self.YtZ[k] + yz
            self.sz[k] = sz if k not in self.sz else self.sz[k] + sz
        self.n += len(y)

    def means(self, t=None) -> tuple:
        """The fitting rows' mean ``y`` and target ``t``'s mean."""
        return self.sy / self.n, self.sz[t] / self.n

    def solve(self, t=None, centred=False) -> torch.Tensor:
        """``A_t^T`` (a tiny ridge, 1e-10 of the mean eigenvalue, only keeps singular systems solvable);
        ``centred``: the least squares of ``z - mean z`` on ``y - mean y`` (means over the fitting rows)."""
        m = self.YtY.shape[0]
        if self.n < m:
            raise ValueError(f"{self.n} fitting samples are fewer than the latent dimension {m}")
        YtY, YtZ = self.YtY, self.YtZ[t]
        if centred:
            my, mz = self.means(t)
            YtY, YtZ = YtY - self.n * torch.outer(my, my), YtZ - self.n * torch.outer(my, mz)
        ridge = 1e-10 * torch.trace(YtY) / m
        return torch.linalg.solve(YtY + ridge * torch.eye(m, dtype=YtY.dtype, device=YtY.device), YtZ)


EXACT_BELOW = 1e-4      # relative errors below this are recomputed in float64 (float32 rounds them at ~1e-7 absolute)


def relative_errors(y, z, At) -> torch.Tensor:
    """Per row ``||z - A y|| / ||y||``, as float64. The rows are evaluated in float32, where the product and
    the norms cost a fraction of float64's, to about 1e-7 absolute (a test bounds it by float32's round-off
    on planted latents); a row whose error falls below :data:`EXACT_BELOW`, where that rounding would reach the
    error's own digits, is evaluated again in float64 (an exactly equivariant layer scores its ~1e-15, not
    float32's ~1e-7)."""
    y32, z32 = y.float(), z.float()
    err = ((z32 - y32 @ At.float()).norm(dim=1) / y32.norm(dim=1).clamp_min(1e-30)).double()
    low = err < EXACT_BELOW
    if low.any():
        yl, zl = y[low].double(), z[low].double()
        err[low] = (zl - yl @ At.double()).norm(dim=1) / yl.norm(dim=1).clamp_min(1e-300)
    return err


def lstsq_residual(X, Y) -> float:
    """Relative residual ``||Y - X M|| / ||Y||`` of the best linear map (rows are samples)."""
    X, Y = torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(Y, dtype=torch.float64)
    M = torch.linalg.lstsq(X, Y, driver="gelsd").solution
    return float((Y - X @ M).norm() / Y.norm().clamp_min(1e-300))


def _parts(k, y):
    """A prefix may return one latent batch or a dict of them (several depths from one pass)."""
    return [((k, sub), v) for sub, v in y.items()] if isinstance(y, dict) else [(k, y)]


def _latent_pairs(fs, transforms, batches):
    """``(key, phi(x), {t: phi(T_t x)})`` for every batch and prefix; each batch is transformed once
    and each prefix evaluated once per (transformed) batch."""
    for x in batches:
        xt = {t: T(x) for t, T in transforms.items()}
        for k, f in fs.items():
            moved = {t: dict(_parts(k, f(xt[t]))) for t in transforms}
            for key, y in _parts(k, f(x)):
                yield key, y, {t: moved[t][key] for t in transforms}


def centred_key(key):
    """The key of a prefix's centred variant: ``(k, name)`` -> ``(k, name + "_centred")``, ``k`` -> ``(k, "centred")``."""
    return (key[0], f"{key[1]}_centred") if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], str) \
        else (key, "centred")


@torch.no_grad()
def shared_linear_equivariance(fs: dict, transforms: dict, fit_batches, eval_batches, centred=False) -> dict:
    """For every prefix ``fs[k]`` and transformation ``transforms[t]``: the least-squares ``A``
    fitted on ``fit_batches`` and the relative errors on ``eval_batches``.

    ``fit_batches`` and ``eval_batches`` are iterables of input batches ``(B, D)``; each batch
    is used by every prefix. A prefix returning a dict ``{name: latent}`` counts as one prefix
    per name, keyed ``(k, name)``. Returns ``{key: {t: errors}}``, ``errors`` a 1-D float64 tensor.

    ``centred`` adds, under :func:`centred_key`, the same least squares on the latents less their means
    over the fitting samples, each error relative to ``||phi(x) - mean phi||``: for an activation with a
    constant offset (sigmoid's 1/2), whose norm the offset dominates, the uncentred error is small for any
    map that carries the constant.
    """
    fits, errs = {}, {}
    for key, y, zs in _latent_pairs(fs, transforms, fit_batches):
        fits.setdefault(key, LinearFit()).add(y, zs)
    At = {key: {t: fit.solve(t) for t in transforms} for key, fit in fits.items()}
    Ac = {key: {t: fit.solve(t, centred=True) for t in transforms} for key, fit in fits.items()} if centred else {}
    for key, y, zs in _latent_pairs(fs, transforms, eval_batches):
        for t, z in zs.items():
            errs.setdefault(key, {}).setdefault(t, []).append(relative_errors(y, z, At[key][t]))
            if centred:
                my, mz = fits[key].means(t)
                errs.setdefault(centred_key(key), {}).setdefault(t, []).append(
                    relative_errors(y.double() - my, z.double() - mz, Ac[key][t]))
    return {key: {t: torch.cat(e) for t, e in v.items()} for key, v in errs.items()}


# --------------------------------------------------------------------------- the inputs of each reading
def image_covariance_factor(data: CIFAR10, cache=None):
    """Mean ``(D,)`` and Cholesky factor ``L`` ``(D, D)`` of the normalised training images'
    covariance (float32), cached on disk per data set."""
    path = cache_dir(cache) / "stats" / f"covariance-{data.fingerprint}.pt"
    if path.exists():
        try:
            d = torch.load(path, weights_only=True)
            return d["mean"], d["L"]
        except Exception:   # a damaged file is recomputed, never trusted
            pass
    x = data.tensors()[0].double()
    mean = x.mean(0)
    x -= mean
    cov = x.T @ x / (len(x) - 1)
    del x
    jitter = 1e-6 * torch.trace(cov) / len(cov)          # JPEG leaves a few directions nearly empty
    L = torch.linalg.cholesky(cov + jitter * torch.eye(len(cov), dtype=cov.dtype))
    out = {"mean": mean.float(), "L": L.float()}
    with atomic_write(path) as f:
        torch.save(out, f)
    return out["mean"], out["L"]


def _seed(seed, reading):
    return int(hashlib.sha256(f"{seed}-{reading}".encode()).hexdigest()[:8], 16)


def eval_size(n_eval, reading) -> int:
    """A reading's evaluation size: ``n_eval`` itself, or its entry when ``n_eval`` is ``{reading: n}``."""
    if isinstance(n_eval, dict):
        if reading not in n_eval:
            raise ValueError(f"no evaluation size for reading {reading!r}; given for: {', '.join(n_eval)}")
        return n_eval[reading]
    return n_eval


def reading_samples(reading, data: CIFAR10 | None, n_fit, n_eval) -> dict:
    """How many samples a reading fits its map on and evaluates it on: ``n_fit`` and ``n_eval`` (a number,
    or ``{reading: number}``), except that the images reading has only the training images to fit on and
    the test images to evaluate on."""
    check_readings([reading])
    n_eval = eval_size(n_eval, reading)
    if reading == "images":
        return {"fit": min(n_fit, len(data.x_train)), "eval": min(n_eval, len(data.x_test))}
    return {"fit": n_fit, "eval": n_eval}


def reading_batches(reading, data: CIFAR10 | None, n, seed=0, part="fit", batch_size=10_000, cache=None, draws=None):
    """The inputs of one reading, in batches: ``part`` is ``"fit"`` or ``"eval"`` (independent
    draws; for ``"images"``, the first ``n`` training images or the first ``n`` test images; the
    covariance readings scaled by :data:`AMPLITUDES` draw the same standard normals for every scale).

    ``draws`` (:class:`Draws`), shared across calls, keeps the covariance readings' centred samples
    ``z L^T``, so that the amplitude readings scale one draw instead of repeating it, ``sqrt(a) (z L^T) +
    mean``, bitwise the same as ``z (sqrt(a) L)^T + mean`` for the power-of-two factors of
    :data:`AMPLITUDES`; with a folder it keeps them on disk for later calls and other processes."""
    check_readings([reading])
    if reading != "gaussian" and data is None:
        raise ValueError(f"reading {reading!r} needs the data set (its statistics or its images)")
    dim = int(np.prod(IMAGE_SHAPE))
    if reading == "images":
        x = data.tensors()[0 if part == "fit" else 2][:n]
        yield from x.split(batch_size)
        return
    base = "covariance" if reading in AMPLITUDES else reading
    gen = torch.Generator().manual_seed(_seed(seed, f"{base}-{part}"))
    if reading in AMPLITUDES:
        mean, L0 = image_covariance_factor(data, cache)
        scale = AMPLITUDES[reading] ** 0.5
        L = L0 * scale
    if reading == "uniform":
        std = torch.as_tensor(data.std, dtype=torch.float32)[:, None, None]
        shift = torch.as_tensor(data.mean, dtype=torch.float32)[:, None, None]
    drawn = 0                      # the generator's position: samples drawn so far in this call
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        if reading == "gaussian":
            yield torch.randn(b, dim, generator=gen)
        elif reading == "uniform":
            u = torch.rand(b, *IMAGE_SHAPE, generator=gen)
            yield ((u - shift) / std).reshape(b, dim)
        elif draws is None:
            yield torch.randn(b, dim, generator=gen) @ L.T + mean
        else:
            key = (data.fingerprint, seed, part, n, batch_size, start)
            centred = draws.get(key)
            if centred is None:
                for s in range(drawn, start, batch_size):     # replay the batches taken from the store
                    torch.randn(min(batch_size, n - s), dim, generator=gen)
                centred = draws.put(key, torch.randn(b, dim, generator=gen) @ L0.T)
                drawn = start + b
            yield centred * scale + mean


class Draws:
    """The covariance readings' centred samples ``z L^T`` by ``(data, seed, part, n, batch size, start)``:
    in memory for one :func:`paper_metric` call, and with ``folder`` also on disk (written atomically; a
    damaged file is drawn again), so later pages and builds load them instead of drawing."""

    def __init__(self, folder=None):
        self.mem, self.folder = {}, Path(folder) if folder is not None else None

    def _file(self, key) -> Path:
        return self.folder / (hashlib.sha256(repr(key).encode()).hexdigest()[:24] + ".npy")

    def get(self, key):
        if key in self.mem:
            return self.mem[key]
        if self.folder is not None:
            try:
                self.mem[key] = torch.from_numpy(np.load(self._file(key), allow_pickle=False))
                return self.mem[key]
            except (OSError, ValueError, EOFError):
                pass
        return None

    def put(self, key, value):
        self.mem[key] = value
        if self.folder is not None:
            with atomic_write(self._file(key)) as f:
                np.save(f, value.numpy(), allow_pickle=False)
        return value


@dataclass
class MetricTable:
    """``medians[reading][prefix][flip]``: the paper's metric for every reading, prefix and flip."""
    medians: dict
    n_fit: dict
    n_eval: dict


def paper_metric(fs: dict, data: CIFAR10 | None, readings=tuple(READINGS), flips=tuple(FLIPS), n_fit=20_000,
                 n_eval=100_000, seed=0, batch_size=10_000, cache=None, centred=False, share_draws=True) -> MetricTable:
    """The paper's metric for every prefix in ``fs`` (name -> function of a batch of flat
    images) under every reading and flip, from shared passes (see the module's docstring);
    ``centred`` adds each prefix's centred variant (:func:`shared_linear_equivariance`); ``share_draws``
    draws the covariance readings' samples once for every amplitude and keeps them in ``cache`` for later
    calls (:class:`Draws`; the same samples, bitwise, in less time)."""
    readings = check_readings(readings)
    bad = [f for f in flips if f not in FLIPS]
    if bad:
        raise ValueError(f"unknown flips {bad!r}; allowed: {', '.join(FLIPS)}")
    sizes = [("n_fit", n_fit), ("batch_size", batch_size)] + [
        (f"n_eval[{r!r}]" if isinstance(n_eval, dict) else "n_eval", eval_size(n_eval, r)) for r in readings]
    for k, v in sizes:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{k} must be a positive integer; got {v!r}")
    transforms = {f: FLIPS[f] for f in flips}
    medians, nf, ne = {}, {}, {}
    # the covariance readings' draws: once for every amplitude, and kept on disk for later pages and builds
    draws = Draws(cache_dir(cache) / "draws") if share_draws and any(r in AMPLITUDES for r in readings) else None
    for r in readings:
        fit = lambda: reading_batches(r, data, n_fit, seed, "fit", batch_size, cache, draws)
        ev = lambda: reading_batches(r, data, eval_size(n_eval, r), seed, "eval", batch_size, cache, draws)
        errs = shared_linear_equivariance(fs, transforms, fit(), ev(), centred)
        medians[r] = {k: {t: float(e.quantile(0.5)) for t, e in v.items()} for k, v in errs.items()}
        first = next(iter(errs.values()))
        ne[r] = len(next(iter(first.values())))
        nf[r] = reading_samples(r, data, n_fit, n_eval)["fit"]
    return MetricTable(medians, nf, ne)


def median_se(errors, n_boot=200, seed=0) -> float:
    """The bootstrap standard error of the median of ``errors`` (``n_boot`` resamples, seeded)."""
    e = torch.as_tensor(errors, dtype=torch.float64).reshape(-1)
    g = torch.Generator().manual_seed(seed)
    meds = torch.stack([e[torch.randint(len(e), (len(e),), generator=g)].median() for _ in range(n_boot)])
    return float(meds.std())


# --------------------------------------------------------------------------- floors
def floor_key(depth: str) -> str:
    """The key of a prefix's floor: the same prefix with its last activation removed."""
    return f"{depth}_pre"


def floor_ratios(metric: dict, kind: str, depth="first_layer", flip="mirror") -> dict:
    """``{reading: [f / floor per seed]}`` for ``metric[reading][kind][depth][flip]`` (a chapter's
    ``{reading: {kind: {depth: {flip: [per seed]}}}}``)."""
    return {r: [f / max(fl, 1e-300) for f, fl in zip(m[kind][depth][flip], m[kind][floor_key(depth)][flip])]
            for r, m in metric.items() if kind in m}


FLOOR_ATOL = 1e-3     # below this, a value and its floor are both "zero": no ratio is read off them


def off_floor(value: float, floor: float, factor=FLOOR_FACTOR, atol=FLOOR_ATOL) -> bool:
    """Whether a metric value differs clearly from its floor: by at least ``factor`` (above or below),
    and by more than ``atol`` (two values near 0 say nothing about the activation)."""
    if abs(value - floor) <= atol:
        return False
    return value >= factor * floor or value * factor <= floor


def activation_tested(metric: dict, kind: str, depth="first_layer", flips=tuple(FLIPS), factor=FLOOR_FACTOR) -> dict:
    """``{reading: bool}``: whether the reading tests the activation of the ``kind`` models, that is,
    whether for at least one of ``flips`` the value at ``depth`` is off its floor (:func:`off_floor`)
    in every seed. One flip suffices: where the flip permutes the filters exactly, value and floor are
    both 0 whatever the activation, and only the other flip can show whether the probes reach the
    range where the activation bends. A reading that fails this for every flip measures the filters'
    span, not the activation."""
    out = {}
    for r, m in metric.items():
        if kind not in m:
            continue
        fl = floor_key(depth)
        out[r] = any(all(off_floor(v, f, factor) for v, f in zip(m[kind][depth][flip], m[kind][fl][flip]))
                     for flip in flips)
    return out
