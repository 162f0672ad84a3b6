#include "seqenc/train/recipe.h"

#include "seqenc/strings.h"

namespace seqenc {

void apply_recipe(Config& config) {
  Config defaults;
  Schema current, initial;
  add_run_keys(current, config);
  add_run_keys(initial, defaults);
  config.recipe_applied.clear();
  for (const auto& [name, spec] : encoder_specs()) {  // first undo what another encoder's recipe set
    for (const auto& [key, value] : spec.facts.recipe_settings) {
      if (!config.explicit_keys.count(key)) current.assign(key, scalar_text(initial.find(key)->get()));
    }
  }
  if (config.model.recipe == Recipe::book) return;
  for (const auto& [key, value] : encoder_facts(config.model.name).recipe_settings) {
    if (config.explicit_keys.count(key)) continue;
    current.assign(key, value);
    config.recipe_applied.push_back(key + ": " + value);
  }
}

std::string recipe_summary(const Config& config) {
  const auto facts = encoder_facts(config.model.name);
  std::string summary = name_of(config.model.recipe);
  const auto& what = config.model.recipe == Recipe::book ? facts.book_recipe_summary : facts.default_recipe_summary;
  if (!what.empty()) summary += " (" + what + ")";
  if (!config.recipe_applied.empty()) summary += "; " + join(config.recipe_applied, ", ");
  return summary;
}

std::set<std::string> recipe_keys_unset(const Config& config) {
  std::set<std::string> keys;
  for (const auto& [name, spec] : encoder_specs()) {
    for (const auto& [key, value] : spec.facts.recipe_settings) {
      if (!config.explicit_keys.count(key)) keys.insert(key);
    }
  }
  return keys;
}

}  // namespace seqenc
