// The model a configuration describes for a task.
#pragma once
#include "seqenc/nn/heads.h"
#include "seqenc/train/config.h"

namespace seqenc {

// A model for this configuration and task (vocabulary, classes, causality, max_len).
SequenceModel build_model(const Config& config, const TaskData& task);

}  // namespace seqenc
