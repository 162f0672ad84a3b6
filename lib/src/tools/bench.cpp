#include "seqenc/tools/bench.h"

#include <chrono>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "seqenc/nn/heads.h"
#include "seqenc/tools/measure.h"
#include "seqenc/train/trainer.h"

namespace seqenc {

BenchResult run_bench(const Config& config) {
  check_config(config, "configuration");
  const auto& b = config.bench;
  const auto device = resolve_device(config.train.device);
  torch::manual_seed(config.train.seed);
  auto options = encoder_options_for(config, b.vocab_size, false, std::max(b.seq_len, config.data.max_len));
  SequenceModel model(options, HeadOptions{HeadKind::tag, b.vocab_size, Pooling::mean});
  model->to(device);
  model->train();
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(config.train.lr));
  auto step = [&] {
    auto tokens = torch::randint(kNumSpecialTokens, b.vocab_size, {b.batch_size, b.seq_len}, torch::kLong).to(device);
    auto lens = torch::randint(b.seq_len / 2, b.seq_len + 1, {b.batch_size}, torch::kLong).to(device);
    auto labels = torch::randint(0, b.vocab_size, {b.batch_size, b.seq_len}, torch::kLong).to(device);
    labels.masked_fill_(valid_positions(lens, b.seq_len).logical_not(), kIgnoreLabel);
    auto out = model->labelled_logits(tokens, lens, labels);
    auto loss = task_loss(out.logits, out.labels);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (device.is_cuda()) loss.item<double>();  // wait for the GPU before reading the clock
  };
  for (int64_t i = 0; i < b.warmup; ++i) step();
  std::vector<double> ms;
  for (int64_t r = 0; r < b.repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < b.steps; ++i) step();
    const std::chrono::duration<double, std::milli> spent = std::chrono::steady_clock::now() - start;
    ms.push_back(spent.count() / static_cast<double>(b.steps));
  }
  BenchResult r;
  r.encoder = config.model.name;
  r.batch_size = b.batch_size;
  r.seq_len = b.seq_len;
  r.vocab_size = b.vocab_size;
  r.threads = torch::get_num_threads();
  r.parameters = model->encoder->num_parameters();
  r.ms_per_step = median(ms);
  r.tokens_per_s = static_cast<double>(b.batch_size * b.seq_len) / (r.ms_per_step / 1000.0);
  r.peak_rss_mb = peak_rss_mb();
  r.device = device.str();
  return r;
}

std::string bench_json(const BenchResult& r) {
  return nlohmann::json{{"encoder", r.encoder},           {"batch_size", r.batch_size},
                        {"seq_len", r.seq_len},           {"vocab_size", r.vocab_size},
                        {"threads", r.threads},           {"parameters", r.parameters},
                        {"tokens_per_s", r.tokens_per_s}, {"ms_per_step", r.ms_per_step},
                        {"peak_rss_mb", r.peak_rss_mb},   {"device", r.device}}
      .dump();
}

}  // namespace seqenc
