#!/usr/bin/env python3
"""Representation discriminability from dare_analyze discriminability's CSV (--out).

Draws the mutual information between k-means clusters of the head input and the label
against the number of clusters k (log axis), one line per model kind: the mean over the
kind's model files (training seeds) with a band of one standard deviation, and the chance
level (k - 1) / (2N) of labels independent of the clusters as a dashed line. With rows of
both kinds of input (raw and --standardize) in the files, one panel each.

    scripts/plot_discriminability.py discrim.csv [more.csv ...] --png docs/discriminability.png
        [--metric mi|nmi] [--kinds dare,twin,twin-notr] [--title TEXT]

Also prints the plotted means and standard deviations. Needs matplotlib (Debian:
python3-matplotlib; call /usr/bin/python3 if another python3 is first on the PATH).
"""
import argparse
import csv
import math
import sys

NAMES = {"dare": "DARE", "twin": "TWIN", "twin-notr": "TWIN (w/o TR)", "twin-4e": "TWIN-4E",
         "twin-proj": "TWIN (w/ proj.)", "din": "DIN", "twin-hard": "TWIN (hard)"}
COLUMNS = {"mi": ("mutual_information_nats", "mutual information (nats)"),
           "nmi": ("normalized_mi", "normalised mutual information")}


def load(paths, kinds):
    """{standardized: {kind: {k: [value per model file]}}} and the chance level per k."""
    data, chance = {}, {}
    for path in paths:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            for need in ("kind", "k", "mutual_information_nats", "normalized_mi", "chance_mi_nats"):
                if need not in (reader.fieldnames or []):
                    sys.exit(f"plot_discriminability: {path} has no column '{need}' "
                             "(not written by dare_analyze discriminability --out?)")
            for line, row in enumerate(reader, start=2):
                if kinds and row["kind"] not in kinds:
                    continue
                try:
                    k = int(row["k"])
                    values = {c: float(row[c]) for c in ("mutual_information_nats", "normalized_mi")}
                    chance[k] = float(row["chance_mi_nats"])
                except ValueError as e:
                    sys.exit(f"plot_discriminability: {path}:{line}: {e}")
                std = row.get("standardized", "0") == "1"
                data.setdefault(std, {}).setdefault(row["kind"], {}).setdefault(k, []).append(values)
    if not data:
        sys.exit("plot_discriminability: no rows to plot")
    return data, chance


def mean_sd(values):
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return m, sd


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", nargs="+")
    ap.add_argument("--png", required=True)
    ap.add_argument("--metric", choices=sorted(COLUMNS), default="mi")
    ap.add_argument("--kinds", default="", help="comma-separated model kinds (default: all in the files)")
    ap.add_argument("--title", default="Representation discriminability")
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    data, chance = load(args.csv, kinds)
    column, ylabel = COLUMNS[args.metric]

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted(data)  # raw first, then standardised
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.6), squeeze=False)
    for ax, std in zip(axes[0], panels):
        by_kind = data[std]
        order = [k for k in (kinds or NAMES) if k in by_kind] + sorted(k for k in by_kind if k not in NAMES)
        print(f"{'standardised' if std else 'raw'} head input, {ylabel}")
        for kind in order:
            ks = sorted(by_kind[kind])
            stats = [mean_sd([v[column] for v in by_kind[kind][k]]) for k in ks]
            runs = len(by_kind[kind][ks[0]])
            means = [s[0] for s in stats]
            sds = [s[1] for s in stats]
            line, = ax.plot(ks, means, marker="o", markersize=3, label=f"{NAMES.get(kind, kind)} ({runs} seeds)")
            ax.fill_between(ks, [m - s for m, s in zip(means, sds)], [m + s for m, s in zip(means, sds)],
                            color=line.get_color(), alpha=0.15, linewidth=0)
            print(f"  {kind:10s} " + "  ".join(f"k={k}: {m:.4f}±{s:.4f}" for k, m, s in zip(ks, means, sds)))
        if args.metric == "mi":
            ks = sorted(chance)
            ax.plot(ks, [chance[k] for k in ks], "k--", linewidth=1, label="chance (k − 1) / 2N")
        ax.set_xscale("log")
        ax.set_xlabel("number of clusters k")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{args.title}: {'standardised' if std else 'raw'} head input", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.png, dpi=120)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
