// dare_analyze — the DARE paper's analyses as subcommands, on any log or dataset the trainer
// reads (docs/analyses.md: what each one computes, its figures for the built-in synthetic
// log and the commands that made them).
//
//   dare_analyze SUBCOMMAND --help
//
// Every subcommand writes its figures as CSV (--out) for scripts/plot_analyses.py and prints
// a summary. Errors name the file, line and field, and exit with status 1; a usage error
// exits with status 2.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "analyze/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"The DARE paper's analyses: accuracy against search cost, convergence, gradient conflict, "
               "retrieval quality and representation discriminability"};
  app.require_subcommand(1);
  // Each add_* registers one subcommand, which runs from its callback during parse.
  dare_analyze::add_widths(app);
  dare_analyze::add_convergence(app);
  dare_analyze::add_conflict(app);
  dare_analyze::add_retrieval(app);
  dare_analyze::add_discriminability(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dare_analyze: %s\n", e.what());
    return 1;
  }
  return 0;
}
