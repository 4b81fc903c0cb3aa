// examples/analyze/commands.hpp — the subcommands of dare_analyze, one source file each in
// examples/analyze/: every add_* registers its subcommand (options and the function that
// runs it) on the tool's CLI11 app. docs/analyses.md shows each one's figures and the
// commands that made them.
#pragma once

#include <CLI/CLI.hpp>

namespace dare_analyze {

// Each subcommand file defines its add_* function; dare_analyze.cpp calls them in the order
// the paper's analyses come.

/// `widths`: accuracy against search cost (widths.cpp).
void add_widths(CLI::App& app);
/// `convergence`: validation AUC against training step, DARE against TWIN (convergence.cpp).
void add_convergence(CLI::App& app);
/// `conflict`: gradient conflict and domination in TWIN's shared table (conflict.cpp).
void add_conflict(CLI::App& app);
/// `retrieval`: NDCG of each model's search against the MI and the generator's truths (retrieval.cpp).
void add_retrieval(CLI::App& app);
/// `discriminability`: k-means on the head inputs of the test samples, MI with the labels
/// per k (examples/analyze/discriminability.cpp).
void add_discriminability(CLI::App& app);

}  // namespace dare_analyze
