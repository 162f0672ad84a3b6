// Closed sets of choices are enums, named once: each enum specialises
// ChoiceNames<E> with its (value, name) table, and the config parses names
// with it, so an unknown value is refused where it is read, never deep inside.
#pragma once
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace seqenc {

template <typename E>
struct ChoiceNames;  // static constexpr std::pair<E, std::string_view> table[]

template <typename E>
std::string name_of(E value) {
  for (const auto& [v, name] : ChoiceNames<E>::table)
    if (v == value) return std::string(name);
  return "?";
}

template <typename E>
std::optional<E> parse_choice(std::string_view name) {
  for (const auto& [v, n] : ChoiceNames<E>::table)
    if (n == name) return v;
  return std::nullopt;
}

template <typename E>
std::vector<std::string> choice_names() {
  std::vector<std::string> names;
  for (const auto& [v, n] : ChoiceNames<E>::table) names.emplace_back(n);
  return names;
}

// Prints a choice by its name (in logs and test messages).
template <typename E, typename = decltype(ChoiceNames<E>::table)>
std::ostream& operator<<(std::ostream& out, E value) {
  return out << name_of(value);
}

}  // namespace seqenc

// Declares ChoiceNames<E>; use at namespace seqenc scope: SEQENC_CHOICES(Cell, {Cell::gru, "gru"}, ...)
#define SEQENC_CHOICES(E, ...)                                               \
  template <>                                                                \
  struct ChoiceNames<E> {                                                    \
    static constexpr std::pair<E, std::string_view> table[] = {__VA_ARGS__}; \
  }
