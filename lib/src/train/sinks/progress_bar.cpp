#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "seqenc/strings.h"
#include "seqenc/train/sinks.h"

namespace seqenc {

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// A live one-line progress bar on a terminal, redrawn at most ten times a second.
class ProgressBar : public TrainingObserver {
 public:
  void on_step(const StepDone& e) override {
    const double t = now_s();
    if (t - last_ < 0.1 && e.step < e.total_steps) return;
    last_ = t;
    const int width = 30;
    const int filled = e.total_steps > 0 ? static_cast<int>(width * e.step / e.total_steps) : 0;
    fmt::print(stderr, "\r\033[K[{}{}] step {}/{}  loss {:.4f}  {:.0f} tok/s  ETA {}",
               std::string(static_cast<size_t>(filled), '#'), std::string(static_cast<size_t>(width - filled), '.'),
               e.step, e.total_steps, e.loss, e.tokens_per_s, format_duration(e.eta_s));
    std::fflush(stderr);
    shown_ = true;
  }
  void on_message(MessageLevel, const std::string&) override { clear(); }
  void on_finish(const TrainOutcome&) override { clear(); }

 private:
  void clear() {
    if (shown_) fmt::print(stderr, "\r\033[K");
    shown_ = false;
  }
  bool shown_ = false;
  double last_ = 0;
};

}  // namespace

SinkFactory progress_bar_sink() {
  return [](const SinkContext& c) -> std::unique_ptr<TrainingObserver> {
    if (!shows_progress_bar(c)) return nullptr;
    return std::make_unique<ProgressBar>();
  };
}

}  // namespace seqenc
