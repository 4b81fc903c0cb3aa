#!/usr/bin/env python3
"""Gradient conflict and domination against the training step, from the per-step CSV of
`dare_analyze conflict --steps-out` (one file per seed).

Left: the share of conflicting (step, row) pairs at each step, and the share of steps with a
negative mean cosine over a centred window of steps (the reference's figure is that share
over the whole run). Right: the representation / attention norm ratio at each step (log
scale), with the paper's figure of about 5 marked.

    scripts/plot_conflict.py STEPS.csv [STEPS.csv ...] --png docs/conflict.png [--title TEXT]

Needs matplotlib (Debian: python3-matplotlib; call /usr/bin/python3 if another python3 is
first on the PATH). plot_conflict() is the function scripts/plot_analyses.py calls.
"""
import argparse
import csv
import math
import os
import sys


def read_steps(path):
    """The per-step rows of one --steps-out file, as lists by column."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    want = {"step", "mean_cosine", "conflicts", "defined_rows", "conflicting_rows", "norm_ratio"}
    if not rows or not want <= set(rows[0]):
        sys.exit(f"plot_conflict: {path} is not a `dare_analyze conflict --steps-out` file "
                 f"(needs columns {', '.join(sorted(want))})")
    out = {"step": [], "pair_share": [], "conflicts": [], "ratio": []}
    for line, r in enumerate(rows, start=2):
        try:
            defined = int(r["defined_rows"])
            out["step"].append(int(r["step"]))
            out["pair_share"].append(int(r["conflicting_rows"]) / defined if defined else math.nan)
            out["conflicts"].append(int(r["conflicts"]))
            out["ratio"].append(float(r["norm_ratio"]))
        except ValueError as e:
            sys.exit(f"plot_conflict: {path} line {line}: {e}")
    return out


def windowed_share(flags, half):
    """The mean of `flags` over [i - half, i + half] for every i (clipped at the ends)."""
    return [sum(flags[max(0, i - half):i + half + 1]) / len(flags[max(0, i - half):i + half + 1])
            for i in range(len(flags))]


def plot_conflict(ax_share, ax_ratio, runs, window=11):
    """Draws the runs ({label: read_steps(...)}) on two axes; returns the whole-run shares."""
    shares = {}
    for label, s in runs.items():
        line, = ax_share.plot(s["step"], s["pair_share"], lw=0.8, alpha=0.6, label=f"{label}: pairs")
        ax_share.plot(s["step"], windowed_share(s["conflicts"], window // 2), lw=1.8, color=line.get_color(),
                      label=f"{label}: steps, {window}-step window")
        ax_ratio.plot(s["step"], s["ratio"], lw=1.0, color=line.get_color(), label=label)
        shares[label] = sum(s["conflicts"]) / len(s["conflicts"])
    ax_share.axhline(0.65, color="red", ls=":", lw=1, label="paper: 65% of steps")
    ax_share.set_ylim(0, 1)
    ax_share.set_xlabel("step")
    ax_share.set_ylabel("conflicting share")
    ax_ratio.set_yscale("log")
    ax_ratio.axhline(5, color="red", ls=":", lw=1, label="paper: about 5")
    ax_ratio.set_xlabel("step")
    ax_ratio.set_ylabel("|representation grad| / |attention grad|")
    for ax in (ax_share, ax_ratio):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return shares


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("steps", nargs="+", help="--steps-out files of dare_analyze conflict")
    ap.add_argument("--png", required=True)
    ap.add_argument("--title", default="TWIN: attention against representation gradients of the category table")
    args = ap.parse_args()
    if os.path.abspath(args.png) in {os.path.abspath(p) for p in args.steps}:
        sys.exit("plot_conflict: --png must not be one of the input files")
    runs = {os.path.splitext(os.path.basename(p))[0]: read_steps(p) for p in args.steps}

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax_share, ax_ratio) = plt.subplots(1, 2, figsize=(12, 4.5))
    shares = plot_conflict(ax_share, ax_ratio, runs)
    for label, share in shares.items():
        print(f"{label}: {100 * share:.1f}% of steps with a negative mean cosine")
    fig.suptitle(args.title)
    fig.tight_layout()
    tmp = args.png + ".tmp"
    fig.savefig(tmp, dpi=110, format="png")
    os.replace(tmp, args.png)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
