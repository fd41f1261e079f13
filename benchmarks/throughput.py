"""Throughput benchmark: eqlib's training loop against the standard tutorial pipeline,
against the machine's own matrix-multiply rate, and the symmetry tools at scale.

    python benchmarks/throughput.py [--epochs 2] [--out _build/benchmark.json]

Everything is measured in one process on the same data, so the printed ratios compare
like with like. Needs CIFAR-10 (see README: EQLIB_DATA).
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from eqlib.data import load_cifar10, mirror
from eqlib.losses import equivariance_loss, task_loss
from eqlib.models import MLP, AttentionConfig, MLPConfig
from eqlib.metric import DEFAULT_READING, paper_metric
from eqlib.symmetry import fit_signed_permutation
from eqlib.train import TrainConfig, train


def matmul_rate(dtype=torch.float32, n=2048, repeats=10):
    """The machine's own dense matrix-multiply rate (FLOP/s) for ``dtype``."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def mlp_step_flops(widths):
    """Matrix-multiply FLOPs of one training step per image with the equivariance loss on:
    two forward passes (x and gx), each with a backward pass of twice the forward cost,
    except that no gradient flows into the input."""
    fwd = sum(2 * a * b for a, b in zip(widths[:-1], widths[1:]))
    bwd = 2 * fwd - 2 * widths[0] * widths[1]
    return 2 * (fwd + bwd)


def attention_step_flops(c: AttentionConfig):
    T, pp, d, h = c.grid ** 2, c.channels * c.patch ** 2, c.dim, c.heads
    fwd = (2 * T * pp * h            # logits from the patches
           + 2 * h * T * pp           # attention-weighted patches
           + 2 * h * T * d            # attention-weighted positional encodings
           + 2 * h * pp * d           # back to token space
           + 2 * h * d * (d // h)     # values
           + 2 * d * d                # output projection
           + 2 * d * c.decoder_hidden + 2 * c.decoder_hidden * c.channels * c.image_size ** 2)
    return 2 * 3 * fwd


def eqlib_throughput(model_config, data, epochs, precision="float32"):
    tc = TrainConfig(epochs=epochs, equivariance_start=0.0, precision=precision)
    r = train(model_config, tc, data, progress=False, use_cache=False)
    seconds = sum(h["seconds"] for h in r.history)
    return len(data.x_train) * epochs / seconds, r


class _PILDataset(torch.utils.data.Dataset):
    """What torchvision.datasets.CIFAR10 does: a PIL image per item, then the transforms."""

    def __init__(self, images, labels, transform):
        from PIL import Image
        self.images = [Image.fromarray(x.transpose(1, 2, 0)) for x in images]
        self.labels, self.transform = labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i])


def tutorial_throughput(model_config, data, max_batches=None):
    """The PyTorch-tutorial way: PIL dataset, ToTensor + Normalize per sample, a default DataLoader."""
    import torchvision.transforms as T
    tf = T.Compose([T.ToTensor(), T.Normalize(data.mean.tolist(), data.std.tolist())])
    loader = torch.utils.data.DataLoader(_PILDataset(data.x_train, data.y_train, tf), batch_size=256, shuffle=True)
    torch.manual_seed(0)
    model = MLP(model_config)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n, start = 0, time.perf_counter()
    for k, (x, y) in enumerate(loader):
        x = x.flatten(1)
        out = model(torch.cat([x, mirror(x)]))
        f, f_m = out.chunk(2)
        loss = task_loss("autoencoder", f, x, y) + equivariance_loss("autoencoder", f, f_m)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += len(x)
        if max_batches and k + 1 >= max_batches:
            break
    return n / (time.perf_counter() - start)


def reference_attend(model, x):
    """The attention layer as eqlib computed it before its patches went channel-major: a 6-d permute
    to token-major patches and a softmax over the transposed logits (the baseline of the ratio)."""
    import math
    c = model.config
    dh, g, p = c.dim // c.heads, c.grid, c.patch
    pt = x.view(-1, c.channels, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(-1, g * g, c.channels * p * p)
    e, e_bias = model.embed.weight.flatten(1), model.embed.bias
    q = model.q_proj(model.query).view(c.heads, dh)
    u = torch.einsum("hed,he->dh", model.k_proj.weight.view(c.heads, dh, c.dim), q)
    logits = pt @ (e.T @ u) + (model.pos + e_bias) @ u
    attn = torch.softmax(logits.transpose(1, 2) / math.sqrt(dh), dim=-1)
    pooled = (attn @ pt) @ e.T + attn @ model.pos + e_bias
    values = torch.einsum("bhd,hed->bhe", pooled, model.v_proj.weight.view(c.heads, dh, c.dim))
    return attn, values + model.v_proj.bias.view(c.heads, dh)


def attention_layout_ratio(config, batch=512, repeats=20):
    """Forward + backward time of the attention layer, eqlib's against :func:`reference_attend`, in this process."""
    from eqlib.models import AttentionAutoencoder
    torch.manual_seed(0)
    model, x = AttentionAutoencoder(config), torch.randn(batch, 3 * 32 * 32)
    out = {}
    for name, fn in (("eqlib", model._attend), ("reference", lambda x: reference_attend(model, x))):
        for k in range(repeats + 3):
            if k == 3:
                t = time.perf_counter()
            a, v = fn(x)
            (a.sum() + v.sum()).backward()
        out[f"{name}_ms"] = (time.perf_counter() - t) / repeats * 1e3
    with torch.no_grad():
        diffs = [(r - e).abs().max().item() for r, e in zip(reference_attend(model, x), model._attend(x))]
    return {**out, "ratio": out["reference_ms"] / out["eqlib_ms"], "max_abs_difference": max(diffs)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2, help="whole epochs per eqlib measurement")
    ap.add_argument("--tutorial-batches", type=int, default=0, help="0: one whole epoch of the tutorial pipeline")
    ap.add_argument("--out", default="_build/benchmark.json")
    args = ap.parse_args(argv)
    if args.epochs < 1:
        ap.error(f"--epochs must be at least 1; got {args.epochs}")

    data = load_cifar10()
    res = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, torch threads {torch.get_num_threads()}",
           "torch": torch.__version__, "data": data.description}
    print(f"# {res['machine']}; {data.description}")

    rate32, rate16 = matmul_rate(torch.float32), matmul_rate(torch.bfloat16)
    res["matmul_gflops"] = {"float32": rate32 / 1e9, "bfloat16": rate16 / 1e9}
    print(f"matrix multiply: float32 {rate32 / 1e9:.0f} GFLOP/s, bfloat16 {rate16 / 1e9:.0f} GFLOP/s")

    mlp = MLPConfig.paper("autoencoder", "tanh", first_init_scale=0.01)
    flops = mlp_step_flops(mlp.widths)
    for precision in ("float32", "bfloat16"):
        ips, _ = eqlib_throughput(mlp, data, args.epochs, precision)
        frac = ips * flops / rate32
        res[f"mlp_{precision}"] = {"images_per_s": ips, "epoch_s": len(data.x_train) / ips,
                                   "fraction_of_float32_matmul_rate": frac}
        print(f"eqlib MLP ({precision}): {ips:,.0f} images/s, {len(data.x_train) / ips:.2f} s/epoch, "
              f"{frac:.0%} of the float32 matmul rate")

    tut = tutorial_throughput(mlp, data, args.tutorial_batches or None)
    res["mlp_tutorial"] = {"images_per_s": tut}
    res["ratio_eqlib_over_tutorial"] = {p: res[f"mlp_{p}"]["images_per_s"] / tut for p in ("float32", "bfloat16")}
    print(f"tutorial pipeline (float32): {tut:,.0f} images/s; eqlib / tutorial = "
          f"{res['ratio_eqlib_over_tutorial']['float32']:.1f}x (float32), "
          f"{res['ratio_eqlib_over_tutorial']['bfloat16']:.1f}x (bfloat16)")

    att = AttentionConfig()
    ips, _ = eqlib_throughput(att, data, 1)
    frac = ips * attention_step_flops(att) / rate32
    res["attention_float32"] = {"images_per_s": ips, "epoch_s": len(data.x_train) / ips,
                                "fraction_of_float32_matmul_rate": frac}
    print(f"eqlib attention autoencoder: {ips:,.0f} images/s, {len(data.x_train) / ips:.2f} s/epoch, "
          f"{frac:.0%} of the float32 matmul rate")

    ratio = attention_layout_ratio(att)
    res["attention_patch_layout"] = ratio
    print(f"attention layer, forward + backward on a doubled batch of 512: eqlib's channel-major patches "
          f"{ratio['eqlib_ms']:.1f} ms, the token-major permute it replaced {ratio['reference_ms']:.1f} ms "
          f"(reference / eqlib = {ratio['ratio']:.2f}x); same outputs to {ratio['max_abs_difference']:.1e}")

    rng = np.random.default_rng(0)
    A = rng.standard_normal((4096, 3072))
    B = A[rng.permutation(4096)] * rng.choice([-1.0, 1.0], (4096, 1))
    t = time.perf_counter()
    fit_signed_permutation(A, B)
    res["fit_signed_permutation_4096x3072_s"] = time.perf_counter() - t
    model = MLP(mlp)
    t = time.perf_counter()
    paper_metric({"f": lambda x: model.hidden(x, 2)}, data, readings=[DEFAULT_READING], n_fit=20_000, n_eval=100_000)
    res["paper_metric_100k_s"] = time.perf_counter() - t
    print(f"fit_signed_permutation 4096 x 3072: {res['fit_signed_permutation_4096x3072_s']:.1f} s; "
          f"paper_metric ({DEFAULT_READING} reading, 20,000 + 100,000 samples, both flips), first two layers: "
          f"{res['paper_metric_100k_s']:.1f} s")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
