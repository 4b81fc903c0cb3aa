#!/usr/bin/python3
"""Figures of `dare_analyze retrieval` (docs/analyses.md, retrieval quality).

  scripts/plot_retrieval.py --ndcg ndcg.csv [--ndcg more.csv ...] --maps maps.csv --out-dir docs/figures

ndcg CSVs (--out; one per seed, or one with several model files): NDCG@20 bars per model and
truth, mean and standard deviation over the model files of each kind, and the NDCG@k curves
of the reference's figure. maps CSV (--maps-out): for the most common target category, the
ground-truth MI map (behaviour category x position, min-max normalised as the reference's
calc_gt.py draws it) beside each model's learned correlation (softmax over the map, then
min-max, as its calc_learned.py does), one file per model kind (the first file of the kind).
"""
import argparse
import csv
import math
import os
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["dare", "twin-4e", "twin", "twin-proj", "din", "twin-notr", "twin-hard", "eta", "sdim", "twin-v2"]
LABEL = {"dare": "DARE", "twin-4e": "TWIN-4E", "twin": "TWIN", "twin-proj": "TWIN w/ proj.", "din": "DIN",
         "twin-notr": "TWIN w/o TR", "twin-hard": "TWIN (hard)", "eta": "ETA", "sdim": "SDIM", "twin-v2": "TWIN-V2"}
TRUTH = {"mi": "mutual information", "interest": "generator: same interest", "related": "generator: related category"}


def read_rows(paths):
    rows = []
    for p in paths:
        with open(p, newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


def mean_sd(xs):
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd


def kinds_in(rows):
    present = {r["model"] for r in rows}
    return [k for k in ORDER if k in present] + sorted(present - set(ORDER))


def plot_bars(rows, retrieval, path):
    kinds = kinds_in(rows)
    top = max(int(r["k"]) for r in rows)
    truths = [t for t in TRUTH if any(r["truth"] == t for r in rows)]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(kinds), 4))
    width = 0.8 / len(truths)
    for i, t in enumerate(truths):
        means, sds = [], []
        for k in kinds:
            xs = [float(r["ndcg"]) for r in rows if r["model"] == k and r["truth"] == t and r["retrieval"] == retrieval
                  and int(r["k"]) == top and r["ndcg"] != ""]
            m, sd = mean_sd(xs) if xs else (float("nan"), 0.0)
            means.append(m)
            sds.append(sd)
        xpos = [j + (i - (len(truths) - 1) / 2) * width for j in range(len(kinds))]
        ax.bar(xpos, means, width, yerr=sds, capsize=3, label=TRUTH[t])
    ax.set_xticks(range(len(kinds)))
    ax.set_xticklabels([LABEL.get(k, k) for k in kinds], rotation=20)
    ax.set_ylabel(f"NDCG@{top}")
    ax.set_ylim(0, 1)
    ax.set_title(f"Retrieval quality ({retrieval}); mean and sd over seeds")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def plot_curves(rows, truth, retrieval, path):
    kinds = kinds_in(rows)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for k in kinds:
        by_k = defaultdict(list)
        for r in rows:
            if r["model"] == k and r["truth"] == truth and r["retrieval"] == retrieval and r["ndcg"] != "":
                by_k[int(r["k"])].append(float(r["ndcg"]))
        if not by_k:
            continue
        ks = sorted(by_k)
        ax.plot([0] + ks, [0] + [mean_sd(by_k[x])[0] for x in ks], label=LABEL.get(k, k))
    ax.set_xlabel("Behaviours returned by search")
    ax.set_ylabel("NDCG")
    ax.set_xlim(0, None)
    ax.set_ylim(0, 1)
    ax.set_title(f"Retrieval against {TRUTH[truth]} ({retrieval})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def plot_maps(rows, path, target_rank=0):
    maps = {}  # source -> {(behaviour_cat, position): value}, for the first file of each source
    first_file = {}
    cats, positions, target = [], [], None
    for r in rows:
        if int(r["target_rank"]) != target_rank:
            continue
        src = r["source"]
        if first_file.setdefault(src, r["file"]) != r["file"]:
            continue
        target = r["target_cat"]
        c, p = r["behaviour_cat"], int(r["position"])
        if c not in cats:
            cats.append(c)
        if p not in positions:
            positions.append(p)
        maps.setdefault(src, {})[(c, p)] = float(r["value"]) if r["value"] != "" else float("nan")
    sources = ["mi"] + [k for k in kinds_in([{"model": s} for s in maps if s != "mi"])]
    fig, axes = plt.subplots(1, len(sources), figsize=(3.2 * len(sources), 3.6))
    if len(sources) == 1:
        axes = [axes]
    for ax, src in zip(axes, sources):
        m = [[maps[src].get((c, p), float("nan")) for p in positions] for c in cats]
        flat = [x for row in m for x in row if not math.isnan(x)]
        if src != "mi":  # the reference's calc_learned.py: softmax over the map, then min-max
            mx = max(flat)
            e = [[math.exp(x - mx) for x in row] for row in m]
            s = sum(x for row in e for x in row)
            m = [[x / s for x in row] for row in e]
            flat = [x for row in m for x in row]
        lo, hi = min(flat), max(flat)
        m = [[(x - lo) / (hi - lo) if hi > lo else 0.0 for x in row] for row in m]
        ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(positions)))
        ax.set_xticklabels(positions, fontsize=7)
        ax.set_yticks(range(len(cats)))
        ax.set_yticklabels(cats, fontsize=7)
        ax.set_xlabel("target-relative position")
        ax.set_title("ground truth (MI)" if src == "mi" else LABEL.get(src, src), fontsize=10)
    axes[0].set_ylabel("behaviour category")
    fig.suptitle(f"Correlation with target category {target} (the most common)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ndcg", action="append", default=[], help="CSV of dare_analyze retrieval --out (repeatable)")
    ap.add_argument("--maps", help="CSV of dare_analyze retrieval --maps-out")
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    if args.ndcg:
        rows = read_rows(args.ndcg)
        for retrieval in ("correlation", "search"):
            plot_bars(rows, retrieval, os.path.join(args.out_dir, f"retrieval_ndcg_{retrieval}.png"))
        for truth in TRUTH:
            if any(r["truth"] == truth for r in rows):
                plot_curves(rows, truth, "correlation" if truth == "mi" else "search",
                            os.path.join(args.out_dir, f"retrieval_curve_{truth}.png"))
    if args.maps:
        plot_maps(read_rows([args.maps]), os.path.join(args.out_dir, "retrieval_maps.png"))


if __name__ == "__main__":
    main()
