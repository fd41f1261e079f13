"""Training, with train-or-load caching of the trained model under a key of its full config.

``train`` is one plain loop. It returns the model and its history as data: one dict per
epoch with the task loss, the equivariance loss, the test accuracy or reconstruction
error, and the end-to-end equivariance error on the test set.

Runs that differ only after the equivariance loss switches on (its weight, its schedule,
the total length: the learning rate is constant) are identical up to that epoch, so the
loop saves a *snapshot* there (model, optimiser and data-order state) and a later run with
the same beginning forks from it. A weight-0 control of an equivariant run therefore costs
only its second half, and equals the control trained from scratch bit for bit (tested).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from dataclasses import dataclass, asdict, field, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from eqlib.atomic import atomic_write
from eqlib.data import CIFAR10, cache_dir, mirror
from eqlib.groups import get_group
from eqlib.losses import (SCHEDULES, autoencoder_losses, check_task, equivariance_error, equivariance_loss,
                          equivariance_weight,
                          group_equivariance_loss,
                          relative_equivariance_error, task_loss)
from eqlib.models import build_model, config_dict
from eqlib.precision import DEFAULT as DEFAULT_PRECISION, resolve as resolve_precision
from eqlib.networks import fetch
from eqlib.results import count_training, note_network

CHECKPOINT_FORMAT = "eqlib-checkpoint-v2"   # v2: MLP checkpoints carry the per-epoch trace of their first two layers
OPTIMIZERS = ("adam", "adamw")
MODES = ("loss", "augment")
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class TrainConfig:
    task: str = "autoencoder"          # "autoencoder" (MSE) or "classifier" (cross-entropy)
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    optimizer: str = "adam"            # "adam" or "adamw" (decoupled weight decay)
    weight_decay: float = 0.0
    equivariance_weight: float = 1.0
    equivariance_start: float = 0.5    # fraction of training after which the loss is on
    equivariance_schedule: str = "step"  # "step" (full weight at once) or "linear" (ramp to it)
    seed: int = 0
    precision: str = DEFAULT_PRECISION  # "float32", "bfloat16" (autocast) or "auto" (eqlib.precision.resolve)
    train_size: int = 0                # 0: all training images; else the first n
    equivariance_mode: str = "loss"    # "loss" (the paper's) or "augment": random group elements on the inputs
    group: str = "mirror"              # the group of the loss or the augmentation: "mirror" or "d4"

    def __post_init__(self):
        check_task(self.task)
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs={self.epochs!r} is not allowed: a positive integer (a run of 0 epochs is "
                             "the network at initialisation: eqlib.train.initial_model)")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer; got {self.batch_size!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
        # "auto" is resolved here, so the cache key and the results name the precision actually used
        object.__setattr__(self, "precision", resolve_precision(self.precision))
        for k in ("lr", "weight_decay", "equivariance_weight"):
            v = getattr(self, k)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{k} must be a finite non-negative number; got {v!r}")
        if not 0.0 <= self.equivariance_start <= 1.0:
            raise ValueError(f"equivariance_start must be in [0, 1]; got {self.equivariance_start!r}")
        if self.equivariance_schedule not in SCHEDULES:
            raise ValueError(f"unknown equivariance_schedule {self.equivariance_schedule!r}; "
                             f"allowed: {', '.join(SCHEDULES)}")
        if not (isinstance(self.train_size, int) and self.train_size >= 0):
            raise ValueError(f"train_size must be a non-negative integer; got {self.train_size!r}")
        if self.equivariance_mode not in MODES:
            raise ValueError(f"unknown equivariance_mode {self.equivariance_mode!r}; allowed: {', '.join(MODES)}")
        get_group(self.group)


@dataclass
class TrainResult:
    model: torch.nn.Module
    history: list              # one dict per epoch
    key: str                   # cache key
    loaded: bool               # True when read from the cache
    seconds: float             # training time (of the original run when loaded)
    data: dict = field(default_factory=dict)   # data source description
    forked_at: int = 0         # epochs taken from a shared snapshot instead of trained here
    trace: dict = None         # MLPs: the first two layers after every epoch (index 0: at initialisation)


def _fused(device):
    """Fused Adam where this torch has it for the device (one kernel for the whole update)."""
    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    return {"fused": True} if device.type == "cuda" or version >= (2, 4) else {}


def default_device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cache_key(model_config, train_config: TrainConfig, data: CIFAR10) -> str:
    spec = {"format": CHECKPOINT_FORMAT, "model": config_dict(model_config),
            "train": asdict(train_config), "data": data.fingerprint}
    if train_config.group != "mirror":       # its history measures every element of its group (evaluate)
        spec["history"] = "group-elements"
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def switch_epoch(tc: TrainConfig) -> int:
    """The first epoch (0-based) in which the equivariance loss can be on."""
    return int(round(tc.equivariance_start * tc.epochs))


def snapshot_key(model_config, tc: TrainConfig, data: CIFAR10, after: int | None = None) -> str:
    """Key of the state after the loss-free first ``after`` epochs (default ``switch_epoch(tc)``):
    every setting that acts only later (weight, schedule, total length) is left out, so runs that
    share the beginning share the key."""
    early = {k: v for k, v in asdict(tc).items()
             if k not in ("epochs", "equivariance_weight", "equivariance_schedule", "equivariance_start",
                          "equivariance_mode", "group")}
    spec = {"format": CHECKPOINT_FORMAT, "snapshot_after_epochs": switch_epoch(tc) if after is None else after,
            "model": config_dict(model_config), "train": early, "data": data.fingerprint}
    return "snap-" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def cached_or_published(path: Path, key: str):
    """The checkpoint ``key`` from the model cache, else from the book's published networks (``EQLIB_NETWORKS``,
    hash-checked, then kept in the cache); None where neither has it."""
    ckpt = load_checkpoint(path, key)
    if ckpt is None and fetch(key, path):
        ckpt = load_checkpoint(path, key)
    return ckpt


def train(model_config, train_config: TrainConfig, data: CIFAR10, cache=None, device=None,
          progress=True, use_cache=True) -> TrainResult:
    """Train (or load from the cache) a model; return it with its per-epoch history.

    With ``use_cache``, a run also starts from the cached snapshot of its loss-free first
    epochs when another run already made it (and makes it otherwise).
    """
    key = cache_key(model_config, train_config, data)
    models = cache_dir(cache) / "models"
    path = models / f"{key}.pt"
    device = torch.device(device) if device is not None else default_device()
    if use_cache:
        ckpt = cached_or_published(path, key)
        if ckpt is not None:
            note_network(key)
            model = build_model(model_config)
            model.load_state_dict(ckpt["state_dict"])
            return TrainResult(model.to(device).eval(), ckpt["history"], key, True, ckpt["seconds"], ckpt["data"],
                               ckpt.get("forked_at", 0), ckpt.get("trace"))
    snap = earlier = None
    if use_cache and 0 < switch_epoch(train_config) <= train_config.epochs:
        skey = snapshot_key(model_config, train_config, data)
        snap = (models / f"{skey}.pt", skey)
        if not snap[0].exists():         # a shorter run's snapshot: the same loss-free beginning, fewer epochs of it
            earlier = next(((models / f"{k}.pt", k, e) for e in range(switch_epoch(train_config) - 1, 0, -1)
                            for k in [snapshot_key(model_config, train_config, data, e)]
                            if (models / f"{k}.pt").exists()), None)
    start = time.perf_counter()
    model, history, forked_at, trace = _fit(model_config, train_config, data, device, progress, snap, earlier)
    seconds = time.perf_counter() - start
    count_training(seconds)
    note_network(key)
    info = {"source": data.source, "description": data.description}
    if use_cache:
        save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "key": key, "model": config_dict(model_config),
                               "train": asdict(train_config), "state_dict": model.state_dict(),
                               "history": history, "seconds": seconds, "data": info, "forked_at": forked_at,
                               "trace": trace})
    return TrainResult(model.eval(), history, key, False, seconds, info, forked_at, trace)


def load_snapshot(model_config, train_config: TrainConfig, data: CIFAR10, cache=None):
    """The model as it was when the equivariance loss switched on, and the history up to then;
    ``None`` when no run with this beginning has been trained with the cache on, and the book's published
    networks (``EQLIB_NETWORKS``) do not hold it. A page that reads a snapshot names it among its networks, as it
    names the trained ones, so a full build publishes it with them."""
    skey = snapshot_key(model_config, train_config, data)
    ckpt = cached_or_published(cache_dir(cache) / "models" / f"{skey}.pt", skey)
    if ckpt is None:
        return None
    note_network(skey)
    model = build_model(model_config)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt["history"]


def initial_model(model_config, tc: TrainConfig):
    """The model exactly as a run with ``tc`` starts (its seed fixes the initialisation): the null
    that a trained model's structure is read against."""
    torch.manual_seed(tc.seed)
    return build_model(model_config)


def _trace_row(model):
    """The first two linear layers of an MLP, copied (the emergence chapter replays them)."""
    if not hasattr(model, "linears"):
        return None
    return {f"{n}{k}": getattr(lin, n).detach().cpu().clone() for k, lin in enumerate(model.linears[:2], 1)
            for n in ("weight", "bias")}


def _stack_trace(rows):
    if not rows or rows[0] is None:
        return None
    return {k: torch.stack([r[k] for r in rows]) for k in rows[0]}


def _phase(tc: TrainConfig, w: float, x_train, x_mirrored, y_train, buf, gen, device):
    """One phase of the run, chosen once per epoch from its equivariance weight ``w``: a function making a
    batch from the indices ``idx`` (the model's input, the images ``x`` its losses read and the group
    element ``k`` of a paired batch) and one computing the task and equivariance losses of the output.

    - the loss off (``w = 0``): the batch as it is;
    - ``"augment"``: each image (and the autoencoder's target) moved by a uniformly drawn group element,
      identity included, and no extra loss;
    - ``"loss"``: the batch ``[x; g x]``, with ``g`` the mirror, or one uniformly drawn non-identity
      element of the group per batch, and the task loss on ``x`` with the equivariance loss between the
      halves (``x_mirrored``: the training images' mirrored copies, made once per run)."""
    group, zero = get_group(tc.group), torch.zeros((), device=device)

    def gather(idx):
        return torch.index_select(x_train, 0, idx, out=buf[:len(idx)])          # in place, no cat

    def task_only(out, x, idx, k):
        return task_loss(tc.task, out, x, y_train[idx]), zero

    if not w:
        return (lambda idx: (gather(idx),) * 2 + (None,)), task_only, False
    if tc.equivariance_mode == "augment":
        def augmented(idx):
            x = group.act_each(torch.randint(group.order, (len(idx),), generator=gen).to(device), gather(idx))
            return x, x, None
        return augmented, task_only, False
    if tc.group == "mirror":
        def paired(idx):
            b, x = len(idx), gather(idx)
            torch.index_select(x_mirrored, 0, idx, out=buf[b:2 * b])
            return buf[:2 * b], x, None

        def mirror_losses(out, x, idx, k):
            if tc.task == "autoencoder":
                return autoencoder_losses(out, x)                            # fused, same values
            f, f_g = out.split(len(idx))
            return task_loss(tc.task, f, x, y_train[idx]), equivariance_loss(tc.task, f, f_g)
        return paired, mirror_losses, True

    def paired_group(idx):
        b, x = len(idx), gather(idx)
        k = int(torch.randint(1, group.order, (1,), generator=gen))
        buf[b:2 * b] = group.act(k, x)
        return buf[:2 * b], x, k

    def group_losses(out, x, idx, k):
        f, f_g = out.split(len(idx))
        return task_loss(tc.task, f, x, y_train[idx]), group_equivariance_loss(tc.task, f, f_g, group, k)
    return paired_group, group_losses, True


def _fit(model_config, tc: TrainConfig, data: CIFAR10, device, progress, snap=None, earlier=None):
    """The training loop; ``snap = (path, key)`` names the snapshot at ``switch_epoch(tc)`` to
    resume from when it exists, and to write when this run passes that epoch; without it,
    ``earlier = (path, key, epochs)`` names a snapshot of the same beginning after fewer loss-free
    epochs to resume from (a longer run forking from a shorter one's). Each epoch's batches and losses
    are those of its phase (:func:`_phase`)."""
    model = initial_model(model_config, tc).to(device)
    x_train, y_train, x_test, y_test = (t.to(device) for t in data.tensors())
    if tc.train_size:
        x_train, y_train = x_train[:tc.train_size], y_train[:tc.train_size]
    mirror_loss = tc.group == "mirror" and tc.equivariance_mode == "loss"
    x_mirrored = mirror(x_train).contiguous() if mirror_loss else None   # made once
    opt_cls = torch.optim.AdamW if tc.optimizer == "adamw" else torch.optim.Adam
    opt = opt_cls(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay, **_fused(device))
    gen = torch.Generator().manual_seed(tc.seed)
    buf = torch.empty(2 * tc.batch_size, x_train.shape[1], device=device)   # [x; g x] of one batch
    autocast = dict(device_type=device.type, dtype=PRECISIONS[tc.precision], enabled=tc.precision != "float32")
    history, first, trace = [], 0, [_trace_row(model)]
    resumed = load_checkpoint(snap[0], snap[1]) if snap else None
    own = resumed is not None                 # this run's own snapshot: nothing left to write
    if resumed is None and earlier is not None:
        resumed = load_checkpoint(earlier[0], earlier[1])
    if resumed is not None:
        model.load_state_dict(resumed["state_dict"])
        opt.load_state_dict(resumed["optimizer"])
        gen.set_state(resumed["generator"])
        history = list(resumed["history"])
        first = switch_epoch(tc) if own else len(history)
        trace = _unstack(resumed.get("trace"), first + 1)

    def save_snapshot():
        save_checkpoint(snap[0], {"format": CHECKPOINT_FORMAT, "key": snap[1], "state_dict": model.state_dict(),
                                  "optimizer": opt.state_dict(), "generator": gen.get_state(),
                                  "history": history, "trace": _stack_trace(trace)})

    for epoch in tqdm(range(first, tc.epochs), desc="epochs", disable=not progress):
        if snap and not own and epoch == switch_epoch(tc):
            save_snapshot()
        w = equivariance_weight(epoch, tc.epochs, tc.equivariance_weight, tc.equivariance_start,
                                tc.equivariance_schedule)
        batch, losses, paired = _phase(tc, w, x_train, x_mirrored, y_train, buf, gen, device)
        model.train()
        t0, sums, n = time.perf_counter(), torch.zeros(2, device=device), 0
        for idx in torch.randperm(len(x_train), generator=gen).to(device).split(tc.batch_size):
            inputs, x, k = batch(idx)
            with torch.autocast(**autocast):
                out = model(inputs).float()
            loss_task, loss_eq = losses(out, x, idx, k)
            opt.zero_grad(set_to_none=True)
            (loss_task + w * loss_eq).backward()
            opt.step()
            sums += torch.stack([loss_task.detach(), loss_eq.detach()]) * len(idx)   # no sync per step
            n += len(idx)
        sums = (sums / max(n, 1)).tolist()
        row = {"epoch": epoch + 1, "equivariance_weight": w, "train_task_loss": sums[0],
               "train_equivariance_loss": sums[1] if paired else None,
               "seconds": time.perf_counter() - t0}
        row.update(evaluate(model, tc.task, x_test, y_test, tc.group))
        history.append(row)
        trace.append(_trace_row(model))
    if snap and not own and tc.epochs == switch_epoch(tc):
        save_snapshot()
    return model.eval(), history, first, _stack_trace(trace)


def _unstack(stacked, n):
    """The first ``n`` rows of a stacked trace, as a list of per-epoch dicts."""
    if stacked is None:
        return [None] * n
    return [{k: v[i] for k, v in stacked.items()} for i in range(n)]


@torch.no_grad()
def evaluate(model, task, x, y, group="mirror", batch_size=2000):
    """Test-set task loss, equivariance loss, accuracy or reconstruction error, and the median
    relative end-to-end equivariance error ``||f(x) - g f(g x)|| / ||f(x)||`` under the mirror; for a
    run of another group (``group``), also each non-identity element's median
    (``test_group_equivariance_errors``, :func:`eqlib.losses.group_equivariance_loss`'s action)."""
    model.eval()
    group = get_group(group)
    others = range(1, group.order) if group.name != "mirror" else ()
    tot = {"task": 0.0, "eq": 0.0, "correct": 0.0}
    rel, rel_g = [], {k: [] for k in others}
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        out, out_m = model(xb), model(mirror(xb))
        tot["task"] += task_loss(task, out, xb, yb).item() * len(xb)
        tot["eq"] += equivariance_loss(task, out, out_m).item() * len(xb)
        if task == "classifier":
            tot["correct"] += (out.argmax(1) == yb).sum().item()
        rel.append(relative_equivariance_error(task, out, out_m))
        for k in others:
            back = model(group.act(k, xb))
            back = back if task == "classifier" else group.act(group.inverse(k), back)
            rel_g[k].append(equivariance_error(out, back))
    n = len(x)
    row = {"test_task_loss": tot["task"] / n, "test_equivariance_loss": tot["eq"] / n,
           "test_equivariance_error": torch.cat(rel).median().item()}
    if others:
        row["test_group_equivariance_errors"] = [torch.cat(rel_g[k]).median().item() for k in others]
    if task == "classifier":
        row["test_accuracy"] = tot["correct"] / n
    else:
        row["test_reconstruction_error"] = tot["task"] / n
    return row


def save_checkpoint(path: Path, payload: dict):
    """Write atomically (:func:`eqlib.atomic.atomic_write`): a crash leaves the old file or none, never a
    half-written one."""
    with atomic_write(path) as f:
        torch.save(payload, f)


def load_checkpoint(path: Path, key: str):
    """The checkpoint at ``path`` if it is a complete eqlib checkpoint for ``key``; else None."""
    if not path.exists():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:   # truncated, corrupted or not a torch file
        warnings.warn(f"ignoring unreadable checkpoint {path} ({type(e).__name__}); retraining")
        return None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or ckpt.get("key") != key:
        warnings.warn(f"ignoring foreign checkpoint {path}; retraining")
        return None
    return ckpt


def train_seeds(model_config, train_config: TrainConfig, data: CIFAR10, seeds, control=True, **kw) -> dict:
    """``{seed: {"equivariant": TrainResult, "control": TrainResult}}``: each seed trained with the
    configured equivariance weight and, with ``control``, with weight 0 from the same beginning
    (forked from the shared snapshot, so the control costs only its second half)."""
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of non-negative integers; got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct; got {seeds!r}")
    out = {}
    for s in seeds:
        tc = replace(train_config, seed=s)
        out[s] = {"equivariant": train(model_config, tc, data, **kw)}
        if control:
            out[s]["control"] = train(model_config, replace(tc, equivariance_weight=0.0), data, **kw)
    return out
