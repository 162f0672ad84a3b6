// Open sets of things (encoders, tasks, tokenizers, metrics sinks) live in registries, as OpenNMT's and
// Marian's factories do: the built-in entries in one table, each a file of its own plus one line there, and
// more added by a register_* call from outside the library. A configuration names an entry by a Choice, which
// the config checks against the registry once, where it is read; code looks the entry up, never compares names.
#pragma once
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace seqenc {

template <typename Entry>
class Registry {
 public:
  explicit Registry(std::vector<std::pair<std::string, Entry>> builtin) {
    for (auto& [name, entry] : builtin) add(name, std::move(entry));
  }

  // Adds `name`, or replaces the entry it had.
  void add(const std::string& name, Entry entry) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(name);
    if (it != index_.end()) {
      entries_[it->second].second = std::move(entry);
      return;
    }
    index_[name] = entries_.size();
    entries_.emplace_back(name, std::move(entry));
  }

  std::optional<Entry> find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(name);
    if (it == index_.end()) return std::nullopt;
    return entries_[it->second].second;
  }

  // Alphabetical, for messages and the config's list of choices.
  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [name, i] : index_) out.push_back(name);
    return out;
  }

  // In the order they were registered (the built-in table's order first).
  std::vector<std::pair<std::string, Entry>> entries() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, Entry>> entries_;
  std::map<std::string, size_t> index_;
};

// The name of an entry of Registry<Spec>: a typed value, so that a task is never compared with a tokenizer's
// name, nor with a string literal.
template <typename Spec>
class Choice {
 public:
  Choice() = default;
  explicit Choice(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }
  bool operator==(const Choice& other) const { return name_ == other.name_; }
  bool operator!=(const Choice& other) const { return name_ != other.name_; }

 private:
  std::string name_;
};

}  // namespace seqenc
