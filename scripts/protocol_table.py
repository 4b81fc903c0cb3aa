#!/usr/bin/env python3
"""DARE and TWIN under each evaluation/protocol choice, over several seeds.

Runs `dare_train --compare` once per (configuration, seed) and prints a Markdown table of
the mean ± sd (sample sd) of each model's test AUC, of DARE − TWIN, and of the category
AUC by both formulas (dare's exact one and the reference's calc_auc). The configurations
are dare's default, the layers' own parameter defaults instead of the reference's, and on
that base the two other inference-statistics modes and each other part of the reference
protocol switched on alone; last the whole reference protocol.

    scripts/protocol_table.py LOG [--seeds 3] [--out DIR] [--only NAME,...] [-- extra flags]

Expects build/release/examples/dare_train (scripts/run.sh builds it). Each run's metrics
JSON is kept in DIR (default build/protocol), named CONFIG.seedS.json; a run whose JSON is
already there is not repeated, so an interrupted table resumes.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

TRAIN = "build/release/examples/dare_train"

# name, description, flags. The single changes are measured against LAYER, dare's default
# with the layers' own parameter defaults, the base they were first measured on.
LAYER = ["--param-scheme", "layer-defaults"]
CONFIGS = [
    ("default", "dare's default: precise statistics, reference parameters", []),
    ("layer-defaults", "BatchNorm weight 1, PReLU slope 0.1, L2 on Linear weights only", LAYER),
    ("running", "layer-defaults + running statistics (PyTorch eval mode)", LAYER + ["--inference-stats", "running"]),
    ("batch", "layer-defaults + batch statistics, equal chunks of <= 4096", LAYER + ["--inference-stats", "batch"]),
    ("ref-eval", "layer-defaults + the reference's evaluation (batch statistics, chunks of 2048, last dropped)",
     LAYER + ["--inference-stats", "batch", "--eval-batch-size", "0", "--eval-drop-last"]),
    ("ref-schedule", "layer-defaults + the reference's schedule (every 150 steps, not at the end)",
     LAYER + ["--eval-interval", "150", "--min-evals-per-epoch", "0", "--no-final-eval"]),
    ("ref-order", "layer-defaults + the reference's training order", LAYER + ["--train-order", "reference"]),
    ("reference", "--protocol reference (the reference's parameters, evaluation, schedule and order)",
     ["--protocol", "reference"]),
]


def mean_sd(values):
    if not values:
        return "–"
    m = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.4f} ± {sd:.4f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default="build/protocol")
    ap.add_argument("--only", default="", help="comma-separated configuration names")
    ap.add_argument("extra", nargs="*", help="more dare_train flags (after --)")
    args = ap.parse_args()
    if args.seeds < 1:
        sys.exit("protocol_table: --seeds must be at least 1")
    if not os.access(TRAIN, os.X_OK):
        sys.exit(f"protocol_table: {TRAIN} is missing; run scripts/run.sh first")
    os.makedirs(args.out, exist_ok=True)
    only = set(filter(None, args.only.split(",")))
    configs = [c for c in CONFIGS if not only or c[0] in only]

    rows = []
    for name, desc, flags in configs:
        runs = []
        for seed in range(1, args.seeds + 1):
            path = os.path.join(args.out, f"{name}.seed{seed}.json")
            if not os.path.exists(path):
                cmd = [TRAIN, "--input", args.log, "--compare", "--quiet", "--seed", str(seed),
                       "--metrics-out", path, *flags, *args.extra]
                print("+", " ".join(cmd), file=sys.stderr, flush=True)
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            with open(path) as f:
                runs.append({r["model"]: r for r in json.load(f)["runs"]})
        get = lambda model, key, sub="test": [r[model][sub][key] for r in runs]
        diff = [d - t for d, t in zip(get("dare", "auc"), get("twin", "auc"))]
        wins = sum(x > 0 for x in diff)
        rows.append((name, desc, mean_sd(get("dare", "auc")), mean_sd(get("twin", "auc")), mean_sd(diff),
                     f"{wins}/{len(diff)}", mean_sd(get("dare", "category_auc")),
                     mean_sd(get("dare", "category_auc_reference_formula")),
                     " ".join(str(r["dare"]["val"]["best_step"]) for r in runs)))

    print(f"\n{args.seeds} seeds, mean ± sd; log {args.log}\n")
    print("| configuration | what | DARE test AUC | TWIN test AUC | DARE − TWIN | DARE ahead | "
          "DARE cat. AUC | DARE cat. AUC (ref. formula) | DARE best steps |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
