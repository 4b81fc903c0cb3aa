#!/usr/bin/env python3
"""Training curves from dare_train's metrics JSON files.

Draws validation AUC (left) and the mean training loss (main + auxiliary) since the
previous validation (right) against the step, one line per model and run; a run is
labelled with its seed and inference statistics, and with the file's name when several
files share both.

    scripts/plot_curves.py METRICS.json [METRICS.json ...] --png docs/training_curves.png
        [--title TEXT] [--models dare,twin]

Also prints, per line, the largest drop of validation AUC between consecutive checks.
Needs matplotlib (Debian: python3-matplotlib; call /usr/bin/python3 if another python3 is
first on the PATH).
"""
import argparse
import json
import os
import sys


def load_runs(paths, models):
    lines = []
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        settings = doc.get("settings", {})
        for run in doc["runs"]:
            if models and run["model"] not in models:
                continue
            hist = run.get("history", [])
            if not hist:
                sys.exit(f"plot_curves: {path} has no validation history (written by an older dare_train?)")
            label = f"{run['model'].upper()} seed {settings.get('seed', '?')}, {settings.get('inference_stats', '?')}"
            lines.append({"label": label, "file": os.path.basename(path), "model": run["model"],
                          "steps": [h["step"] for h in hist], "auc": [h["val_auc"] for h in hist],
                          "loss": [h["train_loss"] + h["train_aux_loss"] for h in hist]})
    labels = [l["label"] for l in lines]
    for l in lines:
        if labels.count(l["label"]) > 1:
            l["label"] += f" ({l['file']})"
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("metrics", nargs="+")
    ap.add_argument("--png", required=True)
    ap.add_argument("--title", default="")
    ap.add_argument("--models", default="", help="comma-separated models to draw (default: all)")
    args = ap.parse_args()
    if os.path.abspath(args.png) in {os.path.abspath(p) for p in args.metrics}:
        sys.exit("plot_curves: --png must not be one of the input files")
    lines = load_runs(args.metrics, set(filter(None, args.models.split(","))))
    if not lines:
        sys.exit("plot_curves: no runs to draw")

    for l in lines:
        drops = [a - b for a, b in zip(l["auc"], l["auc"][1:])]
        worst = max(drops, default=0.0)
        at = l["steps"][drops.index(worst) + 1] if drops and worst > 0 else None
        print(f"{l['label']}: {len(l['steps'])} validations, best {max(l['auc']):.4f}, "
              f"largest drop {max(worst, 0.0):.4f}" + (f" (at step {at})" if at else ""))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax_auc, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.5))
    styles = {"dare": "-", "twin": "--"}
    for l in lines:
        style = styles.get(l["model"], ":")
        ax_auc.plot(l["steps"], l["auc"], style, marker="o", markersize=2.5, label=l["label"])
        ax_loss.plot(l["steps"], l["loss"], style, marker="o", markersize=2.5, label=l["label"])
    ax_auc.set_xlabel("step")
    ax_auc.set_ylabel("validation AUC")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training loss, main + auxiliary")
    for ax in (ax_auc, ax_loss):
        ax.grid(alpha=0.3)
    ax_auc.legend(fontsize=7)
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    tmp = args.png + ".tmp"
    fig.savefig(tmp, dpi=110, format="png")
    os.replace(tmp, args.png)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
