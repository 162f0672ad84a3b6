#include "seqenc/training.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "seqenc/batching.h"
#include "seqenc/text_files.h"

namespace seqenc {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
std::atomic<int> g_stop_signal{0};

void on_stop_signal(int signal) {
  if (g_stop_signal.exchange(signal) != 0) {  // second signal: stop now
    std::signal(signal, SIG_DFL);
    std::raise(signal);
  }
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const auto total = static_cast<int64_t>(s + 0.5);
  if (total >= 3600) return fmt::format("{}h{:02}m", total / 3600, (total / 60) % 60);
  if (total >= 60) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}s", total);
}

// A live one-line progress bar on a terminal; nothing otherwise.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}
  void update(int64_t step, int64_t total, double loss, double tokens_per_s, double eta_s) {
    if (!enabled_) return;
    const double t = now_s();
    if (t - last_ < 0.1 && step < total) return;
    last_ = t;
    const int width = 30;
    const int filled = total > 0 ? static_cast<int>(width * step / total) : 0;
    fmt::print(stderr, "\r\033[K[{}{}] step {}/{}  loss {:.4f}  {:.0f} tok/s  ETA {}",
               std::string(static_cast<size_t>(filled), '#'), std::string(static_cast<size_t>(width - filled), '.'),
               step, total, loss, tokens_per_s, format_duration(eta_s));
    std::fflush(stderr);
    shown_ = true;
  }
  void clear() {
    if (shown_) fmt::print(stderr, "\r\033[K");
    shown_ = false;
  }
  bool enabled() const { return enabled_; }

 private:
  bool enabled_, shown_ = false;
  double last_ = 0;
};

std::shared_ptr<spdlog::logger> make_logger(const std::string& run_dir, bool quiet) {
  std::vector<spdlog::sink_ptr> sinks;
  if (!quiet) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>((fs::path(run_dir) / "train.log").string()));
  auto logger = std::make_shared<spdlog::logger>("seqenc", sinks.begin(), sinks.end());
  logger->set_pattern("[%Y-%m-%d %H:%M:%S] %v");
  logger->flush_on(spdlog::level::info);
  return logger;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& t, const std::vector<torch::Tensor>& params) {
  if (t.optimizer == "adamw")
    return std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(t.lr).weight_decay(t.weight_decay));
  if (t.optimizer == "sgd")
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(t.lr).momentum(0.9).weight_decay(t.weight_decay));
  return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(t.lr).weight_decay(t.weight_decay));
}

// Keeps metrics.jsonl consistent with a resumed checkpoint: lines after its step are dropped.
void truncate_metrics(const fs::path& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::vector<std::string> kept;
  std::string line;
  while (std::getline(in, line)) {
    try {
      if (json::parse(line).value("step", int64_t{0}) <= step) kept.push_back(line);
    } catch (const json::exception&) {
      // a line cut short by a kill: drop it
    }
  }
  in.close();
  std::ofstream out(path, std::ios::trunc);
  for (const auto& l : kept) out << l << '\n';
}

json eval_json(const EvalResult& r, const std::string& group_name) {
  json j = {{"loss", r.loss}, {"accuracy", r.accuracy}, {"examples", r.examples}, {"labels", r.labels}};
  if (!r.by_group.empty() && !group_name.empty()) {
    json groups = json::object();
    for (const auto& [g, ct] : r.by_group)
      groups[std::to_string(g)] = ct.second > 0 ? static_cast<double>(ct.first) / ct.second : 0.0;
    j["accuracy_by_" + group_name] = groups;
  }
  return j;
}
}  // namespace

void install_stop_handlers() {
  g_stop_signal = 0;
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

int pending_stop_signal() { return g_stop_signal.load(); }

double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

void reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  if (clear) clear << "5";  // resets VmHWM to the current RSS (Linux >= 4.0)
}

torch::Tensor task_loss(const torch::Tensor& logits, const torch::Tensor& labels, double label_smoothing) {
  const auto C = logits.size(-1);
  auto flat_labels = labels.reshape({-1});
  if (flat_labels.numel() == 0) return logits.sum() * 0;  // nothing to learn in this batch
  namespace F = torch::nn::functional;
  return F::cross_entropy(logits.reshape({-1, C}), flat_labels,
                          F::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel).label_smoothing(label_smoothing));
}

EvalResult evaluate(SequenceModelImpl& model, const Dataset& data, int64_t batch_size, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  model.eval();
  EvalResult r;
  Batcher batcher(data, batch_size, false, 0);
  double loss_sum = 0;
  int64_t correct = 0;
  namespace F = torch::nn::functional;
  for (const auto& indices : batcher.epoch(0)) {
    auto batch = batcher.collate(indices);
    auto out = model.labelled_logits(batch.tokens.to(device), batch.valid_lens.to(device), batch.labels.to(device));
    r.examples += static_cast<int64_t>(indices.size());
    if (out.labels.numel() == 0) continue;
    loss_sum += F::cross_entropy(out.logits, out.labels, F::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    auto hits = out.logits.argmax(-1).eq(out.labels).cpu();
    correct += hits.sum().item<int64_t>();
    r.labels += out.labels.numel();
    auto groups = batch.groups.masked_select(out.mask.cpu());
    if (groups.ge(0).any().item<bool>()) {
      auto ga = groups.accessor<int64_t, 1>();
      auto ha = hits.accessor<bool, 1>();
      for (int64_t i = 0; i < groups.size(0); ++i) {
        if (ga[i] < 0) continue;
        auto& [c, total] = r.by_group[ga[i]];
        c += ha[i] ? 1 : 0;
        ++total;
      }
    }
  }
  if (r.labels > 0) {
    r.loss = loss_sum / static_cast<double>(r.labels);
    r.accuracy = static_cast<double>(correct) / static_cast<double>(r.labels);
  }
  return r;
}

SequenceModel build_model(const Config& config, const TaskData& task) {
  const bool cls = task.head == "classify" && config.pooling == "cls";
  // From the configuration, not the data: every split is truncated to data.max_len, and a run reloaded
  // for eval or export (which loads only its test split) must rebuild exactly the same shapes.
  const int64_t max_len = config.data.max_len + (cls ? 1 : 0);
  auto encoder = encoder_options_for(config, task.vocab.size(), task.causal, max_len);
  HeadOptions head{task.head, task.num_classes(), config.pooling};
  return SequenceModel(encoder, head);
}

double scheduled_lr(const TrainOptions& t, int64_t step, int64_t total_steps) {
  const double s = static_cast<double>(step + 1), warmup = static_cast<double>(t.warmup);
  if (t.schedule == "warmup_inverse_sqrt") return t.lr * std::min(s / warmup, std::sqrt(warmup / s));
  if (t.warmup > 0 && s <= warmup) return t.lr * s / warmup;
  if (t.schedule == "cosine") {
    const double span = std::max(1.0, static_cast<double>(total_steps) - warmup);
    const double progress = std::min(1.0, (s - warmup) / span);
    return t.lr * 0.5 * (1 + std::cos(M_PI * progress));
  }
  return t.lr;
}

torch::Device resolve_device(const std::string& device) {
  if (device == "cpu") return torch::kCPU;
  const bool cuda = torch::cuda::is_available();
  if (device == "cuda" && !cuda) throw ConfigError("train.device: cuda requested but CUDA is not available here");
  if (device == "cuda" || (device == "auto" && cuda)) return torch::kCUDA;
  if (device == "auto") return torch::kCPU;
  throw ConfigError("train.device: '" + device + "' is not one of cpu, cuda, auto");
}

TrainOutcome train(const Config& config, const std::string& run_dir, bool resume, const TrainControl& control) {
  check(config, "configuration");
  const auto& t = config.train;
  const fs::path dir(run_dir);
  const fs::path last_path = dir / "checkpoint_last.pt", best_path = dir / "checkpoint_best.pt";
  if (resume && !fs::exists(last_path)) {
    throw ConfigError(run_dir + ": no checkpoint_last.pt to resume from");
  }
  if (!resume && fs::exists(last_path)) {
    throw ConfigError(run_dir + " already holds a run; pass --resume to continue it, or choose another --run-dir");
  }
  const auto device = resolve_device(t.device);
  if (t.threads > 0) torch::set_num_threads(static_cast<int>(t.threads));

  TaskData task = load_task(config.data);  // data errors surface before anything is written
  fs::create_directories(dir);
  auto log = make_logger(run_dir, control.quiet);
  save_config(config, (dir / "config.yaml").string());
  task.vocab.save((dir / "vocab.txt").string());
  save_lines((dir / "labels.txt").string(), task.label_names);

  torch::manual_seed(t.seed);
  auto model = build_model(config, task);
  model->to(device);
  auto optimizer = make_optimizer(t, model->parameters());

  Batcher batcher(task.train, t.batch_size, true, t.seed, t.bucket);
  const int64_t batches_per_epoch = batcher.num_batches();
  const int64_t total_steps = t.steps > 0 ? t.steps : t.epochs * batches_per_epoch;

  TrainingState state;
  if (resume) {
    state = load_checkpoint(last_path.string(), *model, optimizer.get());
    truncate_metrics(dir / "metrics.jsonl", state.step);
    log->info("resumed {} at step {} (epoch {}, batch {})", run_dir, state.step, state.epoch, state.batch_in_epoch);
  }
  std::ofstream metrics(dir / "metrics.jsonl", std::ios::app);

  TrainOutcome out;
  out.run_dir = run_dir;
  out.parameters = model->encoder->num_parameters();
  out.seq_len = task.max_length();
  out.cost = model->encoder->cost(out.seq_len);
  log->info("{}: {} encoder, {} parameters, {} head over {} classes, {} training examples, {} steps on {}",
            run_dir, config.model.name, out.parameters, task.head, task.num_classes(), task.train.size(),
            total_steps, device.str());

  reset_peak_rss();
  Progress progress(!control.quiet);
  auto say = [&](const std::string& line) {
    progress.clear();
    log->info(line);
  };
  const double session_start = now_s();
  double eval_time = 0;
  const int64_t tokens_at_start = state.tokens_seen, step_at_start = state.step;
  auto train_elapsed = [&] { return state.elapsed_s + (now_s() - session_start - eval_time); };
  auto write = [&](const json& j) {
    metrics << j.dump() << '\n';
    metrics.flush();
  };
  int64_t last_saved_step = resume ? state.step : -1;
  auto save_last = [&] {
    save_checkpoint(last_path.string(), *model, optimizer.get(), state);
    last_saved_step = state.step;
  };

  auto run_validation = [&] {
    const double start = now_s();
    auto r = evaluate(*model, task.valid, t.batch_size, device);
    model->train();
    eval_time += now_s() - start;
    json j = {{"step", state.step}, {"epoch", state.epoch}, {"split", "valid"}, {"elapsed_s", train_elapsed()}};
    j.update(eval_json(r, task.group_name));
    write(j);
    const bool improved = r.accuracy > state.best_metric;
    if (improved) {
      state.best_metric = r.accuracy;
      state.best_step = state.step;
      state.evals_without_improvement = 0;
    } else {
      ++state.evals_without_improvement;
    }
    say(fmt::format("step {} valid loss {:.4f} accuracy {:.4f}{}", state.step, r.loss, r.accuracy,
                    improved ? " (best)" : ""));
    if (improved) save_checkpoint(best_path.string(), *model, nullptr, state);
    save_last();
  };

  std::vector<std::vector<int64_t>> order;
  int64_t order_epoch = -1;
  model->train();
  out.stop_reason = "completed";
  while (state.step < total_steps) {
    if (order_epoch != state.epoch) {
      order = batcher.epoch(state.epoch);
      order_epoch = state.epoch;
    }
    auto batch = batcher.collate(order[static_cast<size_t>(state.batch_in_epoch)]);
    const double lr = scheduled_lr(t, state.step, total_steps);
    for (auto& group : optimizer->param_groups()) group.options().set_lr(lr);

    auto labelled = model->labelled_logits(batch.tokens.to(device), batch.valid_lens.to(device),
                                           batch.labels.to(device));
    auto loss = task_loss(labelled.logits, labelled.labels, t.label_smoothing);
    const double loss_value = loss.item<double>();
    if (!std::isfinite(loss_value)) {
      progress.clear();
      log->error("non-finite loss ({}) at step {}; stopped. {}. Try a lower train.lr or train.clip_norm > 0",
                 loss_value, state.step + 1,
                 last_saved_step >= 0 ? fmt::format("The last good checkpoint (step {}) is kept", last_saved_step)
                                      : std::string("No checkpoint had been saved yet"));
      out.exit_code = 1;
      out.stop_reason = "non_finite_loss";
      out.state = state;
      return out;
    }
    optimizer->zero_grad();
    loss.backward();
    if (t.clip_norm > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), t.clip_norm);
    optimizer->step();

    ++state.step;
    state.tokens_seen += batch.num_tokens;
    if (++state.batch_in_epoch >= batches_per_epoch) {
      state.batch_in_epoch = 0;
      ++state.epoch;
    }
    state.window_loss += loss_value;
    ++state.window_steps;

    const double elapsed = train_elapsed();
    const double session_train_s = std::max(1e-9, elapsed - state.elapsed_s);
    const double tokens_per_s = static_cast<double>(state.tokens_seen - tokens_at_start) / session_train_s;
    const double eta = (session_train_s / static_cast<double>(state.step - step_at_start)) *
                       static_cast<double>(total_steps - state.step);
    progress.update(state.step, total_steps, loss_value, tokens_per_s, eta);

    if (state.step % t.log_every == 0 || state.step == total_steps) {
      out.train_loss = state.window_loss / static_cast<double>(state.window_steps);
      write({{"step", state.step}, {"epoch", state.epoch}, {"split", "train"}, {"loss", out.train_loss},
             {"lr", lr}, {"tokens_per_s", tokens_per_s}, {"elapsed_s", elapsed}});
      if (!progress.enabled()) {
        say(fmt::format("step {}/{} loss {:.4f} lr {:.2e} {:.0f} tok/s", state.step, total_steps, out.train_loss,
                        lr, tokens_per_s));
      }
      state.window_loss = 0;
      state.window_steps = 0;
    }
    const bool at_end = state.step == total_steps;
    if (state.step % t.eval_every == 0 || at_end) {
      const double saved_elapsed = state.elapsed_s;
      state.elapsed_s = train_elapsed();  // what the checkpoint records
      run_validation();
      state.elapsed_s = saved_elapsed;
      if (t.early_stopping > 0 && state.evals_without_improvement >= t.early_stopping) {
        say(fmt::format("early stopping at step {}: no improvement in {} validations", state.step,
                        t.early_stopping));
        out.stop_reason = "early_stopping";
        break;
      }
    }
    if (const int sig = pending_stop_signal()) {
      state.elapsed_s = train_elapsed();
      save_last();
      progress.clear();
      log->warn("stopped by {} at step {}; checkpoint saved. Resume with: seqenc train --config {}/config.yaml "
                "--run-dir {} --resume",
                sig == SIGINT ? "Ctrl-C" : "SIGTERM", state.step, run_dir, run_dir);
      out.exit_code = 128 + sig;
      out.stop_reason = "interrupted";
      out.state = state;
      return out;
    }
    if (control.stop_after_step >= 0 && state.step >= control.stop_after_step && !at_end) {
      state.elapsed_s = train_elapsed();
      save_last();
      out.stop_reason = "stopped";
      out.state = state;
      return out;
    }
  }
  progress.clear();
  state.elapsed_s = train_elapsed();
  out.wall_s = state.elapsed_s;
  out.tokens_per_s = static_cast<double>(state.tokens_seen) / std::max(1e-9, state.elapsed_s);
  out.peak_rss_mb = peak_rss_mb();
  out.state = state;

  // Final metrics come from the best checkpoint.
  if (fs::exists(best_path)) load_checkpoint(best_path.string(), *model, nullptr);
  out.valid = evaluate(*model, task.valid, t.batch_size, device);
  out.test = evaluate(*model, task.test, t.batch_size, device);
  json result = {{"encoder", config.model.name},
                 {"task", config.data.task},
                 {"stop_reason", out.stop_reason},
                 {"steps", state.step},
                 {"epochs", state.epoch},
                 {"best_step", state.best_step},
                 {"parameters", out.parameters},
                 {"seq_len", out.seq_len},
                 {"flops_per_token", out.cost.flops / static_cast<double>(std::max<int64_t>(1, out.seq_len))},
                 {"sequential_steps", out.cost.sequential_steps},
                 {"max_path_length", out.cost.max_path_length},
                 {"reach_before", out.cost.reach_before},
                 {"reach_after", out.cost.reach_after},
                 {"connects_all", out.cost.connects_all},
                 {"train_wall_s", out.wall_s},
                 {"tokens_per_s", out.tokens_per_s},
                 {"peak_rss_mb", out.peak_rss_mb},
                 {"train_loss", out.train_loss},
                 {"valid", eval_json(out.valid, task.group_name)},
                 {"test", eval_json(out.test, task.group_name)}};
  std::ofstream(dir / "result.json") << result.dump(2) << '\n';
  log->info("done: {} steps in {}, {:.0f} tok/s, best valid accuracy {:.4f} (step {}), test accuracy {:.4f}",
            state.step, format_duration(out.wall_s), out.tokens_per_s, out.valid.accuracy, state.best_step,
            out.test.accuracy);
  return out;
}

LoadedRun load_run(const std::string& run_dir, const std::string& checkpoint) {
  const fs::path dir(run_dir);
  if (!fs::is_directory(dir)) throw ConfigError(run_dir + ": no such run directory");
  if (checkpoint != "best" && checkpoint != "last") {
    throw ConfigError("--checkpoint: '" + checkpoint + "' is not one of best, last");
  }
  const fs::path config_path = dir / "config.yaml";
  if (!fs::exists(config_path)) throw ConfigError(run_dir + ": no config.yaml; is this a seqenc run directory?");
  LoadedRun run;
  run.config = load_config(config_path.string());
  const auto& d = run.config.data;
  if (is_synthetic_task(d.task)) {
    run.task = load_task(d);  // regenerated exactly from the seed
  } else {
    for (const char* f : {"vocab.txt", "labels.txt"}) {
      if (!fs::exists(dir / f)) throw ConfigError(run_dir + ": missing " + f);
    }
    run.task.task = d.task;
    run.task.head = head_for_format(d.task);
    run.task.causal = d.task == "text_lm";
    run.task.vocab = Vocabulary::load((dir / "vocab.txt").string());
    run.task.label_names = load_lines((dir / "labels.txt").string());
    const bool single_file = d.valid.empty() && d.test.empty();
    run.task.test = single_file ? read_file(d.train, d, run.task.vocab, run.task.label_names, true, 2)
                                : read_file(d.test, d, run.task.vocab, run.task.label_names, true);
  }
  const fs::path ckpt = dir / ("checkpoint_" + checkpoint + ".pt");
  if (!fs::exists(ckpt)) throw CheckpointError(run_dir + ": no checkpoint_" + checkpoint + ".pt; train the run first");
  // The model's shape depends on max_len, which the run took from its data; the test split gives a lower bound.
  run.model = build_model(run.config, run.task);
  run.state = load_checkpoint(ckpt.string(), *run.model, nullptr);
  run.model->eval();
  return run;
}

EvalResult evaluate_run(LoadedRun& run, const std::string& data_file) {
  const auto device = resolve_device(run.config.train.device);
  run.model->to(device);
  if (data_file.empty()) return evaluate(*run.model, run.task.test, run.config.train.batch_size, device);
  if (is_synthetic_task(run.config.data.task)) {
    throw ConfigError("--data: task " + run.config.data.task + " is synthetic; it has no data files");
  }
  auto data = read_file(data_file, run.config.data, run.task.vocab, run.task.label_names, true);
  return evaluate(*run.model, data, run.config.train.batch_size, device);
}

std::string eval_result_json(const EvalResult& result, const std::string& group_name) {
  return eval_json(result, group_name).dump();
}

}  // namespace seqenc
