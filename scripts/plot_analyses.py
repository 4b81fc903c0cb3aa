#!/usr/bin/env python3
"""Figures of dare_analyze's CSV files (docs/analyses.md shows them and the commands).

    scripts/plot_analyses.py widths WIDTHS.csv --png docs/analysis_widths.png
    scripts/plot_analyses.py convergence CONVERGENCE.csv --png docs/analysis_convergence.png
    scripts/plot_analyses.py conflict STEPS.csv... --png docs/gradient_conflict.png
    scripts/plot_analyses.py retrieval --ndcg NDCG.csv... --maps MAPS.csv --out-dir docs
    scripts/plot_analyses.py discriminability MI.csv... --png docs/discriminability.png

The last three are scripts/plot_conflict.py, plot_retrieval.py and plot_discriminability.py
(each also runs alone; --help gives its options).

widths: test AUC (mean and sample sd over seeds) against the attention width, DARE and TWIN;
the measured search time per target at each history length of the CSV; and test AUC against
the cold search time at the shortest and the longest length (each point labelled with its
width).
convergence: mean validation AUC against training step, DARE and TWIN, the seeds' range
shaded.

Needs matplotlib (Debian: python3-matplotlib; call /usr/bin/python3 if another python3 is
first on the PATH).
"""
import argparse
import csv
import statistics
import sys
from collections import defaultdict

COLORS = {"dare": "tab:red", "twin": "tab:blue"}
LABELS = {"dare": "DARE", "twin": "TWIN"}


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def mean_sd(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def plot_widths(rows, png, plt):
    auc = defaultdict(list)  # (model, width) -> test AUCs
    search = {}  # (width, column) -> time
    for r in rows:
        width = int(r["att_width"])
        for column, value in r.items():
            if column.startswith("search_") and value:
                search[(width, column)] = float(value)
        if r["model"] != "search":
            auc[(r["model"], width)].append(float(r["test_auc"]))
    fig, ((left, right), (low_left, low_right)) = plt.subplots(2, 2, figsize=(11, 8.4))
    for model in ("dare", "twin"):
        widths = sorted(w for (m, w) in auc if m == model)
        if not widths:
            continue
        stats = [mean_sd(auc[(model, w)]) for w in widths]
        left.errorbar(widths, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3,
                      color=COLORS[model], label=LABELS[model] + (" (attention width A)" if model == "dare" else " (width D)"))
    left.set_xscale("log", base=2)
    left.set_xlabel("attention width per field")
    left.set_ylabel("test AUC (mean ± sd over seeds)")
    left.set_title("accuracy")
    left.grid(alpha=0.3)
    left.legend()
    columns = sorted({c for (_, c) in search}, key=lambda c: (int(c.rsplit("_L", 1)[1]), c))
    for column in columns:
        widths = sorted(w for (w, c) in search if c == column)
        length = column.rsplit("_L", 1)[1]
        temp = "cold" if "_cold_" in column else "hot"
        right.plot(widths, [search[(w, column)] for w in widths], marker="o",
                   linestyle="-" if temp == "cold" else "--", label=f"L = {length}, {temp}")
    right.set_xscale("log", base=2)
    right.set_yscale("log")
    right.set_xlabel("attention width per field (key = 2 × width floats)")
    right.set_ylabel("search time per target (µs)")
    right.set_title("search cost (dot products + top 20)")
    right.grid(alpha=0.3, which="both")
    right.legend(fontsize=8)
    # What a user reads to pick A: accuracy against the search time each width costs.
    cold = [c for c in columns if "_cold_" in c]
    for ax, column in zip((low_left, low_right), (cold[0], cold[-1]) if cold else ()):
        length = column.rsplit("_L", 1)[1]
        for model in ("dare", "twin"):
            widths = sorted(w for (m, w) in auc if m == model and (w, column) in search)
            if not widths:
                continue
            xs = [search[(w, column)] for w in widths]
            stats = [mean_sd(auc[(model, w)]) for w in widths]
            ax.errorbar(xs, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3,
                        color=COLORS[model], label=LABELS[model])
            for x, (m, _), w in zip(xs, stats, widths):
                ax.annotate(str(w), (x, m), textcoords="offset points", xytext=(4, -10), fontsize=8,
                            color=COLORS[model])
        ax.set_xscale("log")
        ax.set_xlabel(f"search time per target, L = {length}, cold (µs)")
        ax.set_ylabel("test AUC")
        ax.set_title(f"accuracy against search cost, L = {length} (labels: width)")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def plot_convergence(rows, png, plt):
    curves = defaultdict(lambda: defaultdict(list))  # model -> step -> AUCs over seeds
    for r in rows:
        curves[r["model"]][int(r["step"])].append(float(r["val_auc"]))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for model, by_step in curves.items():
        steps = sorted(s for s, v in by_step.items() if len(v) == max(len(x) for x in by_step.values()))
        means = [statistics.mean(by_step[s]) for s in steps]
        ax.plot(steps, means, color=COLORS.get(model), label=LABELS.get(model, model))
        ax.fill_between(steps, [min(by_step[s]) for s in steps], [max(by_step[s]) for s in steps],
                        color=COLORS.get(model), alpha=0.15)
    ax.set_xlabel("training step (× batch size = training samples seen)")
    ax.set_ylabel("validation AUC (mean; range over seeds)")
    ax.set_title("convergence")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main():
    # The analyses with a script of their own: hand it the remaining arguments.
    if len(sys.argv) > 1 and sys.argv[1] in ("conflict", "retrieval", "discriminability"):
        import importlib
        import os
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        module = importlib.import_module("plot_" + sys.argv[1])
        sys.argv = [f"plot_analyses.py {sys.argv[1]}"] + sys.argv[2:]
        module.main()
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("analysis", choices=["widths", "convergence", "conflict", "retrieval", "discriminability"])
    parser.add_argument("csv")
    parser.add_argument("--png", required=True)
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot_analyses: needs matplotlib (Debian: python3-matplotlib; try /usr/bin/python3)")
    rows = read_rows(args.csv)
    if not rows:
        sys.exit(f"plot_analyses: {args.csv} has no rows")
    {"widths": plot_widths, "convergence": plot_convergence}[args.analysis](rows, args.png, plt)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
