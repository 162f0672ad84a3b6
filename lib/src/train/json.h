// Private to the train layer: results as JSON objects.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "seqenc/train/evaluate.h"

namespace seqenc {

nlohmann::json eval_json(const EvalResult& result, const std::string& group_name);

}  // namespace seqenc
