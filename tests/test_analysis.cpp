#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.h"
#include "seqenc/nn/encoder.h"
#include "seqenc/nn/sdpa_attention.h"
#include "seqenc/tools/analyze.h"
#include "seqenc/tools/measure.h"

using namespace seqenc;
using seqenc::test::run_seqenc;
using seqenc::test::slurp;
namespace fs = std::filesystem;

TEST_CASE("the log-log slope fit recovers known exponents", "[analysis]") {
  std::vector<double> x, quadratic, linear, noisy;
  for (double n = 16; n <= 4096; n *= 2) {
    x.push_back(n);
    quadratic.push_back(3.0 * n * n);
    linear.push_back(0.5 * n + 0.0);
    noisy.push_back(2.0 * std::pow(n, 1.5) * (1.0 + 0.01 * std::sin(n)));
  }
  CHECK(loglog_slope(x, quadratic) == Approx(2.0).margin(1e-12));
  CHECK(loglog_slope(x, linear) == Approx(1.0).margin(1e-12));
  CHECK(loglog_slope(x, noisy) == Approx(1.5).margin(0.01));
  CHECK_THROWS(loglog_slope({1.0}, {2.0}));
}

TEST_CASE("path lengths measured from gradients agree with the encoders' own numbers", "[analysis][path]") {
  const auto rows = measure_path_lengths({8, 16, 64}, 8);  // 64: a 63-layer CNN, deep enough to underflow float32
  REQUIRE(rows.size() == 18);
  for (const auto& m : rows) {
    INFO(m.variant << " n=" << m.n);
    CHECK(m.measured == m.reported);
    if (m.variant == "cnn k=3") CHECK(m.measured == m.n - 1);
    if (m.variant == "cnn k=5") CHECK(m.measured == (m.n - 1 + 1) / 2);
    if (m.variant == "cnn k=7") CHECK(m.reach_per_layer == 3);
    if (m.variant == "transformer") CHECK(m.measured == 1);
    if (m.variant == "rnn") CHECK(m.measured == m.n - 1);
  }
}

TEST_CASE("analyze at tiny sizes completes and writes every section", "[analysis][cli]") {
  auto dir = fs::temp_directory_path() / ("seqenc_analyze_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string command =
      "analyze --out " + dir.string() +
      " --set analyze.max_n=32 --set analyze.max_d=32 --set analyze.fixed_n=16 --set analyze.repeats=1"
      " --set analyze.max_path_n=16 --set train.steps=6 --set train.eval_every=3"
      " --set data.train_size=32 --set data.valid_size=8 --set data.test_size=8 --set train.threads=1"
      " --set analyze.recipes=false";  // section 7's 24 runs of 800 steps: docs/recipes.md has its output
  auto r = run_seqenc(command);
  REQUIRE(r.status == 0);
  const auto report = slurp(dir / "report.md");
  CHECK_THAT(report, Catch::Contains("## 7. Recipes") && Catch::Contains("Skipped (analyze.recipes: false)"));
  for (const char* heading : {"## 1. Cost", "## 2. Sequential operations", "## 3. Maximum path length",
                              "## 4. Learning over distance", "## 5. Positional encoding", "## 6. Attention weights"}) {
    CHECK_THAT(report, Catch::Contains(heading));
  }
  for (const char* png :
       {"cost_time_by_n.png", "cost_flops_by_n.png", "cost_time_by_d.png", "latency_by_n.png", "path_length.png",
        "pe_columns.png", "pe_heatmap.png", "attention_block0.png", "compare/accuracy_by_distance.png"}) {
    INFO(png);
    CHECK(fs::exists(dir / png));
  }
  CHECK(report.find("(differs)") == std::string::npos);
  auto again = run_seqenc("analyze --out " + dir.string());
  CHECK(again.status == 2);
  CHECK_THAT(again.err, Catch::Contains("already holds a report"));
  // Without its report the directory holds an analysis that stopped: the same command continues it, resuming the
  // comparison's runs (finished: evaluated again, not retrained); another configuration is refused.
  fs::remove(dir / "report.md");
  auto other = run_seqenc("analyze --out " + dir.string() + " --set analyze.recipes=false");
  CHECK(other.status == 2);
  CHECK_THAT(other.err, Catch::Contains("holds an unfinished analysis of another configuration"));
  auto continued = run_seqenc(command);
  CHECK(continued.status == 0);
  CHECK_THAT(continued.out + continued.err, Catch::Contains("continuing the analysis"));
  CHECK(fs::exists(dir / "report.md"));
  fs::remove_all(dir);
}

TEST_CASE("bench reports tokens/s, ms/step and peak memory as JSON", "[analysis][cli]") {
  for (const char* encoder : {"transformer", "cnn", "rnn"}) {
    INFO(encoder);
    auto r = run_seqenc(std::string("bench --json --set model.encoder=") + encoder +
                        " --set bench.batch_size=4 --set bench.seq_len=16 --set bench.vocab_size=50"
                        " --set bench.steps=2 --set bench.repeats=3 --set bench.warmup=1 --set train.threads=1");
    REQUIRE(r.status == 0);
    auto j = nlohmann::json::parse(r.out);
    CHECK(j["encoder"] == encoder);
    CHECK(j["tokens_per_s"].get<double>() > 0);
    CHECK(j["ms_per_step"].get<double>() > 0);
    CHECK(j["peak_rss_mb"].get<double>() > 0);
    CHECK(j["seq_len"] == 16);
  }
  auto bad = run_seqenc("bench --set bench.seq_len=1");
  CHECK(bad.status == 2);
  CHECK_THAT(bad.err, Catch::Contains("bench.seq_len"));
  auto sweep_syntax = run_seqenc("bench --set bench.seq_lens=64:x");
  CHECK(sweep_syntax.status == 2);
  CHECK_THAT(sweep_syntax.err, Catch::Contains("bench.seq_lens: '64:x' is not n or n:batch"));
}

TEST_CASE("a step's model FLOPs count attention over the keys each query keeps", "[analysis]") {
  seqenc::EncoderOptions o;
  o.name = "transformer";
  o.vocab_size = 16;
  o.num_hiddens = 8;
  o.num_heads = 2;
  o.ffn_num_hiddens = 16;
  o.num_layers = 1;
  o.max_len = 10;
  auto encoder = seqenc::make_encoder(o);
  CHECK(encoder->forward_flops(10, 10) == encoder->cost(10).flops);
  // 4 of 10 keys kept by every one of the 10 queries: 60 query-key pairs fewer, 2 products of 2 d FLOPs each.
  CHECK(encoder->forward_flops(10, 4) == encoder->cost(10).flops - 60 * 4 * 8);
  o.causal = true;
  auto causal = seqenc::make_encoder(o);
  // Query i keeps min(i + 1, 4) keys: 1 + 2 + 3 + 4 + 6 x 4 = 34 pairs of the 100.
  CHECK(causal->forward_flops(10, 4) == causal->cost(10).flops - (100 - 34) * 4 * 8);
  o.name = "cnn";
  auto cnn = seqenc::make_encoder(o);
  CHECK(cnn->forward_flops(10, 4) == cnn->cost(10).flops);  // a convolution computes padding too
}

TEST_CASE("bench sweeps n with auto's choice beside every forced one and times the fused kernel against sgemm",
          "[analysis][cli]") {
  auto r = run_seqenc(
      "bench --json --set bench.seq_lens=16:4,40:2 --set bench.reference_max_n=20 --set bench.vocab_size=50"
      " --set bench.steps=1 --set bench.repeats=1 --set bench.warmup=0 --set train.threads=1");
  REQUIRE(r.status == 0);
  std::map<std::string, std::vector<std::string>> rows;  // "16x4" -> what each row forced, "auto" for auto's
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line);
    const auto size =
        std::to_string(j["seq_len"].get<int64_t>()) + "x" + std::to_string(j["batch_size"].get<int64_t>());
    rows[size].push_back(j["forced"].get<std::string>().empty() ? "auto" : j["forced"].get<std::string>());
  }
  const std::string sdpa = seqenc::sdpa_available() ? "sdpa" : "";
  for (const auto& [size, kernels] : std::map<std::string, std::vector<std::string>>{
           {"16x4", {"fused", "reference", sdpa}}, {"40x2", {"fused", sdpa}}}) {
    INFO(size);
    REQUIRE(rows[size].size() >= 3);
    CHECK(rows[size].front() == "auto");  // auto's row first, then each forced choice
    for (const auto& kernel : kernels) {
      if (!kernel.empty()) CHECK(std::count(rows[size].begin(), rows[size].end(), "model.attention=" + kernel) == 1);
    }
    // The reference path only up to bench.reference_max_n; each route of the linears in every size.
    CHECK(std::count(rows[size].begin(), rows[size].end(), "model.attention=reference") == (size == "16x4" ? 1 : 0));
    CHECK(std::count(rows[size].begin(), rows[size].end(), "train.matmul=libtorch") == 1);
    CHECK(std::count(rows[size].begin(), rows[size].end(), "train.blas=libtorch") == 1);
  }
  auto first = nlohmann::json::parse(r.out.substr(0, r.out.find('\n')));
  CHECK(first["step_gflop"].get<double>() > 0);
  CHECK(first["sgemm_gflops"].get<double>() > 0);  // measured in the same run
  CHECK(first["sgemm_share"].get<double>() ==
        Approx(first["gflops"].get<double>() / first["sgemm_gflops"].get<double>()));
  auto table = run_seqenc(
      "bench --set bench.seq_lens=32:2 --set bench.kernel=true --set bench.vocab_size=50 --set bench.steps=1"
      " --set bench.repeats=1 --set bench.warmup=0 --set train.threads=1");
  REQUIRE(table.status == 0);
  CHECK_THAT(table.out, Catch::Contains("(auto)") && Catch::Contains("[model.attention=reference]") &&
                            Catch::Contains("kernels: attention ") && Catch::Contains("GFLOP/s through oneDNN") &&
                            Catch::Contains("2 x 4, 32, 16"));
  auto profile = run_seqenc(
      "bench --profile --set model.encoder=rnn --set bench.batch_size=2 --set bench.seq_len=8 --set bench.vocab_size=50"
      " --set bench.steps=1 --set bench.repeats=1 --set bench.warmup=0 --set train.threads=1");
  REQUIRE(profile.status == 0);
  CHECK_THAT(profile.out, Catch::Contains("top operators of a step") && Catch::Contains("aten::"));
}
