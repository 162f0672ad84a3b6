// The model.* keys of a configuration (the nn layer's part of the schema).
#pragma once
#include "seqenc/nn/encoder.h"
#include "seqenc/nn/heads.h"
#include "seqenc/schema.h"

namespace seqenc {

void add_model_keys(Schema& schema, EncoderOptions& model, Pooling& pooling);

}  // namespace seqenc
