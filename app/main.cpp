// seqenc: command-line parsing and dispatch only; the work lives in lib/.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <torch/torch.h>

#include "seqenc/attention.h"
#include "seqenc/positional_encoding.h"

int main(int argc, char** argv) {
  CLI::App app{"seqenc: self-attention, CNN and RNN sequence encoders (D2L 11.6), trained side by side"};
  app.require_subcommand(1);
  auto* shapes = app.add_subcommand("shapes", "Run the section's shape check and print a positional-encoding table");
  shapes->callback([] {
    torch::manual_seed(0);
    seqenc::MultiHeadAttention attention(100, 5, 0.5);
    auto X = torch::ones({2, 4, 100});
    auto Y = attention(X, X, X, torch::tensor({3, 2}));
    fmt::print("MultiHeadAttention(100, 5, 0.5) on ones(2, 4, 100), valid_lens [3, 2] -> ({}, {}, {})\n",
               Y.size(0), Y.size(1), Y.size(2));
    auto P = seqenc::sinusoidal_table(8, 32);
    fmt::print("Positional encoding P[i, 6:10], d = 32:\n");
    for (int64_t i = 0; i < 8; ++i)
      fmt::print("  i={}  {:+.4f} {:+.4f} {:+.4f} {:+.4f}\n", i, P[i][6].item<double>(),
                 P[i][7].item<double>(), P[i][8].item<double>(), P[i][9].item<double>());
  });
  CLI11_PARSE(app, argc, argv);
  return 0;
}
