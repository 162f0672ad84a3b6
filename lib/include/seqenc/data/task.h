// What data.task names: a synthetic task generated from data.seed, or a format of users' files. Each is one
// registry entry carrying its head, its own checks and its loader; the built-in ones are a file each under
// lib/src/data/tasks/ and lib/src/data/formats/, listed in lib/src/data/task_registry.cpp.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "seqenc/data/dataset.h"

namespace seqenc {

struct FileFormat;  // data/file_format.h

struct TaskSpec {
  HeadKind head = HeadKind::classify;
  // Problems of the keys this task reads ("data.key: problem"), beyond data.max_len which every task shares.
  std::function<std::vector<std::string>(const DataOptions&)> problems;
  // The three splits with their vocabulary and label names, from options already checked; DataError on bad input.
  std::function<TaskData(const DataOptions&)> load;
  std::shared_ptr<const FileFormat> format;  // how its files read; null for a synthetic task
  bool reads_files() const { return format != nullptr; }
};

// Adds a task (or replaces one); data.task then accepts its name.
void register_task(const std::string& name, TaskSpec spec);
std::vector<std::string> task_names();
// The entry task names; DataError listing the known names when there is none.
TaskSpec task_spec(const TaskName& task);

}  // namespace seqenc
