// model.recipe: the training settings an encoder's default recipe gives the keys a configuration leaves unset
// (each encoder's EncoderFacts::recipe_settings; docs/recipes.md has the measurements behind them).
#pragma once
#include <set>
#include <string>

#include "seqenc/train/config.h"

namespace seqenc {

// Applies config.model's recipe to the keys not in explicit_keys (undoing another encoder's first).
// load_config and apply_overrides call it; so does compare, for each encoder.
void apply_recipe(Config& config);
// One line: the recipe of config.model and what it set, for logs and reports.
std::string recipe_summary(const Config& config);
// The keys some encoder's recipe sets that the configuration does not.
std::set<std::string> recipe_keys_unset(const Config& config);

}  // namespace seqenc
