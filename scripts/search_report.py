#!/usr/bin/python3
"""Turns dare_bench's search-stage JSON into docs/search_speed.png and docs/search_speed.md.

Usage (Debian's python3 with python3-matplotlib; a pyenv python may shadow it, so call
/usr/bin/python3 explicitly):

    /usr/bin/python3 scripts/search_report.py build-bench/search.json \
        [--png docs/search_speed.png] [--md docs/search_speed.md]

The JSON comes from `dare_bench --benchmark_filter='^search' --benchmark_repetitions=N
--benchmark_out=... --benchmark_out_format=json` (see README.md, "Search speed"). With
repetitions the median aggregates are used; without, the single runs. Times are CPU time
(the machine is shared: wall time also counts other people's jobs).

Case names (bench/search_bench.cpp): search/<method>/<hot|cold>/M:<m>/A:<a>/N:<n>/K:<k>,
search/dot/<temp>/M:<m>/A:<a>/N:<n> and search/probe/<temp>/A:<a>/N:<n>; the prefix
search_full/ marks the part of the K cross product outside the main grid.
"""

import argparse
import json
import re
import statistics
import sys
from collections import defaultdict

NAME = re.compile(
    r"^search(?:_full)?/(?P<method>\w+)/(?P<temp>hot|cold)"
    r"(?:/M:(?P<m>\d+))?/A:(?P<a>\d+)/N:(?P<n>\d+)(?:/K:(?P<k>\d+))?$")
BASELINES = ["scalar", "eigen", "faiss"]
BASELINE_TITLES = {"scalar": "scalar loop + nth_element", "eigen": "Eigen GEMV/GEMM + nth_element",
                   "faiss": "FAISS IndexFlatIP, 1 thread"}
MAIN_K = 20
TO_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


def load(path):
    with open(path) as f:
        doc = json.load(f)
    runs = doc["benchmarks"]
    have_medians = any(r.get("aggregate_name") == "median" for r in runs)
    samples = defaultdict(list)
    for r in runs:
        if have_medians:
            if r.get("run_type") != "aggregate" or r.get("aggregate_name") != "median":
                continue
        elif r.get("run_type") == "aggregate":
            continue
        m = NAME.match(r.get("run_name", r["name"]))
        if not m:
            continue
        key = (m["method"], m["temp"], int(m["m"] or 1), int(m["a"]), int(m["n"]),
               int(m["k"]) if m["k"] else None)
        samples[key].append((r["cpu_time"] * TO_US[r.get("time_unit", "ns")],
                             r.get("bytes_per_second", 0.0)))
    table = {}
    for key, vals in samples.items():
        table[key] = (statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals))
    return doc.get("context", {}), table


class Results:
    def __init__(self, table):
        self.t = table
        self.widths = sorted({k[3] for k in table})
        self.lengths = sorted({k[4] for k in table})
        self.ks = sorted({k[5] for k in table if k[5] is not None})

    def time(self, method, temp, m, a, n, k=None):
        v = self.t.get((method, temp, m, a, n, k))
        return v[0] if v else None

    def rate(self, method, temp, m, a, n, k=None):
        v = self.t.get((method, temp, m, a, n, k))
        return v[1] if v else None

    def probe_rate(self, temp, a, n):
        return self.rate("probe", temp, 1, a, n)

    def fraction(self, temp, m, a, n, k):
        r, p = self.rate("dare", temp, m, a, n, k), self.probe_rate(temp, a, n)
        return r / p if r and p else None

    def best_baseline(self, temp, m, a, n, k):
        times = [(self.time(b, temp, m, a, n, k), b) for b in BASELINES]
        times = [x for x in times if x[0] is not None]
        return min(times) if times else (None, None)


def fmt_time(us):
    if us is None:
        return "–"
    if us >= 1000:
        return f"{us / 1000:.3g} ms"
    return f"{us:.3g} µs"


def fmt_ratio(x):
    return "–" if x is None else f"{x:.2f}×" if x < 10 else f"{x:.0f}×"


def fmt_pct(x):
    return "–" if x is None else f"{100 * x:.0f}%"


def cache_sizes(context):
    sizes = {}
    for c in context.get("caches", []):
        if c.get("type") in ("Data", "Unified"):
            sizes[c["level"]] = c["size"]
    return sizes


def level_of(footprint, sizes):
    for level in (1, 2, 3):
        if level in sizes and footprint <= sizes[level]:
            return f"L{level}"
    return "DRAM"


def main_table(res, temp, m, sizes):
    k = MAIN_K
    head = ["A", "N", "bytes", "dare" + (" (per target)" if m > 1 else "")]
    head += [f"vs {b}" for b in BASELINES] + ["vs best", "of bandwidth", "probe GB/s", "dare/dot",
                                                "dots vs Eigen's"]
    if m > 1:
        head.append("vs unfused")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for a in res.widths:
        for n in res.lengths:
            t = res.time("dare", temp, m, a, n, k)
            if t is None:
                continue
            ratios = []
            for b in BASELINES:
                tb = res.time(b, temp, m, a, n, k)
                ratios.append(fmt_ratio(tb / t) if tb else "–")
            best, _ = res.best_baseline(temp, m, a, n, k)
            probe = res.probe_rate(temp, a, n)
            dot = res.time("dot", temp, m, a, n)
            footprint = n * a * 4
            where = level_of(footprint, sizes) if temp == "hot" else "DRAM"
            row = [str(a), f"{n:,}", f"{footprint / 1024:,.0f} KiB ({where})",
                   fmt_time(t / m) if m > 1 else fmt_time(t)]
            row += ratios
            row += [fmt_ratio(best / t) if best else "–", fmt_pct(res.fraction(temp, m, a, n, k)),
                    f"{probe / 1e9:.1f}" if probe else "–", fmt_ratio(t / dot) if dot else "–"]
            eigen_dot = res.time("eigen_dot", temp, m, a, n)
            row.append(fmt_ratio(eigen_dot / dot) if eigen_dot and dot else "–")
            if m > 1:
                unfused = res.time("dare_unfused", temp, m, a, n, k)
                row.append(fmt_ratio(unfused / t) if unfused else "–")
            lines.append("| " + " | ".join(row) + " |")
    return lines


def k_table(res):
    lines = ["| temp | M | A | N | K | dare | vs best baseline | of bandwidth | dare/dot |",
             "|---|---|---|---|---|---|---|---|---|"]
    for temp in ("cold", "hot"):
        for m in (1, 100):
            for a in res.widths:
                for n in res.lengths:
                    ks = [k for k in res.ks if res.time("dare", temp, m, a, n, k) is not None]
                    if len(ks) < 2:
                        continue
                    dot = res.time("dot", temp, m, a, n)
                    for k in ks:
                        t = res.time("dare", temp, m, a, n, k)
                        best, who = res.best_baseline(temp, m, a, n, k)
                        lines.append(
                            f"| {temp} | {m} | {a} | {n:,} | {k} | {fmt_time(t)} | "
                            f"{fmt_ratio(best / t) if best else '–'} ({who}) | "
                            f"{fmt_pct(res.fraction(temp, m, a, n, k))} | "
                            f"{fmt_ratio(t / dot) if dot else '–'} |")
    return lines


def headline_table(res, n=10000):
    """One row per width at one N: the README's summary."""
    k = MAIN_K
    lines = [f"| A | cold, 1 target | of bandwidth | vs scalar / Eigen / FAISS | hot, 1 target "
             f"| vs scalar / Eigen / FAISS | 100 targets, per target (hot) | vs scalar / Eigen / FAISS |",
             "|---|---|---|---|---|---|---|---|"]

    def versus(temp, m, a):
        t = res.time("dare", temp, m, a, n, k)
        return " / ".join(fmt_ratio(res.time(b, temp, m, a, n, k) / t)
                          if t and res.time(b, temp, m, a, n, k) else "–" for b in BASELINES)

    for a in res.widths:
        cold, hot, many = (res.time("dare", "cold", 1, a, n, k), res.time("dare", "hot", 1, a, n, k),
                           res.time("dare", "hot", 100, a, n, k))
        if cold is None:
            continue
        lines.append(f"| {a} | {fmt_time(cold)} | {fmt_pct(res.fraction('cold', 1, a, n, k))} | "
                     f"{versus('cold', 1, a)} | {fmt_time(hot)} | {versus('hot', 1, a)} | "
                     f"{fmt_time(many / 100) if many else '–'} | {versus('hot', 100, a)} |")
    return lines


def check_targets(res, sizes):
    """Each target: (title, list of (label, value, ok))."""
    out = []
    l1 = sizes.get(1, 48 * 1024)

    rows = []
    for a in res.widths:
        for n in res.lengths:
            if n < 10000:
                continue
            for k in res.ks:
                f = res.fraction("cold", 1, a, n, k)
                if f is not None:
                    rows.append((f"A={a} N={n:,} K={k}", fmt_pct(f), f >= 0.90))
    out.append(("cold (DRAM), M = 1, N ≥ 10,000: ≥ 90% of the probe's bandwidth", rows))

    rows = []
    for a in res.widths:
        for n in res.lengths:
            if n * a * 4 <= l1:
                continue
            f = res.fraction("hot", 1, a, n, MAIN_K)
            if f is not None:
                where = level_of(n * a * 4, sizes)
                rows.append((f"A={a} N={n:,} ({where})", fmt_pct(f), f >= 0.80))
    out.append(("hot beyond L1 (L2/L3), M = 1, K = 20: ≥ 80% of the probe's bandwidth", rows))

    rows = []
    for temp in ("cold", "hot"):
        for m in (1, 100):
            for a in res.widths:
                for n in res.lengths:
                    for k in res.ks:
                        t = res.time("dare", temp, m, a, n, k)
                        best, who = res.best_baseline(temp, m, a, n, k)
                        if t is None or best is None:
                            continue
                        limit = 1.0 if n >= 1000 else 1.1
                        rows.append((f"{temp} M={m} A={a} N={n:,} K={k} (best: {who})",
                                     fmt_ratio(best / t), t < best * limit))
    out.append(("faster than the best baseline for N ≥ 1,000, within 10% below", rows))

    rows = []
    for m in (1,):
        for n in res.lengths:
            if n < 10000:
                continue
            for lo, hi in zip(res.widths, res.widths[1:]):
                if hi != 2 * lo:
                    continue
                t_lo, t_hi = res.time("dare", "cold", m, lo, n, MAIN_K), res.time(
                    "dare", "cold", m, hi, n, MAIN_K)
                if t_lo and t_hi:
                    r = t_lo / t_hi
                    rows.append((f"N={n:,} A {hi}→{lo}", f"{r:.2f}", 0.425 <= r <= 0.575))
    out.append(("cold, M = 1, N ≥ 10,000: time halves (±15%) when A halves", rows))

    rows = []
    for temp in ("cold", "hot"):
        for a in res.widths:
            for k in res.ks:
                t, dot = res.time("dare", temp, 100, a, 10000, k), res.time("dot", temp, 100, a, 10000)
                if t and dot:
                    rows.append((f"{temp} A={a} K={k}", fmt_ratio(t / dot), t / dot <= 1.5))
    out.append(("batched ranking M = 100, N = 10,000: search ≤ 1.5× the bare dot products", rows))

    rows = []
    for temp in ("cold", "hot"):
        for a in res.widths:
            t, dot = res.time("dare", temp, 100, a, 100000, MAIN_K), res.time("dot", temp, 100, a, 100000)
            if t and dot:
                rows.append((f"{temp} A={a}", fmt_ratio(t / dot), t / dot <= 1.5))
    out.append(("(extra) batched ranking M = 100, N = 100,000, K = 20: search ≤ 1.5× the bare dot products",
                rows))

    rows = []
    for temp in ("cold", "hot"):
        for m in (1, 100):
            for a in res.widths:
                for n in res.lengths:
                    if n < 1000:
                        continue
                    dot, eig = res.time("dot", temp, m, a, n), res.time("eigen_dot", temp, m, a, n)
                    if dot and eig:
                        rows.append((f"{temp} M={m} A={a} N={n:,}", fmt_ratio(eig / dot), dot < eig))
    out.append(("(extra) dot products alone faster than Eigen's GEMV/GEMM alone, N ≥ 1,000", rows))
    return out


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5), sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, m in enumerate((1, 100)):
        for col, temp in enumerate(("cold", "hot")):
            ax = axes[row][col]
            for i, n in enumerate(res.lengths):
                xs, ys, ps, bs = [], [], [], []
                for a in res.widths:
                    t = res.time("dare", temp, m, a, n, MAIN_K)
                    if t is None:
                        continue
                    xs.append(a)
                    ys.append(t / m)
                    probe = res.time("probe", temp, 1, a, n)
                    ps.append(probe / m if probe else float("nan"))
                    best, _ = res.best_baseline(temp, m, a, n, MAIN_K)
                    bs.append(best / m if best else float("nan"))
                if not xs:
                    continue
                c = colors[i % len(colors)]
                ax.plot(xs, ys, "o-", color=c, label=f"N = {n:,}")
                ax.plot(xs, bs, "x--", color=c, alpha=0.5, linewidth=1)
                if m == 1:
                    ax.plot(xs, ps, ":", color=c, alpha=0.8, linewidth=1.5)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(res.widths)
            ax.set_xticklabels([str(a) for a in res.widths])
            ax.grid(True, which="both", alpha=0.3)
            what = "one target" if m == 1 else f"M = {m} targets, time per target"
            where = "history read from memory" if temp == "cold" else "same history (in cache)"
            ax.set_title(f"{temp}: {where}\n{what}, K = {MAIN_K}", fontsize=10)
            if row == 1:
                ax.set_xlabel("attention width A")
            if col == 0:
                ax.set_ylabel("search time (µs, CPU)")
            ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("dare search stage (dot products + top-K), one core. solid: dare; dashed: best "
                 "baseline;\ndotted: read-bandwidth probe over the same bytes (the memory limit)",
                 fontsize=10)
    fig.tight_layout()
    # A palette PNG: a few lines and labels need no more than 256 colours, and the file is
    # committed (about 4x smaller than RGBA).
    import io
    from PIL import Image
    buf = io.BytesIO()
    fig.savefig(buf, dpi=80, format="png")
    buf.seek(0)
    Image.open(buf).convert("RGB").quantize(colors=64).save(path, optimize=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json")
    ap.add_argument("--png", default="docs/search_speed.png")
    ap.add_argument("--md", default="docs/search_speed.md")
    ap.add_argument("--note", default="", help="a line about the run (e.g. the load average)")
    ap.add_argument("--headline", help="also write the one-N summary table (for the README) here")
    args = ap.parse_args()

    context, table = load(args.json)
    if not table:
        sys.exit(f"{args.json}: no search benchmark results")
    res = Results(table)
    sizes = cache_sizes(context)

    md = ["# Search-stage speed", "",
          "Generated by `scripts/search_report.py` from `dare_bench` (bench/search_bench.cpp); "
          "see README.md ('Search speed') for the commands. One core, CPU time, "
          "medians of the repetitions.", ""]
    md.append(f"- run: {context.get('date', '?')} on {context.get('host_name', '?')}, "
              f"{context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz, "
              f"caches: " + ", ".join(f"L{lv} {sz // 1024:,} KiB" for lv, sz in sorted(sizes.items())))
    if context.get("load_avg"):
        md.append("- load average during the run (1, 5, 15 min, at its start): "
                  + ", ".join(f"{x:.2f}" for x in context["load_avg"]))
    if args.note:
        md.append(f"- {args.note}")
    md += ["",
           "Columns: `vs X` = X's time / dare's time (above 1: dare is faster); `of bandwidth` = "
           "dare's bytes/s (history bytes N·A·4 per query) / the read probe's bytes/s over the "
           "same bytes at the same temperature; `dare/dot` = whole search / dot products alone "
           "(what the top-K adds); `dots vs Eigen's` = Eigen's GEMV/GEMM alone / dare's dot "
           "products alone (the scoring kernels without any top-K); `vs unfused` (M = 100) = the time of "
           "dot_rows_multi into the whole score matrix + TopK per target / MultiSearch's time. Hot footprints are labelled with the cache level they fit; "
           "cold histories rotate through 1 GiB, beyond the last-level cache.", ""]
    md += ["![search time vs attention width](search_speed.png)", ""]

    md.append("## Targets")
    md.append("")
    for title, rows in check_targets(res, sizes):
        if not rows:
            continue
        ok = sum(1 for r in rows if r[2])
        md.append(f"**{title}**: {ok}/{len(rows)} met.")
        missed = [f"{label} {value}" for label, value, good in rows if not good]
        if missed:
            md.append("Missed: " + "; ".join(missed) + ".")
        md.append("")

    for m in (1, 100):
        for temp in ("cold", "hot"):
            what = "one target" if m == 1 else f"batched ranking, M = {m} targets"
            md += [f"## {temp.capitalize()}, {what}, K = {MAIN_K}", ""]
            md += main_table(res, temp, m, sizes)
            md.append("")
    md += ["## Other K", ""] + k_table(res) + [""]
    md += ["Baselines: " + "; ".join(f"`{b}` = {BASELINE_TITLES[b]}" for b in BASELINES) + "."]

    if args.headline:
        with open(args.headline, "w") as f:
            f.write("\n".join(headline_table(res)) + "\n")
    md[md.index("## Targets"):md.index("## Targets")] = (
        ["## Summary, N = 10,000, K = 20", ""] + headline_table(res) + [""])
    with open(args.md, "w") as f:
        f.write("\n".join(md) + "\n")
    plot(res, args.png)
    print(f"wrote {args.md} and {args.png}")


if __name__ == "__main__":
    main()
