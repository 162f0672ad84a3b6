#include "seqenc/train/model_factory.h"

namespace seqenc {

SequenceModel build_model(const Config& config, const TaskData& task) {
  const bool cls = task.head == HeadKind::classify && config.pooling == Pooling::cls;
  // From the configuration, not the data: every split is truncated to data.max_len, and a run reloaded
  // for eval or export (which loads only its test split) must rebuild exactly the same shapes.
  const int64_t max_len = config.data.max_len + (cls ? 1 : 0);
  auto encoder = encoder_options_for(config, task.vocab.size(), task.causal, max_len);
  return SequenceModel(encoder, HeadOptions{task.head, task.num_classes(), config.pooling});
}

}  // namespace seqenc
