#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "seqenc/strings.h"
#include "seqenc/train/sinks.h"

namespace seqenc {

namespace {

// The console (unless quiet) and, for the writing rank, train.log: every message, each validation, the training
// loss every train.log_every steps (unless a progress bar shows it) and the final line.
class Log : public TrainingObserver {
 public:
  Log(const SinkContext& c) : progress_bar_(shows_progress_bar(c)) {
    std::vector<spdlog::sink_ptr> sinks;
    if (!c.quiet) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    if (c.dir.writer())
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(c.dir.file("train.log").string()));
    logger_ = std::make_shared<spdlog::logger>("seqenc", sinks.begin(), sinks.end());
    logger_->set_pattern(c.world_size > 1 ? fmt::format("[%Y-%m-%d %H:%M:%S] [rank {}] %v", c.rank)
                                          : std::string("[%Y-%m-%d %H:%M:%S] %v"));
    logger_->flush_on(spdlog::level::info);
  }

  void on_message(MessageLevel level, const std::string& text) override {
    const auto spd = level == MessageLevel::info      ? spdlog::level::info
                     : level == MessageLevel::warning ? spdlog::level::warn
                                                      : spdlog::level::err;
    logger_->log(spd, text);
  }

  void on_train_window(const TrainWindow& e) override {
    if (progress_bar_) return;
    logger_->info("step {}/{} loss {:.4f} lr {:.2e} {:.0f} tok/s", e.step, e.total_steps, e.loss, e.lr, e.tokens_per_s);
  }

  void on_validation(const Validated& e) override {
    logger_->info("step {} valid loss {:.4f} accuracy {:.4f}{}", e.step, e.result.loss, e.result.accuracy,
                  e.best ? " (best)" : "");
  }

  void on_finish(const TrainOutcome& out) override {
    if (!out.evaluated) return;
    logger_->info("done: {} steps in {}, {:.0f} tok/s, best valid accuracy {:.4f} (step {}), test accuracy {:.4f}",
                  out.state.step, format_duration(out.wall_s), out.tokens_per_s, out.valid.accuracy,
                  out.state.best_step, out.test.accuracy);
  }

 private:
  bool progress_bar_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace

SinkFactory log_sink() {
  return [](const SinkContext& c) -> std::unique_ptr<TrainingObserver> {
    if (c.quiet && !c.dir.writer()) return nullptr;
    return std::make_unique<Log>(c);
  };
}

}  // namespace seqenc
