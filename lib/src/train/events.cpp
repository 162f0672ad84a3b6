#include "seqenc/train/events.h"

namespace seqenc {

void EventStream::add(std::unique_ptr<TrainingObserver> observer) {
  if (observer) observers_.push_back(std::move(observer));
}
void EventStream::start(const RunStart& e) {
  for (auto& o : observers_) o->on_start(e);
}
void EventStream::say(MessageLevel level, const std::string& text) {
  for (auto& o : observers_) o->on_message(level, text);
}
void EventStream::step(const StepDone& e) {
  for (auto& o : observers_) o->on_step(e);
}
void EventStream::train_window(const TrainWindow& e) {
  for (auto& o : observers_) o->on_train_window(e);
}
void EventStream::validation(const Validated& e) {
  for (auto& o : observers_) o->on_validation(e);
}
void EventStream::checkpoint(const CheckpointDue& e) {
  for (auto& o : observers_) o->on_checkpoint(e);
}
void EventStream::finish(const TrainOutcome& outcome) {
  for (auto& o : observers_) o->on_finish(outcome);
}

}  // namespace seqenc
