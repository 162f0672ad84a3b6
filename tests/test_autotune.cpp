// Kernels chosen by measurement (nn/autotune.h): forced keys are kept, measured choices are cached per machine and
// reused, a damaged cache is ignored with a warning, a resumed run computes with what it chose first, and choosing
// leaves the random stream alone.
#include <catch2/catch.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "cli.h"
#include "helpers.h"
#include "seqenc/nn/autotune.h"
#include "seqenc/nn/linear.h"
#include "seqenc/nn/matmul_route.h"
#include "seqenc/train/trainer.h"

using namespace seqenc;
using seqenc::test::fresh_dir;
namespace fs = std::filesystem;

namespace {
TuningShape small_shape() {
  TuningShape s;
  s.batch = 4;
  s.n = 16;
  s.num_hiddens = 16;
  s.num_heads = 2;
  s.ffn_num_hiddens = 32;
  s.dropout = 0.1;
  return s;
}

TuningContext measuring(const fs::path& cache) {
  TuningContext c;
  c.measure = true;
  c.cache_path = cache.string();
  return c;
}
}  // namespace

TEST_CASE("autotune: forced choices are kept, and without measuring auto takes the fixed defaults", "[autotune]") {
  const auto cache = fresh_dir("forced_cache") / "kernels.json";
  auto forced = plan_kernels(small_shape(), {AttentionKernel::reference, MatmulRoute::libtorch, BlasChoice::libtorch},
                             measuring(cache));
  CHECK(forced.attention == AttentionKernel::reference);
  CHECK(forced.matmul == MatmulRoute::libtorch);
  CHECK(forced.blas == BlasChoice::libtorch);
  CHECK(forced.timings.empty());
  CHECK_FALSE(fs::exists(cache));  // nothing measured, nothing cached
  auto fixed = plan_kernels(small_shape(), {}, TuningContext{});
  CHECK(fixed.attention == AttentionKernel::fused);
  CHECK(fixed.matmul == MatmulRoute::onednn);
  CHECK(fixed.how == "default");
  auto relative = small_shape();
  relative.relative = true;
  CHECK(plan_kernels(relative, {}, measuring(cache)).attention == AttentionKernel::reference);
}

TEST_CASE("autotune: a measured choice is cached for this machine and reused", "[autotune]") {
  const auto dir = fresh_dir("autotune_cache");
  const auto cache = dir / "kernels.json";
  auto first = plan_kernels(small_shape(), {}, measuring(cache));
  REQUIRE(first.timings.size() == 2);  // attention and matmul (no program sgemm_ switch here: blas fixed)
  CHECK_THAT(first.timings[0], Catch::StartsWith("attention: fused ") && Catch::Contains(" reference "));
  CHECK_THAT(first.how, Catch::Contains(machine_key()));
  const auto saved = nlohmann::json::parse(seqenc::test::slurp(cache));
  CHECK(saved["format"] == "seqenc-kernels-1");
  CHECK(saved["entries"].size() == 2);
  auto second = plan_kernels(small_shape(), {}, measuring(cache));
  CHECK(second.attention == first.attention);
  CHECK(second.matmul == first.matmul);
  // Every choice from the cache (a lookup that kept its lock made the next one wait a minute, then measure again).
  for (const auto& line : second.timings) CHECK_THAT(line, Catch::EndsWith("(cached)"));
  fs::remove_all(dir);
}

TEST_CASE("autotune: a damaged cache is ignored with a warning naming it, and written anew", "[autotune]") {
  const auto dir = fresh_dir("damaged_cache");
  fs::create_directories(dir);
  const auto cache = dir / "kernels.json";
  std::ofstream(cache) << "{not json";
  std::vector<std::string> warnings;
  auto plan = plan_kernels(small_shape(), {}, measuring(cache), &warnings);
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::Contains(cache.string() + ": damaged") && Catch::Contains("measured again"));
  CHECK(nlohmann::json::parse(seqenc::test::slurp(cache))["entries"].size() == 2);
  CHECK(plan.timings.size() == 2);
  fs::remove_all(dir);
}

TEST_CASE("autotune: choosing leaves the default random stream as it was", "[autotune]") {
  torch::manual_seed(5);
  const auto before = torch::rand({4});
  torch::manual_seed(5);
  plan_kernels(small_shape(), {}, measuring(fresh_dir("rng_cache") / "kernels.json"));
  CHECK(torch::equal(torch::rand({4}), before));
}

TEST_CASE("autotune: seqenc's linears give the same results on either route", "[autotune][linear]") {
  torch::manual_seed(2);
  auto x = torch::randn({37, 24}).requires_grad_(true), w = torch::randn({19, 24}).requires_grad_(true);
  auto b = torch::randn({19}).requires_grad_(true);
  auto grads = [&](MatmulRoute route) {
    MatmulScope scope(route);
    auto y = linear(x, w, b);
    auto gx = torch::autograd::grad({(y * y).sum()}, {x, w, b});
    return std::vector<torch::Tensor>{y.detach(), gx[0], gx[1], gx[2]};
  };
  const auto onednn = grads(MatmulRoute::onednn), libtorch = grads(MatmulRoute::libtorch);
  for (size_t i = 0; i < onednn.size(); ++i) CHECK(seqenc::test::rel_diff(onednn[i], libtorch[i]) < 1e-5);
  CHECK(matmul_route() == MatmulRoute::onednn);  // the scopes are gone
}

TEST_CASE("autotune: a run records its kernels, and a resumed run computes with them again", "[autotune][resume]") {
  const auto dir = fresh_dir("kernels_run");
  const auto cache = fresh_dir("kernels_run_cache") / "kernels.json";
  auto config = load_config("", {"model.num_hiddens=16", "model.num_heads=2", "model.ffn_num_hiddens=32",
                                 "data.train_size=64", "data.valid_size=16", "data.test_size=16", "train.steps=4",
                                 "train.eval_every=2", "train.batch_size=8", "train.threads=1"});
  auto control = seqenc::test::quietly();
  control.tuning = measuring(cache);
  control.stop_after_step = 2;
  train(config, dir.string(), false, control);
  auto recorded = KernelPlan::from_json(seqenc::test::slurp(dir / "kernels.json"));
  REQUIRE(recorded);
  // The record says reference (as another machine might have chosen): the resumed run keeps it.
  auto edited = nlohmann::json::parse(recorded->to_json());
  edited["attention"] = "reference";
  std::ofstream(dir / "kernels.json") << edited.dump();
  control.stop_after_step = -1;
  auto outcome = train(config, dir.string(), true, control);
  CHECK(outcome.kernels.attention == AttentionKernel::reference);
  const auto result = nlohmann::json::parse(seqenc::test::slurp(dir / "result.json"));
  CHECK(result["kernels"]["attention"] == "reference");
  fs::remove_all(dir);
}
