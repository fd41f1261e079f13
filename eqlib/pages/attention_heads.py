"""The attention page: the attention autoencoder over seeds with its control, its heads matched under
the mirror, the page's texts, tables, figures and widget.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from eqlib.verdicts import PAPER, Claim, grade, judged, majority
from eqlib.rules import Rule
from eqlib.analysis import analyze_attention, attention_metric
from eqlib.stats import count, over_seeds, pm, stats
from eqlib.data import mirror
from eqlib.metric import FLIP_NAMES, READING_SHORT
from eqlib.pages.common import KINDS, NULL_KINDS, check_seeds, metric_samples
from eqlib.plots import axes_off, png_uri
from eqlib.tables import KIND_NAMES
from eqlib.train import initial_model, load_snapshot, train_seeds


@dataclass
class AttentionChapter:
    runs: dict          # {seed: {kind: TrainResult}}
    models: dict        # {kind: [model per seed]}, kinds: equivariant, control, at switch-on, init
    fits: dict          # {kind: [analyze_attention(...) per seed]}
    metric: dict        # {reading: {kind: {"latent" or "latent_pre": {flip: [per seed]}}}}
    seeds: list
    samples: dict       # {reading: {"fit": n, "eval": n}}

    def results(self) -> dict:
        trained = KINDS
        pick = lambda f: {k: {str(s): f(self.runs[s][k]) for s in self.seeds} for k in trained}
        return {"seeds": self.seeds, "metric": self.metric, "metric_samples": self.samples, "heads": self.fits,
                "aggregate": {k: over_seeds(v) for k, v in self.fits.items()},
                "test": {k: [self.runs[s][k].history[-1] for s in self.seeds] for k in trained},
                "history": pick(lambda r: r.history), "train_seconds": pick(lambda r: r.seconds),
                "loaded_from_cache": pick(lambda r: r.loaded)}


def attention_chapter(model_config, train_config, data, seeds, n_images=2000, n_fit=20_000, n_eval=20_000,
                      progress=False) -> AttentionChapter:
    """Train (or load) every seed and its control; fit the head permutation of both and of their
    shared state at the switch-on epoch on ``n_images`` test images; the metric of the latent."""
    from dataclasses import replace
    seeds = check_seeds(seeds)
    runs = train_seeds(model_config, train_config, data, seeds, progress=progress)
    models = {k: [runs[s][k].model.cpu().eval() for s in seeds] for k in KINDS}
    models["at switch-on"] = [load_snapshot(model_config, replace(train_config, seed=s), data)[0] for s in seeds]
    models["init"] = [initial_model(model_config, replace(train_config, seed=s)).eval() for s in seeds]
    x = data.tensors()[2][:n_images]
    fits = {k: [analyze_attention(m, x) for m in ms] for k, ms in models.items()}
    metric = attention_metric({k: models[k] for k in NULL_KINDS}, data, n_fit=n_fit, n_eval=n_eval)
    return AttentionChapter(runs, models, fits, metric, seeds, metric_samples(data, n_fit, n_eval))


def attention_texts(ch: AttentionChapter, claims: dict) -> dict:
    """The glued phrases of the attention page, from its numbers and per-seed claims."""
    agg = ch.results()["aggregate"]
    out = {"n_heads": ch.models["equivariant"][0].config.heads}
    for k, short in (("equivariant", "eq"), ("control", "ctrl"), ("init", "init"), ("at switch-on", "switch")):
        out.update({f"err_{short}": pm(agg[k]["median_error"]), f"moved_{short}": pm(agg[k]["moved_heads"], 1),
                    f"invol_{short}": count(claims["involution"][k])})
    out.update({"better": count(claims["better than control"]), "better_init": count(claims["better than initialisation"]),
                "better_both": count(claims["better than both"]), "before": count(claims["better than at switch-on"]),
                "gl_better": count(claims["linear maps better than control"]),
                "same_eq": count(claims["same as at switch-on"]["equivariant"]),
                "same_ctrl": count(claims["same as at switch-on"]["control"])})
    return out


def attention_explorer(data, models, index=0, image=0, model="equivariant"):
    """The attention maps of test image ``image`` and of its mirror, for the ``model`` kind's network of seed
    ``index``: what the attention widget draws."""
    import torch
    x = data.tensors()[2][image:image + 1]
    m = models[model][index]
    with torch.no_grad():
        a, am = m.attention(x), m.attention(mirror(x))
    img = data.denormalize(x).permute(0, 2, 3, 1).numpy()
    return attention_grid(img, img[:, :, ::-1], a.numpy(), am.numpy())


def attention_widget(data, models, index=0):
    """An ipywidgets form over :func:`attention_explorer`: any test image, any model kind (live kernels only); its
    ``result`` is the figure it shows."""
    import ipywidgets as widgets
    return widgets.interactive(lambda image=0, model="equivariant": attention_explorer(data, models, index, image, model),
                               image=(0, len(data.tensors()[2]) - 1), model=list(models))


def flat_metric_table(metric: dict, samples: dict, key="latent") -> tuple:
    """The metric of a single latent (attention), ``metric[reading][kind][key][flip]``, beside its floor
    (``<key>_pre``), with the samples."""
    kinds = list(next(iter(metric.values())))
    rows = [[READING_SHORT[r], f"{samples[r]['fit']:,} / {samples[r]['eval']:,}", FLIP_NAMES[f],
             *(x for k in kinds for x in (pm(stats(metric[r][k][key][f])), pm(stats(metric[r][k][f"{key}_pre"][f]))))]
            for r in metric for f in FLIP_NAMES]
    return ["reading", "samples (fit / eval)", "flip", *(x for k in kinds for x in (KIND_NAMES[k], "floor"))], rows


def heads_table(fits: dict, seeds) -> tuple:
    """The head permutation per model kind and seed (:func:`eqlib.analysis.analyze_attention`)."""
    rows = [[KIND_NAMES[k], s, h["cycles"], "yes" if h["involution"] else "**no**", h["moved_heads"],
             f"{h['median_error']:.3f}", f"{h['margin']:.3f} ({h['relative_margin']:.2f})",
             f"{h['median_head_linear_residual']:.3f}"] for k, hs in fits.items() for s, h in zip(seeds, hs)]
    return ["model", "seed", "permutation", "involution", "heads moved", "median matching error",
            "margin to 2nd best (relative)", "per-head linear map residual (median)"], rows


def positional_table(fits: dict) -> tuple:
    agg = {k: over_seeds([h["positional_residual"] for h in v]) for k, v in fits.items()}
    return ["model", "mirror", "up-down flip (control)"], [[KIND_NAMES[k], pm(a["mirror"]), pm(a["updown"])]
                                                          for k, a in agg.items()]


def attention_grid(images, images_m, maps, maps_m, title="attention maps: originals (top) and mirrored (bottom)"):
    """Slider over images; each step shows the image and every head's map, for the image
    and for its mirror. ``images``: (N, 32, 32, 3) in [0, 1]; ``maps``: (N, heads, G, G)."""
    n, heads = maps.shape[:2]
    fig = make_subplots(2, heads + 1, horizontal_spacing=0.01, vertical_spacing=0.08,
                        subplot_titles=["image"] + [f"head {h + 1}" for h in range(heads)] + ["mirrored"] +
                        [f"head {h + 1}" for h in range(heads)])

    def srcs(k):
        out = []
        for img, mp in ((images[k], maps[k]), (images_m[k], maps_m[k])):
            out.append(png_uri(img))
            for h in range(heads):
                a = mp[h] / max(mp[h].max(), 1e-12)
                out.append(png_uri(np.stack([a ** 0.5] * 3, -1)))
        return out

    first = srcs(0)
    for idx, src in enumerate(first):
        fig.add_trace(go.Image(source=src, hoverinfo="skip"), idx // (heads + 1) + 1, idx % (heads + 1) + 1)
    steps = [dict(method="restyle", label=str(k), args=[{"source": srcs(k)}]) for k in range(n)]
    fig.update_layout(title=title, height=330, margin=dict(l=10, r=10, t=60, b=10),
                      sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix="test image "), pad=dict(t=10))])
    return axes_off(fig)


def head_cost(cost, perm, title="head matching cost (mirrored-input head k vs. mirrored head j)"):
    fig = go.Figure(go.Heatmap(z=cost, x=[f"{j + 1}" for j in range(len(cost))], y=[f"{k + 1}" for k in range(len(cost))],
                               colorscale="Viridis_r", hovertemplate="k=%{y}, j=%{x}: %{z:.3f}<extra></extra>"))
    fig.add_scatter(x=[f"{j + 1}" for j in perm], y=[f"{k + 1}" for k in range(len(perm))], mode="markers",
                    marker=dict(symbol="x", size=12, color="red"), name="fitted permutation")
    fig.update_yaxes(autorange="reversed", title="head k on mirrored input")
    fig.update_xaxes(title="mirrored map of head j")
    fig.update_layout(title=title, height=420, width=520)
    return fig


def positional_encodings(pos, grid, dims=8, title="learned positional encodings (first channels)"):
    pos = np.asarray(pos).reshape(grid, grid, -1)
    fig = make_subplots(1, dims, subplot_titles=[f"ch {c}" for c in range(dims)], horizontal_spacing=0.01)
    for c in range(dims):
        fig.add_heatmap(z=pos[:, :, c], coloraxis="coloraxis", row=1, col=c + 1)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=220, coloraxis=dict(colorscale="RdBu"))
    return axes_off(fig)


# --------------------------------------------------------------------------- the report's claims this page decides

ATTENTION_RULE = Rule("attention", "reproduced if the head matching error is below both the weight-0 control's and the initial "
                      "model's in every seed; partly if in most seeds; not reproduced otherwise")

def attention_claim(att: dict) -> dict:
    h = att["heads"]
    names = {"equivariant": "head matching error, equivariant", "control": "head matching error, control",
             "init": "head matching error, at initialisation"}
    inputs = {n: [e["median_error"] for e in h[k]] for k, n in names.items()}

    def judge(i):
        below = [e < c and e < z for e, c, z in zip(*(i[names[k]] for k in ("equivariant", "control", "init")))]
        return grade(all(below), majority(below))
    below = [e["median_error"] < c["median_error"] and e["median_error"] < i["median_error"]
             for e, c, i in zip(h["equivariant"], h["control"], h["init"])]
    return {**judged(judge, inputs, seeds=att.get("seeds")),
            "evidence": f"matching error below the control's and the initial model's in {sum(below)} of {len(below)} seeds "
                        f"(equivariant {[round(e['median_error'], 3) for e in h['equivariant']]}, control "
                        f"{[round(e['median_error'], 3) for e in h['control']]}, initialisation "
                        f"{[round(e['median_error'], 3) for e in h['init']]}); heads moved "
                        f"{[e['moved_heads'] for e in h['equivariant']]}",
            "seeds": f"{len(below)} seeds"}

CLAIMS = (
    Claim('attention', "Attention heads mirror themselves or swap in pairs",
          f"{PAPER}, the attention-autoencoder experiment",
          "attention heads", ATTENTION_RULE, lambda by_page: attention_claim(by_page["attention"])),
)
