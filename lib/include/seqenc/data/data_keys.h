// The data.* keys of a configuration (the data layer's part of the schema).
#pragma once
#include "seqenc/data/dataset.h"
#include "seqenc/schema.h"

namespace seqenc {

void add_data_keys(Schema& schema, DataOptions& data);

}  // namespace seqenc
