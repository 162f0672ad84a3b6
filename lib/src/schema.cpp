#include "seqenc/schema.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "seqenc/error.h"
#include "seqenc/files.h"
#include "seqenc/strings.h"

namespace seqenc {

std::string scalar_text(const ScalarValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>)
          return v;
        else if constexpr (std::is_same_v<T, bool>)
          return v ? "true" : "false";
        else
          return fmt::format("{}", v);  // shortest text that reads back to the same double
      },
      value);
}

namespace detail {
namespace {
template <typename T>
bool parse_as(const std::string& text, T& out) {
  try {
    const T value = YAML::Node(text).as<T>();
    if constexpr (std::is_floating_point_v<T>) {
      if (!std::isfinite(value)) return false;
    }
    out = value;
    return true;
  } catch (const YAML::Exception&) {
    return false;
  }
}
}  // namespace

bool parse_scalar(const std::string& text, bool& out) { return parse_as(text, out); }
bool parse_scalar(const std::string& text, int64_t& out) { return parse_as(text, out); }
bool parse_scalar(const std::string& text, uint64_t& out) {
  return !(!text.empty() && text[0] == '-') && parse_as(text, out);  // yaml-cpp would wrap a negative number
}
bool parse_scalar(const std::string& text, double& out) { return parse_as(text, out); }
}  // namespace detail

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

YAML::Node emitted(const ScalarValue& value) {
  if (const auto* b = std::get_if<bool>(&value)) return YAML::Node(*b);
  if (const auto* i = std::get_if<int64_t>(&value)) return YAML::Node(*i);
  if (const auto* u = std::get_if<uint64_t>(&value)) return YAML::Node(*u);
  return YAML::Node(scalar_text(value));
}

std::string section_of(const std::string& key) { return key.substr(0, key.find('.')); }

}  // namespace

void Schema::add_key(SchemaKey key) {
  index_[key.key] = keys_.size();
  keys_.push_back(std::move(key));
}

const SchemaKey* Schema::find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &keys_[it->second];
}

bool Schema::is_section(const std::string& key) const {
  return std::any_of(keys_.begin(), keys_.end(), [&](const SchemaKey& k) { return section_of(k.key) == key; });
}

std::string Schema::suggestion(const std::string& key) const {
  std::string best;
  size_t best_distance = 4;
  for (const auto& k : keys_) {
    const size_t gap = key.size() > k.key.size() ? key.size() - k.key.size() : k.key.size() - key.size();
    if (gap >= best_distance) continue;  // the distance is at least the gap: no need to compute it
    const size_t d = edit_distance(key, k.key);
    if (d < best_distance) best_distance = d, best = k.key;
  }
  return best.empty() ? "" : " (did you mean " + best + "?)";
}

void Schema::add(const std::string& key, std::vector<std::string>& field, const std::string& help) {
  SchemaKey k{key, "a list of strings", help, {}, {}, {}, {}, {}};
  k.set_list = [&field](const std::vector<std::string>& items) { field = items; };
  k.get_list = [&field] { return field; };
  k.get = [&field] { return ScalarValue(join(field, "; ")); };
  add_key(std::move(k));
}

std::string Schema::assign(const std::string& key, const std::string& text) { return set(key, YAML::Node(text)); }

// As a file or --set does: recorded as explicit when it succeeds.
std::string Schema::set(const std::string& key, const YAML::Node& value) {
  const SchemaKey* k = find(key);
  if (!k) return key + ": unknown key" + suggestion(key);
  if (k->set_list) return set_list(*k, value);
  if (!value.IsScalar()) return key + ": expected " + k->type + ", got a " + (value.IsMap() ? "mapping" : "list");
  const auto& text = value.Scalar();
  if (!k->choices.empty() && std::find(k->choices.begin(), k->choices.end(), text) == k->choices.end())
    return key + ": '" + text + "' is not one of " + join(k->choices, ", ");
  if (!k->set(text)) return key + ": expected " + k->type + ", got '" + text + "'";
  return "";
}

std::string Schema::set_list(const SchemaKey& k, const YAML::Node& value) {
  std::vector<std::string> items;
  if (value.IsScalar()) items.push_back(value.Scalar());
  for (const auto& item : value.IsSequence() ? value : YAML::Node()) {
    if (!item.IsScalar())
      return k.key + ": expected a list of strings, got a nested " + (item.IsMap() ? "mapping" : "list");
    items.push_back(item.Scalar());
  }
  if (value.IsMap()) return k.key + ": expected a list of strings, got a mapping";
  k.set_list(items);
  return "";
}

void Schema::walk(const YAML::Node& node, const std::string& prefix, std::vector<std::string>& problems,
                  bool skip_unknown_sections) {
  std::map<std::string, int> lines;  // yaml-cpp keeps every entry of a repeated key; the last would win silently
  for (const auto& item : node) {
    const std::string key = prefix.empty() ? item.first.Scalar() : prefix + "." + item.first.Scalar();
    const int line = item.first.Mark().line + 1;
    if (auto [it, first] = lines.emplace(key, line); !first) {
      problems.push_back(fmt::format("{}: given twice (lines {} and {})", key, it->second, line));
      continue;
    }
    if (item.second.IsMap() && (is_section(key) || !find(key))) {
      if (!is_section(key)) {
        if (!(skip_unknown_sections && prefix.empty())) problems.push_back(key + ": unknown section");
        continue;
      }
      walk(item.second, key, problems, false);
    } else if (is_section(key)) {
      problems.push_back(key + ": expected a mapping of keys");
    } else if (item.second.IsNull()) {
      problems.push_back(key + ": no value given");
    } else if (auto p = set(key, item.second); !p.empty()) {
      problems.push_back(p);
    } else if (explicit_keys_) {
      explicit_keys_->insert(key);
    }
  }
}

void Schema::read_file(const std::string& path, std::vector<std::string>& problems, bool skip_unknown_sections) {
  if (auto why = input_problem(path); !why.empty()) throw ConfigError(path + ": " + why);
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read config file");
  YAML::Node root;
  try {
    root = YAML::Load(in);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(fmt::format("{}:{}:{}: YAML syntax error: {}", path, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (root.IsNull()) return;
  if (!root.IsMap()) {
    std::vector<std::string> sections;
    for (const auto& k : keys_) {
      if (std::find(sections.begin(), sections.end(), section_of(k.key)) == sections.end())
        sections.push_back(section_of(k.key));
    }
    throw ConfigError(path + ": expected a mapping with sections " + join(sections, ", "));
  }
  walk(root, "", problems, skip_unknown_sections);
}

void Schema::read_overrides(const std::vector<std::string>& overrides, std::vector<std::string>& problems) {
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) {
      problems.push_back("'" + o + "': expected KEY=VALUE");
      continue;
    }
    const std::string key = o.substr(0, eq), value = o.substr(eq + 1);
    YAML::Node node;
    try {
      node = YAML::Load(value);
    } catch (const YAML::Exception&) {
      node = YAML::Node(value);
    }
    if (node.IsNull()) node = YAML::Node(value);  // "key=" is an empty string, not null
    if (auto p = set(key, node); !p.empty()) {
      problems.push_back(p);
    } else if (explicit_keys_) {
      explicit_keys_->insert(key);
    }
  }
}

std::string Schema::to_yaml(const std::set<std::string>& omit) const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string section;
  for (const auto& k : keys_) {
    if (omit.count(k.key)) continue;
    const std::string s = section_of(k.key), name = k.key.substr(s.size() + 1);
    if (s != section) {
      if (!section.empty()) out << YAML::EndMap;
      out << YAML::Key << s << YAML::Value << YAML::BeginMap;
      section = s;
    }
    out << YAML::Key << name << YAML::Value;
    if (k.get_list)
      out << k.get_list();
    else
      out << emitted(k.get());
  }
  if (!section.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::vector<KeyDescription> Schema::describe() const {
  std::vector<KeyDescription> out;
  for (const auto& k : keys_) {
    YAML::Emitter e;
    if (k.get_list)
      e << YAML::Flow << k.get_list();
    else
      e << emitted(k.get());
    std::string help = k.help;
    if (!k.choices.empty()) help += " (" + join(k.choices, " | ") + ")";
    out.push_back({k.key, k.type, e.c_str(), help});
  }
  return out;
}

}  // namespace seqenc
