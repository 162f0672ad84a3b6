// The layering of lib/ (CONTRIBUTING.md), checked on the sources: a layer
// includes only itself and the layers below it, and the library touches no
// process state.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>

namespace fs = std::filesystem;

namespace {

// data < nn < train < tools; the root headers (error.h, strings.h, ...) are below them all.
const std::map<std::string, int> kLayers = {{"", -1}, {"data", 0}, {"nn", 1}, {"train", 2}, {"tools", 3}};

std::string layer_of(const fs::path& file, const fs::path& root) {
  const auto relative = fs::relative(file, root);
  return relative.has_parent_path() ? relative.begin()->string() : "";
}

std::vector<std::pair<fs::path, std::string>> library_files() {
  const fs::path lib = fs::path(SEQENC_SOURCE_DIR) / "lib";
  std::vector<std::pair<fs::path, std::string>> files;
  for (const auto& root : {lib / "include" / "seqenc", lib / "src"}) {
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file() || entry.path().filename() == "pch.h") continue;
      files.emplace_back(entry.path(), layer_of(entry.path(), root));
    }
  }
  return files;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("layout: every library file sits in a layer and includes no higher layer", "[layout]") {
  const std::regex include(R"re(#include "seqenc/(?:(\w+)/)?[\w.]+")re");
  const auto files = library_files();
  REQUIRE(files.size() > 40);
  for (const auto& [file, layer] : files) {
    INFO(file.string());
    REQUIRE(kLayers.count(layer) == 1);
    const std::string text = slurp(file);
    for (std::sregex_iterator it(text.begin(), text.end(), include), end; it != end; ++it) {
      const std::string included = (*it)[1].matched ? (*it)[1].str() : "";
      INFO("includes " << it->str());
      REQUIRE(kLayers.count(included) == 1);
      CHECK(kLayers.at(included) <= kLayers.at(layer));
    }
  }
}

TEST_CASE("layout: the library owns no process state", "[layout]") {
  const std::vector<std::string> forbidden = {
      "set_num_threads", "std::signal", "sigaction", "clear_refs", "std::exit", "_exit(", "spdlog::set_default_logger"};
  for (const auto& [file, layer] : library_files()) {
    const std::string text = slurp(file);
    for (const auto& word : forbidden) {
      INFO(file.string() << " uses " << word);
      CHECK(text.find(word) == std::string::npos);
    }
  }
}
