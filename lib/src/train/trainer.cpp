#include "seqenc/train/trainer.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "seqenc/data/task.h"
#include "seqenc/data/tokenizer.h"
#include "seqenc/files.h"
#include "seqenc/train/recipe.h"
#include "seqenc/train/run_dir.h"
#include "seqenc/train/sinks.h"

namespace seqenc {

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// The run's data. A resumed run keeps the tokenizer model and vocabulary it was trained with: a model file the
// configuration names must still be that model, and the vocabulary must come out as vocab.txt has it.
TaskData load_checked_task(const Config& config, const RunDir& dir, bool resume) {
  check_config(config, "configuration");
  if (!resume || !task_spec(config.data.task).reads_files()) return load_task(config.data);
  if (auto problem = resume_tokenizer_problem(config.data, dir.path()); !problem.empty()) throw DataError(problem);
  auto task = load_task(with_saved_tokenizer(config.data, dir.path()));
  const auto vocab_file = dir.file("vocab.txt");
  if (std::filesystem::exists(vocab_file) && Vocabulary::load(vocab_file.string()).tokens() != task.vocab.tokens()) {
    throw DataError(vocab_file.string() + ": the run was trained with another vocabulary than " + config.data.train +
                    " gives now; resume with the data it was trained on, or train a new run");
  }
  return task;
}

// This process's share of a run's time and tokens: what speed and ETA are measured over.
struct SessionClock {
  double start = now_s();
  double eval_s = 0;  // spent validating, left out of training time
  int64_t start_step = 0, start_tokens = 0;
  double training_s() const { return now_s() - start - eval_s; }
};

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

struct Trainer::Impl {
  Impl(const Config& c, const std::string& run_dir, bool resume, TrainControl ctl, const Rank& rank)
      : config(c),
        t(config.train),
        sync(make_sync(rank)),
        dir(run_dir, sync->writes()),
        control(std::move(ctl)),
        task((dir.check_can_start(resume, "continue it"), load_checked_task(config, dir, resume))),
        device(resolve_device(t.device)),
        batcher(task.train, global_batch(), true, t.seed, t.bucket),
        total_steps(t.steps > 0 ? t.steps : t.epochs * batcher.num_batches()) {
    check_precision(t.precision, device);
  }

  // Examples per optimizer step, all ranks and micro-batches together.
  int64_t global_batch() const { return t.batch_size * sync->world_size() * t.accumulate_steps; }
  std::string global_batch_text() const {
    std::string text = fmt::format("global batch {} = train.batch_size {}", global_batch(), t.batch_size);
    if (sync->world_size() > 1) text += fmt::format(" x {} ranks", sync->world_size());
    if (t.accumulate_steps > 1) text += fmt::format(" x {} train.accumulate_steps", t.accumulate_steps);
    return text;
  }
  // Time spent training, checkpoints' earlier sessions included and validation excluded.
  double train_elapsed() const { return state.elapsed_s + clock.training_s(); }
  // The state as a checkpoint records it.
  TrainingState snapshot() const {
    TrainingState s = state;
    s.elapsed_s = train_elapsed();
    s.world_size = sync->world_size();
    s.global_batch_size = global_batch();
    return s;
  }
  void say(const std::string& line, MessageLevel level = MessageLevel::info) { events.say(level, line); }
  // Why a resume from `state` cannot continue exactly ("" when it can): every rank's dropout generator is needed.
  std::string inexact_resume() const {
    const std::string afresh =
        ": dropout draws start afresh, so the run will not repeat an uninterrupted one bit for bit";
    if (state.world_size != sync->world_size()) {
      return fmt::format("the checkpoint is of {} rank(s), this run has {}{}", state.world_size, sync->world_size(),
                         afresh);
    }
    const bool all = state.rank_generators.defined() && state.rank_generators.size(0) == sync->world_size();
    return sync->world_size() == 1 || all ? "" : "the checkpoint holds no rank's dropout generator" + afresh;
  }

  // The mean loss of one micro-batch over its labels.
  torch::Tensor micro_loss(const Batch& batch) {
    PrecisionScope precision(t.precision);  // the forward only: backward follows what the forward recorded
    MatmulScope matmul(kernels.matmul);
    auto labelled =
        model->labelled_logits(batch.tokens.to(device), batch.valid_lens.to(device), batch.labels.to(device));
    return task_loss(labelled.logits, labelled.labels, t.label_smoothing);
  }

  void advance(int64_t global_tokens) {
    ++state.step;
    state.tokens_seen += global_tokens;
    if (++state.batch_in_epoch >= batcher.num_batches()) {
      state.batch_in_epoch = 0;
      ++state.epoch;
    }
  }

  void checkpoint(bool best) {
    auto s = snapshot();
    s.rank_generators = sync->generator_states();
    events.checkpoint(CheckpointDue{*model, optimizer.get(), s, best});
    last_saved_step = state.step;
  }

  // The best-so-far record after a validation, rank 0's on every rank.
  ValidationRecord record(const EvalResult& r) {
    ValidationRecord v{state.best_metric, state.best_step, state.evals_without_improvement, r.loss, r.accuracy};
    if (r.accuracy > v.best_metric) {
      v.best_metric = r.accuracy;
      v.best_step = state.step;
      v.evals_without_improvement = 0;
    } else {
      ++v.evals_without_improvement;
    }
    sync->share(v);
    state.best_metric = v.best_metric;
    state.best_step = v.best_step;
    state.evals_without_improvement = v.evals_without_improvement;
    return v;
  }

  void start(bool resume);
  void write_run_files();
  KernelPlan choose_kernels(bool resume);
  EvalResult evaluate_on(const Dataset& data) {
    MatmulScope matmul(kernels.matmul);
    return evaluate(*model, data, t.batch_size, device);
  }
  TrainOutcome outcome(StopReason reason) const;
  TrainOutcome final_evaluation(TrainOutcome out);

  const Config config;
  const TrainOptions& t;
  std::unique_ptr<RankSync> sync;
  RunDir dir;
  TrainControl control;
  TaskData task;  // before the device: configuration and data problems are reported first
  torch::Device device;
  Batcher batcher;
  int64_t total_steps;
  SequenceModel model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  TrainingState state;
  std::vector<std::vector<int64_t>> order;  // the current epoch's batches
  int64_t order_epoch = -1;
  double lr = 0, last_loss = 0, train_loss = 0;
  SessionClock clock;
  int64_t last_saved_step = -1;
  std::string stop_cause;
  FileLock lock;
  EventStream events;
  KernelPlan kernels;
  std::vector<std::string> kernel_warnings;  // said once the log is open
};

// The kernels a resumed run recorded, else rank 0's choice (nn/autotune.h), shared with every rank.
KernelPlan Trainer::Impl::choose_kernels(bool resume) {
  std::string problem;
  const auto recorded = resume && std::filesystem::exists(dir.file("kernels.json"))
                            ? KernelPlan::from_json(read_whole_file(dir.file("kernels.json"), &problem))
                            : std::nullopt;
  KernelPlan plan;
  if (recorded) {
    plan = *recorded;
    plan.how = "as the run chose them first, " + plan.how;
    apply_blas_choice(plan, control.tuning);
  } else if (sync->writes()) {
    TuningShape shape{t.batch_size,
                      std::min(task.max_length(), config.data.max_len),
                      config.model.num_hiddens,
                      config.model.num_heads,
                      config.model.ffn_num_hiddens,
                      config.model.dropout,
                      t.precision,
                      encoder_facts(config.model.name).attention,
                      config.model.pos_encoding == PosEncoding::relative};
    plan = plan_kernels(shape, {config.model.attention, t.matmul, t.blas}, control.tuning, &kernel_warnings);
  }
  std::vector<int64_t> codes = {static_cast<int64_t>(plan.attention), static_cast<int64_t>(plan.matmul),
                                static_cast<int64_t>(plan.blas)};
  sync->share(codes);  // every rank computes as rank 0 chose
  plan.attention = static_cast<AttentionKernel>(codes[0]);
  plan.matmul = static_cast<MatmulRoute>(codes[1]);
  plan.blas = static_cast<BlasChoice>(codes[2]);
  if (!sync->writes()) apply_blas_choice(plan, control.tuning);
  return plan;
}

void Trainer::Impl::write_run_files() {
  if (!dir.writer()) return;
  save_config(config, dir.file("config.yaml").string(), {}, "this run: " + global_batch_text());
  write_file_atomic(dir.file("kernels.json"), kernels.to_json() + "\n");  // what --resume computes with again
  task.vocab.save(dir.file("vocab.txt").string());
  save_lines(dir.file("labels.txt").string(), task.label_names);
  if (task.tokenizer) save_tokenizer(config.data.tokenizer, *task.tokenizer, dir.path());
}

// Everything is checked and the directory locked: the observers start, and the run says what it trains.
void Trainer::Impl::start(bool resume) {
  for (auto& sink : make_sinks({config, dir, control.quiet, sync->rank(), sync->world_size()})) {
    events.add(std::move(sink));
  }
  events.start(RunStart{config, task, state, total_steps, resume});
  if (t.precision == Precision::bf16) {
    say(bf16_support().summary(), bf16_support().faster() ? MessageLevel::info : MessageLevel::warning);
  }
  for (const auto& warning : task.warnings()) say(warning, MessageLevel::warning);
  for (const auto& warning : kernel_warnings) say(warning, MessageLevel::warning);
  say(kernels.summary());
  write_run_files();
  if (resume) {
    last_saved_step = state.step;
    const auto moved = convert_position(state, global_batch(), batcher.num_batches());
    if (!moved.empty()) say(moved, MessageLevel::warning);
    say(fmt::format("resumed {} at step {} (epoch {}, batch {})", dir.str(), state.step, state.epoch,
                    state.batch_in_epoch));
    if (const auto why = inexact_resume(); !why.empty()) say(why, MessageLevel::warning);
  }
  if (control.restarts > 0) say(fmt::format("elastic restart {}: the workers started again", control.restarts));
  const auto reduced = sync->join(*model, t, state);
  if (sync->world_size() > 1) {
    say(fmt::format("rank {} of {}: {}; gradients reduced {}", sync->rank(), sync->world_size(), global_batch_text(),
                    reduced));
  } else if (t.accumulate_steps > 1) {
    say(global_batch_text());
  }
  say(fmt::format("{}: {} encoder, {} parameters, {} head over {} classes, {} training examples, {} steps on {}",
                  dir.str(), config.model.name, model->encoder->num_parameters(), name_of(task.head),
                  task.num_classes(), task.train.size(), total_steps, device.str()));
  say("recipe " + recipe_summary(config));
  if (control.reset_peak_memory) control.reset_peak_memory();
  clock = SessionClock{};
  clock.start_step = state.step;
  clock.start_tokens = state.tokens_seen;
  model->train();
}

Trainer::Trainer(const Config& config, const std::string& run_dir, bool resume, TrainControl control, Rank rank)
    : impl_(std::make_unique<Impl>(config, run_dir, resume, std::move(control), rank)) {
  auto& m = *impl_;
  m.sync->check_same(to_yaml(config), "resolved configuration");
  // Everything is checked (configuration, data, run directory, and a resumed checkpoint against this model)
  // before the run directory changes at all: a refused command leaves it byte for byte as it was.
  m.kernels = m.choose_kernels(resume);  // before the seed: measuring leaves the random stream as it was anyway
  torch::manual_seed(m.t.seed);
  Config chosen = config;  // config.yaml keeps auto; the model computes with what auto chose
  chosen.model.attention = m.kernels.attention;
  m.model = build_model(chosen, m.task);
  m.model->to(m.device);
  m.optimizer = make_optimizer(m.t, m.model->parameters());
  if (resume) {
    m.state = load_checkpoint(m.dir.last_checkpoint().string(), *m.model, m.optimizer.get(), model_keys_text(config));
  }
  if (m.control.on_start) m.control.on_start();
  m.lock = m.dir.lock(resume, "continue it");  // the writing rank's only
  m.start(resume);
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
  const auto& global = m.order[static_cast<size_t>(m.state.batch_in_epoch)];
  return step_data(m.batcher, global, m.sync->rank(), m.sync->world_size(), m.t.accumulate_steps);
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
    if (m.sync->decides_alone() && !std::isfinite(value)) return m.last_loss = value;
    loss_sum += w == 0 ? 0.0 : w * value;
    m.last_loss = m.sync->backward(w == 1 ? loss : loss * w, i + 1 == step.micro_batches.size(), loss_sum);
  }
  if (!std::isfinite(m.last_loss)) return m.last_loss;  // every rank sees the global loss
  if (m.t.clip_norm > 0) torch::nn::utils::clip_grad_norm_(m.model->parameters(), m.t.clip_norm);
  m.optimizer->step();
  m.advance(step.global_tokens);
  return m.last_loss;
}

void Trainer::log_step(double loss) {
  auto& m = *impl_;
  auto& s = m.state;
  s.window_loss += loss;
  ++s.window_steps;
  const double session_s = std::max(1e-9, m.clock.training_s());
  const double tokens_per_s = static_cast<double>(s.tokens_seen - m.clock.start_tokens) / session_s;
  const double eta =
      session_s / static_cast<double>(s.step - m.clock.start_step) * static_cast<double>(m.total_steps - s.step);
  m.events.step(StepDone{s.step, m.total_steps, loss, tokens_per_s, eta});
  if (s.step % m.t.log_every != 0 && !done()) return;
  m.train_loss = s.window_loss / static_cast<double>(s.window_steps);
  m.events.train_window(
      TrainWindow{s.step, m.total_steps, s.epoch, m.train_loss, m.lr, tokens_per_s, m.train_elapsed()});
  s.window_loss = 0;
  s.window_steps = 0;
}

bool Trainer::validation_due() const { return impl_->state.step % impl_->t.eval_every == 0 || done(); }

EvalResult Trainer::validate() {
  auto& m = *impl_;
  const double start = now_s(), elapsed = m.train_elapsed();
  // Rank 0 validates alone (the same numbers as one process; the others take its record from RankSync::share).
  EvalResult r;
  if (m.dir.writer()) r = m.evaluate_on(m.task.valid);
  m.model->train();
  const auto v = m.record(r);
  r.loss = v.loss;
  r.accuracy = v.accuracy;
  const bool best = v.best_step == m.state.step;
  m.events.validation(Validated{m.state.step, m.state.epoch, elapsed, r, m.task.group_name, best});
  m.clock.eval_s += now_s() - start;
  m.checkpoint(best);
  return r;
}

std::optional<StopReason> Trainer::stop_check() {
  auto& m = *impl_;
  return m.sync->agree(local_stop(m.t, m.state, m.control, done(), m.stop_cause), m.stop_cause);
}

TrainOutcome Trainer::Impl::outcome(StopReason reason) const {
  TrainOutcome out;
  out.stop_reason = reason;
  out.run_dir = dir.str();
  out.train_loss = train_loss;
  out.group_name = task.group_name;
  out.parameters = model->encoder->num_parameters();
  out.seq_len = task.max_length();
  out.cost = model->encoder->cost(out.seq_len);
  out.world_size = sync->world_size();
  out.global_batch_size = global_batch();
  out.restarts = control.restarts;
  out.comm = sync->stats();
  out.kernels = kernels;
  out.state = reason == StopReason::non_finite_loss ? state : snapshot();
  return out;
}

// A finished run's numbers: speed, memory, and (on the writing rank) the best checkpoint's metrics.
TrainOutcome Trainer::Impl::final_evaluation(TrainOutcome out) {
  out.wall_s = out.state.elapsed_s;
  out.tokens_per_s = static_cast<double>(out.state.tokens_seen) / std::max(1e-9, out.wall_s);
  out.peak_rss_mb = peak_rss_mb();
  out.distributed = sync->summary(out.state.step - clock.start_step, clock.training_s());
  if (!dir.writer()) return out;  // rank 0 evaluates and reports
  if (std::filesystem::exists(dir.best_checkpoint())) load_checkpoint(dir.best_checkpoint().string(), *model, nullptr);
  out.valid = evaluate_on(task.valid);
  out.test = evaluate_on(task.test);
  out.evaluated = true;
  return out;
}

TrainOutcome Trainer::finish(StopReason reason) {
  auto& m = *impl_;
  auto out = m.outcome(reason);
  if (reason == StopReason::non_finite_loss) {
    m.say(fmt::format("non-finite loss ({}) at step {}; stopped. {}. Try a lower train.lr or train.clip_norm > 0",
                      m.last_loss, m.state.step + 1,
                      m.last_saved_step >= 0
                          ? fmt::format("The last good checkpoint (step {}) is kept", m.last_saved_step)
                          : std::string("No checkpoint had been saved yet")),
          MessageLevel::error);
  } else if (reason == StopReason::interrupted || reason == StopReason::stopped) {
    m.checkpoint(false);
    if (reason == StopReason::interrupted) {
      m.say(fmt::format("stopped by {} at step {}; checkpoint saved. Resume with: seqenc train --config "
                        "{}/config.yaml --run-dir {} --resume",
                        m.stop_cause, m.state.step, m.dir.str(), m.dir.str()),
            MessageLevel::warning);
    }
  } else {
    if (reason == StopReason::early_stopping) {
      m.say(
          fmt::format("early stopping at step {}: no improvement in {} validations", m.state.step, m.t.early_stopping));
    }
    out = m.final_evaluation(out);
  }
  m.events.finish(out);
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

}  // namespace seqenc
