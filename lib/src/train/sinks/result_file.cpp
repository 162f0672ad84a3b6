#include <nlohmann/json.hpp>

#include "../json.h"
#include "seqenc/files.h"
#include "seqenc/train/sinks.h"

namespace seqenc {

namespace {

using json = nlohmann::json;

json distributed_json(const DistributedSummary& d) {
  return {{"allreduce_bytes_per_step", d.allreduce_bytes_per_step},
          {"comm_s", d.comm.seconds},
          {"comm_share", d.comm_share},
          {"dist_overlap", d.overlap},
          {"grad_buckets", d.grad_buckets},
          {"exposed_comm_s", d.comm.exposed_s},
          {"exposed_comm_ms_per_step", d.exposed_comm_ms_per_step}};
}

// result.json of a finished run: what was trained, the section's cost figures, speed, and the best checkpoint's
// metrics; written whole, so a kill never leaves half of it.
class ResultFile : public TrainingObserver {
 public:
  ResultFile(const Config& config, const RunDir& dir) : config_(config), dir_(dir) {}

  void on_finish(const TrainOutcome& out) override {
    if (!out.evaluated) return;
    const auto& s = out.state;
    json result = {{"encoder", config_.model.name},
                   {"task", config_.data.task.name()},
                   {"stop_reason", name_of(out.stop_reason)},
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
                   {"world_size", out.world_size},
                   {"restarts", out.restarts},
                   {"global_batch_size", out.global_batch_size},
                   {"accumulate_steps", config_.train.accumulate_steps},
                   {"train_loss", out.train_loss},
                   {"valid", eval_json(out.valid, out.group_name)},
                   {"test", eval_json(out.test, out.group_name)}};
    if (out.distributed) result.update(distributed_json(*out.distributed));
    result["kernels"] = json::parse(out.kernels.to_json());
    write_file_atomic(dir_.file("result.json"), result.dump(2) + "\n");
  }

 private:
  const Config& config_;
  const RunDir& dir_;
};

}  // namespace

SinkFactory result_file_sink() {
  return [](const SinkContext& c) -> std::unique_ptr<TrainingObserver> {
    if (!c.dir.writer()) return nullptr;
    return std::make_unique<ResultFile>(c.config, c.dir);
  };
}

}  // namespace seqenc
