// Configuration keys bound to the fields of options structs, as Marian's options are: each layer adds its own
// keys (add_data_keys, add_model_keys, add_train_keys, and the tools' bench and analyze keys), and a Schema made
// of those parts reads YAML files and --set overrides into the fields, writes them back and lists them.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "seqenc/choices.h"
#include "seqenc/registry.h"

namespace YAML {
class Node;
}

namespace seqenc {

// A key's value as the resolved configuration writes it.
using ScalarValue = std::variant<bool, int64_t, uint64_t, double, std::string>;
// The text YAML reads back as the same value (0.0003, not 0.00029999999999999997).
std::string scalar_text(const ScalarValue& value);

namespace detail {
// YAML's reading of a scalar's text as the field's type; false (and out unchanged) when it is not one. Numbers
// must be finite: YAML reads .inf and .nan as numbers, and no key means either.
bool parse_scalar(const std::string& text, bool& out);
bool parse_scalar(const std::string& text, int64_t& out);
bool parse_scalar(const std::string& text, uint64_t& out);
bool parse_scalar(const std::string& text, double& out);
template <typename T>
struct is_choice : std::false_type {};
template <typename S>
struct is_choice<Choice<S>> : std::true_type {};
}  // namespace detail

// A key as `seqenc keys` lists it.
struct KeyDescription {
  std::string key, type, default_value, help;
};

struct SchemaKey {
  std::string key, type, help;
  std::vector<std::string> choices;             // empty: any value of the type
  std::function<bool(const std::string&)> set;  // from a scalar's text; false when it is not of the type
  std::function<ScalarValue()> get;
  // A list of strings (a YAML sequence, or one item): set_list and get_list instead of set and get.
  std::function<void(const std::vector<std::string>&)> set_list;
  std::function<std::vector<std::string>()> get_list;
};

class Schema {
 public:
  // explicit_keys, when given, records the keys a file or --set sets (a recipe never overrides those).
  explicit Schema(std::set<std::string>* explicit_keys = nullptr) : explicit_keys_(explicit_keys) {}

  // Binds `key` ("section.name") to field. Enums take their names from SEQENC_CHOICES; a Choice of a registry
  // takes the registry's names as choices.
  template <typename T>
  void add(const std::string& key, T& field, const std::string& help, std::vector<std::string> choices = {});
  // A key whose value is a list of strings.
  void add(const std::string& key, std::vector<std::string>& field, const std::string& help);

  const SchemaKey* find(const std::string& key) const;
  const std::vector<SchemaKey>& keys() const { return keys_; }

  // Reads a YAML file of sections into the keys. Each problem ("key: ...": unknown, of the wrong type, not a
  // choice, given twice) goes to problems; ConfigError naming the file when it cannot be read or is not YAML.
  // skip_unknown_sections leaves whole sections this schema has no keys for to the layers that own them (a run
  // directory's config.yaml read back by a lower layer).
  void read_file(const std::string& path, std::vector<std::string>& problems, bool skip_unknown_sections = false);
  // "key.path=value" overrides, in order; problems as above.
  void read_overrides(const std::vector<std::string>& overrides, std::vector<std::string>& problems);
  // Sets `key` as a default does (not recorded as explicit); "" or the problem.
  std::string assign(const std::string& key, const std::string& text);
  // Every key and its value, section by section, but those in omit.
  std::string to_yaml(const std::set<std::string>& omit = {}) const;
  // Every key with its current value as the default (call on a schema bound to default options).
  std::vector<KeyDescription> describe() const;

 private:
  template <typename T>
  static std::string type_name();
  void add_key(SchemaKey key);
  bool is_section(const std::string& key) const;
  std::string set(const std::string& key, const YAML::Node& value);
  std::string set_list(const SchemaKey& key, const YAML::Node& value);
  void walk(const YAML::Node& node, const std::string& prefix, std::vector<std::string>& problems,
            bool skip_unknown_sections);
  std::string suggestion(const std::string& key) const;

  std::set<std::string>* explicit_keys_;
  std::vector<SchemaKey> keys_;
  std::map<std::string, size_t> index_;
};

template <typename T>
std::string Schema::type_name() {
  if constexpr (std::is_same_v<T, bool>)
    return "true or false";
  else if constexpr (std::is_same_v<T, std::optional<bool>>)
    return "true, false or auto";
  else if constexpr (std::is_same_v<T, std::string> || std::is_enum_v<T> || detail::is_choice<T>::value)
    return "a string";
  else if constexpr (std::is_floating_point_v<T>)
    return "a number";
  else if constexpr (std::is_unsigned_v<T>)
    return "a non-negative integer";
  else
    return "an integer";
}

template <typename T>
void Schema::add(const std::string& key, T& field, const std::string& help, std::vector<std::string> choices) {
  SchemaKey k{key, type_name<T>(), help, std::move(choices), {}, {}, {}, {}};
  if constexpr (std::is_enum_v<T>) {
    k.choices = choice_names<T>();  // a closed choice is parsed here, once
    k.set = [&field](const std::string& text) {
      const auto value = parse_choice<T>(text);
      if (value) field = *value;
      return value.has_value();
    };
    k.get = [&field] { return ScalarValue(name_of(field)); };
  } else if constexpr (detail::is_choice<T>::value) {
    k.set = [&field](const std::string& text) {
      field = T(text);  // set() checked the name against the registry's
      return true;
    };
    k.get = [&field] { return ScalarValue(field.name()); };
  } else if constexpr (std::is_same_v<T, std::optional<bool>>) {  // auto: left to whatever decides otherwise
    k.set = [&field](const std::string& text) {
      bool value = false;
      if (text == "auto") {
        field.reset();
      } else if (detail::parse_scalar(text, value)) {
        field = value;
      } else {
        return false;
      }
      return true;
    };
    k.get = [&field] { return field ? ScalarValue(*field) : ScalarValue(std::string("auto")); };
  } else if constexpr (std::is_same_v<T, std::string>) {
    k.set = [&field](const std::string& text) {
      field = text;
      return true;
    };
    k.get = [&field] { return ScalarValue(field); };
  } else {
    static_assert(std::is_same_v<T, bool> || std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t> ||
                      std::is_same_v<T, double>,
                  "a config key is a bool, optional<bool>, int64_t, uint64_t, double, string, enum or Choice");
    k.set = [&field](const std::string& text) { return detail::parse_scalar(text, field); };
    k.get = [&field] { return ScalarValue(field); };
  }
  add_key(std::move(k));
}

}  // namespace seqenc
