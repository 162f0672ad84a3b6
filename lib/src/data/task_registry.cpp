#include "seqenc/data/file_format.h"
#include "seqenc/data/synthetic.h"
#include "seqenc/data/task.h"
#include "seqenc/strings.h"

namespace seqenc {

namespace {
// The built-in tasks: synthetic generators first, then file formats.
Registry<TaskSpec>& registry() {
  static Registry<TaskSpec> tasks({
      {"lag", lag_task()},
      {"copy", copy_task()},
      {"reverse", reverse_task()},
      {"recall", recall_task()},
      {"listops", listops_task()},
      {"segment", segment_task()},
      {"tsv_classify", tsv_classify_task()},
      {"tsv_tag", tsv_tag_task()},
      {"text_lm", text_lm_task()},
  });
  return tasks;
}
}  // namespace

void register_task(const std::string& name, TaskSpec spec) { registry().add(name, std::move(spec)); }

std::vector<std::string> task_names() {
  std::vector<std::string> names;
  for (const auto& [name, spec] : registry().entries()) names.push_back(name);
  return names;
}

TaskSpec task_spec(const TaskName& task) {
  auto spec = registry().find(task.name());
  if (!spec) {
    throw DataError("data.task: unknown task '" + task.name() + "' (known: " + join(task_names(), ", ") + ")");
  }
  return *spec;
}

}  // namespace seqenc
