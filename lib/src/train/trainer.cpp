#include "seqenc/train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "json.h"
#include "seqenc/files.h"
#include "seqenc/train/run_dir.h"

namespace seqenc {

namespace {

using json = nlohmann::json;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

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

// The console (unless quiet) and, for the writing rank, train.log.
std::shared_ptr<spdlog::logger> make_logger(const RunDir& dir, bool quiet, const Rank& rank) {
  std::vector<spdlog::sink_ptr> sinks;
  if (!quiet) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (dir.writer())
    sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(dir.file("train.log").string()));
  auto logger = std::make_shared<spdlog::logger>("seqenc", sinks.begin(), sinks.end());
  logger->set_pattern(rank.world_size > 1 ? fmt::format("[%Y-%m-%d %H:%M:%S] [rank {}] %v", rank.rank)
                                          : std::string("[%Y-%m-%d %H:%M:%S] %v"));
  logger->flush_on(spdlog::level::info);
  return logger;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& t,
                                                        const std::vector<torch::Tensor>& params) {
  switch (t.optimizer) {
    case OptimizerKind::adamw:
      return std::make_unique<torch::optim::AdamW>(params,
                                                   torch::optim::AdamWOptions(t.lr).weight_decay(t.weight_decay));
    case OptimizerKind::sgd:
      return std::make_unique<torch::optim::SGD>(
          params, torch::optim::SGDOptions(t.lr).momentum(0.9).weight_decay(t.weight_decay));
    case OptimizerKind::adam:
      break;
  }
  return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(t.lr).weight_decay(t.weight_decay));
}

torch::Device device_for(const TrainOptions& t) {
  const auto device = resolve_device(t.device);
  check_precision(t.precision, device);
  return device;
}

TaskData load_checked_task(const Config& config) {
  check_config(config, "configuration");
  return load_task(config.data);
}

}  // namespace

struct Trainer::Impl {
  Impl(const Config& c, const std::string& run_dir, bool resume, TrainControl ctl, Rank r)
      : config(c),
        t(config.train),
        dir(run_dir, r.writes()),
        control(std::move(ctl)),
        rank(r),
        task((dir.check_can_start(resume, "continue it"), load_checked_task(config))),
        device(device_for(t)),
        batcher(task.train, global_batch(), true, t.seed, t.bucket),
        total_steps(t.steps > 0 ? t.steps : t.epochs * batcher.num_batches()),
        progress(!control.quiet && dir.writer()) {}

  // Examples per optimizer step, all ranks and micro-batches together.
  int64_t global_batch() const { return t.batch_size * rank.world_size * t.accumulate_steps; }
  std::string global_batch_text() const {
    std::string text = fmt::format("global batch {} = train.batch_size {}", global_batch(), t.batch_size);
    if (rank.world_size > 1) text += fmt::format(" x {} ranks", rank.world_size);
    if (t.accumulate_steps > 1) text += fmt::format(" x {} train.accumulate_steps", t.accumulate_steps);
    return text;
  }
  // Time spent training, checkpoints' earlier sessions included and validation excluded.
  double train_elapsed() const { return state.elapsed_s + (now_s() - session_start - eval_time); }
  // The state as a checkpoint records it.
  TrainingState snapshot() const {
    TrainingState s = state;
    s.elapsed_s = train_elapsed();
    s.world_size = rank.world_size;
    s.global_batch_size = global_batch();
    return s;
  }
  void say(const std::string& line) {
    progress.clear();
    log->info(line);
  }

  // The mean loss of one micro-batch over its labels.
  torch::Tensor micro_loss(const Batch& batch) {
    PrecisionScope precision(t.precision);  // the forward only: backward follows what the forward recorded
    auto labelled =
        model->labelled_logits(batch.tokens.to(device), batch.valid_lens.to(device), batch.labels.to(device));
    return task_loss(labelled.logits, labelled.labels, t.label_smoothing);
  }

  // Backward of a weighted micro-batch loss. The last of a step reduces over ranks (during backward through the
  // Reducer, or after it), and so the global loss, loss_sum (this rank's weighted losses) summed over ranks.
  void backward(const torch::Tensor& loss, bool last, double loss_sum) {
    if (!rank.group) {
      loss.backward();
      last_loss = loss_sum;
      return;
    }
    auto scalars = torch::tensor({loss_sum}, torch::kFloat64);
    if (reducer) {
      reducer->backward(loss, last, last ? scalars : torch::Tensor());
    } else {
      loss.backward();
      if (!last) return;
      std::vector<torch::Tensor> tensors;
      for (auto& p : model->parameters()) {
        if (p.grad().defined()) tensors.push_back(p.grad());
      }
      tensors.push_back(scalars);
      rank.group->allreduce_sum(tensors, bucket_bytes());
    }
    if (last) last_loss = scalars.item<double>();
  }

  int64_t bucket_bytes() const { return static_cast<int64_t>(t.dist_bucket_mb * (1 << 20)); }

  // Every rank starts from rank 0's parameters (then dropout draws differ between ranks), and with
  // train.dist_overlap reduces gradients through a Reducer hooked to them.
  void join_ranks() {
    auto tensors = model->parameters();
    for (const auto& b : model->buffers()) tensors.push_back(b);
    rank.group->broadcast(tensors);
    torch::manual_seed(t.seed + 1000003ull * static_cast<uint64_t>(rank.rank) + static_cast<uint64_t>(state.step));
    if (t.dist_overlap) reducer = std::make_unique<GradientReducer>(*rank.group, model->parameters(), bucket_bytes());
    log->info("rank {} of {}: {}; gradients reduced {}", rank.rank, rank.world_size, global_batch_text(),
              reducer
                  ? fmt::format("during backward, {} bucket(s) of <= {} MB", reducer->num_buckets(), t.dist_bucket_mb)
                  : std::string("after backward (train.dist_overlap: false)"));
  }

  const Config config;
  const TrainOptions& t;
  RunDir dir;
  TrainControl control;
  Rank rank;
  TaskData task;  // before the device: configuration and data problems are reported first
  torch::Device device;
  Batcher batcher;
  int64_t total_steps;
  Progress progress;
  std::shared_ptr<spdlog::logger> log;
  SequenceModel model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<GradientReducer> reducer;  // train.dist_overlap with several ranks
  TrainingState state;
  std::vector<std::vector<int64_t>> order;
  int64_t order_epoch = -1;
  int64_t last_saved_step = -1;
  double session_start = 0, eval_time = 0, lr = 0, train_loss = 0, last_loss = 0;
  int64_t tokens_at_start = 0, step_at_start = 0;
  std::string stop_cause;
  FileLock lock;  // held while the Trainer lives: one writer per run directory
};

namespace {

// The i-th of n contiguous shares of v (empty when v has fewer than n elements).
std::vector<int64_t> share(const std::vector<int64_t>& v, int64_t i, int64_t n) {
  const auto size = static_cast<int64_t>(v.size());
  return std::vector<int64_t>(v.begin() + size * i / n, v.begin() + size * (i + 1) / n);
}

int64_t count_labels(const Batch& batch) { return batch.labels.ne(kIgnoreLabel).sum().item<int64_t>(); }

// Rank r's contiguous share of a global batch, cut into accumulate_steps micro-batches, each weighted by its labels
// over the global batch's. An empty micro-batch gets the global batch's first example with weight 0.
StepData step_data(const Batcher& batcher, const std::vector<int64_t>& global, const Rank& rank, int64_t accumulate) {
  StepData step;
  const auto whole = batcher.collate(global);
  step.global_tokens = whole.num_tokens;
  if (rank.world_size == 1 && accumulate == 1) {
    step.micro_batches = {whole};
    step.weights = {1.0};
    return step;
  }
  const auto total = static_cast<double>(count_labels(whole));
  const auto mine = share(global, rank.rank, rank.world_size);
  for (int64_t a = 0; a < accumulate; ++a) {
    const auto ids = share(mine, a, accumulate);
    step.micro_batches.push_back(batcher.collate(ids.empty() ? std::vector<int64_t>{global.front()} : ids));
    const auto labels = ids.empty() ? 0 : count_labels(step.micro_batches.back());
    step.weights.push_back(total > 0 ? static_cast<double>(labels) / total : 0.0);
  }
  return step;
}

// A checkpoint's place in its epoch, in global batches of this run: the same examples seen when the global batch
// (train.batch_size x world size) changed, rounded down to a whole batch. "" when nothing changed.
std::string convert_position(TrainingState& s, int64_t global_batch, int64_t batches_per_epoch) {
  if (s.global_batch_size <= 0 || s.global_batch_size == global_batch) return "";
  const int64_t examples = s.batch_in_epoch * s.global_batch_size;
  s.batch_in_epoch = examples / global_batch;
  if (s.batch_in_epoch >= batches_per_epoch) {
    s.batch_in_epoch = 0;
    ++s.epoch;
  }
  return fmt::format(
      "the checkpoint's global batch was {} examples ({} rank(s)), this run's is {}: {} examples into epoch {} is "
      "global batch {} now{}",
      s.global_batch_size, s.world_size, global_batch, examples, s.epoch, s.batch_in_epoch,
      examples % global_batch == 0 ? "" : " (rounded down)");
}

}  // namespace

Rank Rank::of(std::shared_ptr<ProcessGroup> group) {
  if (!group) return {};
  return Rank{group->rank(), group->world_size(), std::move(group)};
}

Trainer::Trainer(const Config& config, const std::string& run_dir, bool resume, TrainControl control, Rank rank)
    : impl_(std::make_unique<Impl>(config, run_dir, resume, std::move(control), rank)) {
  auto& m = *impl_;
  if (m.rank.world_size > 1 && !m.rank.group) throw std::logic_error("Trainer: a world size > 1 needs a ProcessGroup");
  if (m.rank.group) m.rank.group->check_same(to_yaml(config), "resolved configuration");
  // Everything is checked (configuration, data, run directory, and a resumed checkpoint against this model)
  // before the run directory changes at all: a refused command leaves it byte for byte as it was.
  torch::manual_seed(m.t.seed);
  m.model = build_model(config, m.task);
  m.model->to(m.device);
  m.optimizer = make_optimizer(m.t, m.model->parameters());
  if (resume) m.state = load_checkpoint(m.dir.last_checkpoint().string(), *m.model, m.optimizer.get());
  if (m.control.on_start) m.control.on_start();
  m.lock = m.dir.lock(resume, "continue it");  // the writing rank's only
  m.log = make_logger(m.dir, m.control.quiet, m.rank);
  if (m.t.precision == Precision::bf16) {
    const auto& bf16 = bf16_support();
    if (bf16.faster()) {
      m.log->info(bf16.summary());
    } else {
      m.log->warn(bf16.summary());
    }
  }
  for (const auto& warning : m.task.warnings()) m.log->warn(warning);
  if (m.dir.writer()) {
    save_config(config, m.dir.file("config.yaml").string(), {}, "this run: " + m.global_batch_text());
    m.task.vocab.save(m.dir.file("vocab.txt").string());
    save_lines(m.dir.file("labels.txt").string(), m.task.label_names);
  }
  // Lines past the checkpoint (or, for a fresh start, from an attempt killed before its first checkpoint).
  m.dir.truncate_metrics(m.state.step);
  if (resume) {
    m.last_saved_step = m.state.step;
    const auto moved = convert_position(m.state, m.global_batch(), m.batcher.num_batches());
    if (!moved.empty()) m.log->warn(moved);
    m.log->info("resumed {} at step {} (epoch {}, batch {})", run_dir, m.state.step, m.state.epoch,
                m.state.batch_in_epoch);
  }
  if (m.rank.group) {
    m.join_ranks();
  } else if (m.t.accumulate_steps > 1) {
    m.log->info(m.global_batch_text());
  }
  m.log->info("{}: {} encoder, {} parameters, {} head over {} classes, {} training examples, {} steps on {}", run_dir,
              config.model.name, m.model->encoder->num_parameters(), name_of(m.task.head), m.task.num_classes(),
              m.task.train.size(), m.total_steps, m.device.str());
  m.log->info("recipe {}", recipe_summary(config));
  if (m.control.reset_peak_memory) m.control.reset_peak_memory();
  m.session_start = now_s();
  m.tokens_at_start = m.state.tokens_seen;
  m.step_at_start = m.state.step;
  m.model->train();
}

Trainer::~Trainer() = default;

SequenceModelImpl& Trainer::model() { return *impl_->model; }
const TrainingState& Trainer::state() const { return impl_->state; }
bool Trainer::done() const { return impl_->state.step >= impl_->total_steps; }

StepData Trainer::next_step() {
  auto& m = *impl_;
  if (m.order_epoch != m.state.epoch) {
    m.order = m.batcher.epoch(m.state.epoch);
    m.order_epoch = m.state.epoch;
  }
  return step_data(m.batcher, m.order[static_cast<size_t>(m.state.batch_in_epoch)], m.rank, m.t.accumulate_steps);
}

double Trainer::train_step(const StepData& step) {
  auto& m = *impl_;
  m.lr = scheduled_lr(m.t, m.state.step, m.total_steps);
  for (auto& group : m.optimizer->param_groups()) group.options().set_lr(m.lr);
  m.optimizer->zero_grad();
  double loss_sum = 0;  // this rank's weighted micro-batch losses
  for (size_t i = 0; i < step.micro_batches.size(); ++i) {
    const auto loss = m.micro_loss(step.micro_batches[i]);
    const double w = step.weights[i], value = loss.item<double>();
    if (!m.rank.group && !std::isfinite(value)) return m.last_loss = value;  // ranks decide on the global loss
    loss_sum += w == 0 ? 0.0 : w * value;
    m.backward(w == 1 ? loss : loss * w, i + 1 == step.micro_batches.size(), loss_sum);
  }
  if (!std::isfinite(m.last_loss)) return m.last_loss;
  if (m.t.clip_norm > 0) torch::nn::utils::clip_grad_norm_(m.model->parameters(), m.t.clip_norm);
  m.optimizer->step();
  ++m.state.step;
  m.state.tokens_seen += step.global_tokens;
  if (++m.state.batch_in_epoch >= m.batcher.num_batches()) {
    m.state.batch_in_epoch = 0;
    ++m.state.epoch;
  }
  return m.last_loss;
}

void Trainer::log_step(double loss) {
  auto& m = *impl_;
  auto& s = m.state;
  s.window_loss += loss;
  ++s.window_steps;
  const double elapsed = m.train_elapsed();
  const double session_s = std::max(1e-9, elapsed - s.elapsed_s);
  const double tokens_per_s = static_cast<double>(s.tokens_seen - m.tokens_at_start) / session_s;
  const double eta =
      session_s / static_cast<double>(s.step - m.step_at_start) * static_cast<double>(m.total_steps - s.step);
  m.progress.update(s.step, m.total_steps, loss, tokens_per_s, eta);
  if (s.step % m.t.log_every != 0 && !done()) return;
  m.train_loss = s.window_loss / static_cast<double>(s.window_steps);
  m.dir.append_metrics(json{
      {"step", s.step},
      {"epoch", s.epoch},
      {"split", "train"},
      {"loss", m.train_loss},
      {"lr", m.lr},
      {"tokens_per_s", tokens_per_s},
      {"elapsed_s",
       elapsed}}.dump());
  if (!m.progress.enabled()) {
    m.say(fmt::format("step {}/{} loss {:.4f} lr {:.2e} {:.0f} tok/s", s.step, m.total_steps, m.train_loss, m.lr,
                      tokens_per_s));
  }
  s.window_loss = 0;
  s.window_steps = 0;
}

bool Trainer::validation_due() const { return impl_->state.step % impl_->t.eval_every == 0 || done(); }

EvalResult Trainer::validate() {
  auto& m = *impl_;
  auto& s = m.state;
  const double start = now_s(), elapsed = m.train_elapsed();
  // Rank 0 validates alone (the same numbers as one process; the others wait for it in the broadcast below).
  EvalResult r;
  if (m.dir.writer()) r = evaluate(*m.model, m.task.valid, m.t.batch_size, m.device);
  m.model->train();
  json line = {{"step", s.step}, {"epoch", s.epoch}, {"split", "valid"}, {"elapsed_s", elapsed}};
  line.update(eval_json(r, m.task.group_name));
  m.dir.append_metrics(line.dump());
  const bool improved = r.accuracy > s.best_metric;
  if (improved) {
    s.best_metric = r.accuracy;
    s.best_step = s.step;
    s.evals_without_improvement = 0;
  } else {
    ++s.evals_without_improvement;
  }
  if (m.rank.group) {  // every rank keeps rank 0's record, so that all agree on early stopping
    auto record = torch::tensor({s.best_metric, static_cast<double>(s.best_step),
                                 static_cast<double>(s.evals_without_improvement), r.loss, r.accuracy},
                                torch::kFloat64);
    m.rank.group->broadcast({record});
    s.best_metric = record[0].item<double>();
    s.best_step = record[1].item<int64_t>();
    s.evals_without_improvement = record[2].item<int64_t>();
    r.loss = record[3].item<double>();
    r.accuracy = record[4].item<double>();
  }
  m.eval_time += now_s() - start;
  m.say(fmt::format("step {} valid loss {:.4f} accuracy {:.4f}{}", s.step, r.loss, r.accuracy,
                    s.best_step == s.step ? " (best)" : ""));
  if (improved) save_best();
  save_last();
  return r;
}

void Trainer::save_last() {
  auto& m = *impl_;
  if (!m.dir.writer()) return;
  m.dir.sync_metrics();  // the lines this checkpoint covers reach the disk before it does
  save_checkpoint(m.dir.last_checkpoint().string(), *m.model, m.optimizer.get(), m.snapshot());
  m.last_saved_step = m.state.step;
}

void Trainer::save_best() {
  auto& m = *impl_;
  if (m.dir.writer()) save_checkpoint(m.dir.best_checkpoint().string(), *m.model, nullptr, m.snapshot());
}

namespace {
std::optional<StopReason> local_stop(const TrainOptions& t, const TrainingState& s, const TrainControl& control,
                                     bool done, std::string& cause) {
  if (t.early_stopping > 0 && s.evals_without_improvement >= t.early_stopping) return StopReason::early_stopping;
  if (control.stop_requested) {
    cause = control.stop_requested();
    if (!cause.empty()) return StopReason::interrupted;
  }
  if (control.stop_after_step >= 0 && s.step >= control.stop_after_step && !done) return StopReason::stopped;
  return std::nullopt;
}
}  // namespace

std::optional<StopReason> Trainer::stop_check() {
  auto& m = *impl_;
  auto reason = local_stop(m.t, m.state, m.control, done(), m.stop_cause);
  if (!m.rank.group) return reason;
  // Ranks stop together: a signal may reach them at different steps. The most urgent reason wins.
  const std::vector<StopReason> urgency = {StopReason::stopped, StopReason::early_stopping, StopReason::interrupted};
  int64_t mine = 0;
  for (size_t i = 0; i < urgency.size(); ++i) {
    if (reason == urgency[i]) mine = static_cast<int64_t>(i) + 1;
  }
  const auto agreed = m.rank.group->allreduce_max(mine);
  if (agreed == 0) return std::nullopt;
  if (agreed == 3 && m.stop_cause.empty()) m.stop_cause = "a stop request to another rank";
  return urgency[static_cast<size_t>(agreed - 1)];
}

TrainOutcome Trainer::finish(StopReason reason) {
  auto& m = *impl_;
  m.progress.clear();
  TrainOutcome out;
  out.stop_reason = reason;
  out.run_dir = m.dir.str();
  out.train_loss = m.train_loss;
  out.group_name = m.task.group_name;
  out.parameters = m.model->encoder->num_parameters();
  out.seq_len = m.task.max_length();
  out.cost = m.model->encoder->cost(out.seq_len);
  out.world_size = m.rank.world_size;
  if (m.rank.group) out.comm = m.rank.group->stats();
  if (reason == StopReason::non_finite_loss) {
    m.log->error("non-finite loss ({}) at step {}; stopped. {}. Try a lower train.lr or train.clip_norm > 0",
                 m.last_loss, m.state.step + 1,
                 m.last_saved_step >= 0 ? fmt::format("The last good checkpoint (step {}) is kept", m.last_saved_step)
                                        : std::string("No checkpoint had been saved yet"));
    out.state = m.state;
    return out;
  }
  if (reason == StopReason::interrupted || reason == StopReason::stopped) {
    save_last();
    if (reason == StopReason::interrupted) {
      m.log->warn(
          "stopped by {} at step {}; checkpoint saved. Resume with: seqenc train --config {}/config.yaml "
          "--run-dir {} --resume",
          m.stop_cause, m.state.step, m.dir.str(), m.dir.str());
    }
    out.state = m.snapshot();
    return out;
  }
  if (reason == StopReason::early_stopping) {
    m.say(fmt::format("early stopping at step {}: no improvement in {} validations", m.state.step, m.t.early_stopping));
  }
  out.state = m.snapshot();
  out.wall_s = out.state.elapsed_s;
  out.tokens_per_s = static_cast<double>(out.state.tokens_seen) / std::max(1e-9, out.wall_s);
  out.peak_rss_mb = peak_rss_mb();
  if (!m.dir.writer()) return out;  // rank 0 evaluates and reports
  // Final metrics come from the best checkpoint.
  if (std::filesystem::exists(m.dir.best_checkpoint()))
    load_checkpoint(m.dir.best_checkpoint().string(), *m.model, nullptr);
  out.valid = evaluate(*m.model, m.task.valid, m.t.batch_size, m.device);
  out.test = evaluate(*m.model, m.task.test, m.t.batch_size, m.device);
  const auto& s = out.state;
  json result = {{"encoder", m.config.model.name},
                 {"task", m.config.data.task},
                 {"stop_reason", name_of(reason)},
                 {"steps", s.step},
                 {"epochs", s.epoch},
                 {"best_step", s.best_step},
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
                 {"world_size", m.rank.world_size},
                 {"global_batch_size", m.global_batch()},
                 {"accumulate_steps", m.t.accumulate_steps},
                 {"train_loss", out.train_loss},
                 {"valid", eval_json(out.valid, m.task.group_name)},
                 {"test", eval_json(out.test, m.task.group_name)}};
  if (m.rank.group) {
    const auto steps = std::max<int64_t>(1, s.step - m.step_at_start);
    result["allreduce_bytes_per_step"] = out.comm.bytes / steps;
    result["comm_s"] = out.comm.seconds;
    result["comm_share"] = out.comm.seconds / std::max(1e-9, m.train_elapsed() - m.state.elapsed_s);
    result["dist_overlap"] = m.t.dist_overlap;
    result["grad_buckets"] =
        m.reducer ? m.reducer->num_buckets() : bucket_tensors(m.model->parameters(), m.bucket_bytes()).size();
    result["exposed_comm_s"] = out.comm.exposed_s;
    result["exposed_comm_ms_per_step"] = 1000 * out.comm.exposed_s / static_cast<double>(steps);
  }
  if (m.dir.writer()) write_file_atomic(m.dir.file("result.json"), result.dump(2) + "\n");
  m.log->info("done: {} steps in {}, {:.0f} tok/s, best valid accuracy {:.4f} (step {}), test accuracy {:.4f}", s.step,
              format_duration(out.wall_s), out.tokens_per_s, out.valid.accuracy, s.best_step, out.test.accuracy);
  return out;
}

TrainOutcome train(const Config& config, const std::string& run_dir, bool resume, const TrainControl& control,
                   const Rank& rank) {
  Trainer trainer(config, run_dir, resume, control, rank);
  while (true) {
    if (auto reason = trainer.stop_check()) return trainer.finish(*reason);
    if (trainer.done()) return trainer.finish(StopReason::completed);
    const double loss = trainer.train_step(trainer.next_step());
    if (!std::isfinite(loss)) return trainer.finish(StopReason::non_finite_loss);
    trainer.log_step(loss);
    if (trainer.validation_due()) trainer.validate();
  }
}

SequenceModel build_model(const Config& config, const TaskData& task) {
  const bool cls = task.head == HeadKind::classify && config.pooling == Pooling::cls;
  // From the configuration, not the data: every split is truncated to data.max_len, and a run reloaded
  // for eval or export (which loads only its test split) must rebuild exactly the same shapes.
  const int64_t max_len = config.data.max_len + (cls ? 1 : 0);
  auto encoder = encoder_options_for(config, task.vocab.size(), task.causal, max_len);
  return SequenceModel(encoder, HeadOptions{task.head, task.num_classes(), config.pooling});
}

double scheduled_lr(const TrainOptions& t, int64_t step, int64_t total_steps) {
  const double s = static_cast<double>(step + 1), warmup = static_cast<double>(t.warmup);
  if (t.schedule == Schedule::warmup_inverse_sqrt) return t.lr * std::min(s / warmup, std::sqrt(warmup / s));
  if (t.warmup > 0 && s <= warmup) return t.lr * s / warmup;
  if (t.schedule == Schedule::cosine) {
    const double span = std::max(1.0, static_cast<double>(total_steps) - warmup);
    const double progress = std::min(1.0, (s - warmup) / span);
    return t.lr * 0.5 * (1 + std::cos(M_PI * progress));
  }
  return t.lr;
}

torch::Device resolve_device(DeviceKind device) {
  const bool cuda = torch::cuda::is_available();
  if (device == DeviceKind::cuda && !cuda)
    throw ConfigError("train.device: cuda requested but CUDA is not available here");
  if (device == DeviceKind::cuda || (device == DeviceKind::automatic && cuda)) return torch::kCUDA;
  return torch::kCPU;
}

void check_precision(Precision precision, const torch::Device& device) {
  if (precision != Precision::bf16) return;
  if (!device.is_cpu()) {
    throw ConfigError("train.precision: bf16 runs on the CPU, but train.device is " + device.str() +
                      "; set train.device: cpu or train.precision: fp32");
  }
  if (!bf16_support().runs) throw ConfigError("train.precision: " + bf16_support().summary());
}

double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

}  // namespace seqenc
