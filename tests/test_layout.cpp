// The layering of lib/ (CONTRIBUTING.md), checked on the sources: a layer
// includes only itself and the layers below it, and the library touches no
// process state.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
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
  // SentencePiece's trainer runs in a child process (it may end the process it runs in); that child ends itself.
  const std::set<std::pair<std::string, std::string>> in_a_child = {{"sentencepiece.cpp", "_exit("}};
  for (const auto& [file, layer] : library_files()) {
    const std::string text = slurp(file);
    for (const auto& word : forbidden) {
      INFO(file.string() << " uses " << word);
      if (in_a_child.count({file.filename().string(), word}) == 0) CHECK(text.find(word) == std::string::npos);
    }
  }
}

namespace {

// The text with comments, string and character literals and preprocessor lines blanked (line breaks kept), so that
// only code's braces and semicolons are left to count.
std::string code_only(const std::string& text) {
  std::string out;
  const size_t n = text.size();
  bool line_start = true;
  for (size_t i = 0; i < n;) {
    const char c = text[i];
    if (line_start && c == '#') {  // a preprocessor line (with its continuations)
      while (i < n && !(text[i] == '\n' && text[i - 1] != '\\')) ++i;
      continue;
    }
    if (c == '\n' || !std::isspace(static_cast<unsigned char>(c))) line_start = c == '\n';
    if (text.compare(i, 2, "//") == 0) {
      while (i < n && text[i] != '\n') ++i;
      continue;
    }
    if (text.compare(i, 2, "/*") == 0) {
      const size_t end = std::min(n, text.find("*/", i + 2) + 2);
      out.append(static_cast<size_t>(std::count(text.begin() + i, text.begin() + end, '\n')), '\n');
      i = end;
      continue;
    }
    const bool identifier_before =
        i > 0 && (std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '_');
    if (c == 'R' && text.compare(i, 2, "R\"") == 0 && !identifier_before) {  // a raw string R"delim( ... )delim"
      const size_t open = text.find('(', i);
      const std::string close = ")" + text.substr(i + 2, open - i - 2) + "\"";
      const size_t end = text.find(close, open) + close.size();
      out.append(static_cast<size_t>(std::count(text.begin() + i, text.begin() + end, '\n')), '\n');
      out += "\"\"";
      i = end;
      continue;
    }
    if (c == '"' || (c == '\'' && !identifier_before)) {
      size_t j = i + 1;
      while (j < n && text[j] != c) j += text[j] == '\\' ? 2 : 1;
      out += c;
      out += c;
      i = j + 1;
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

struct FunctionSpan {
  int start = 0, lines = 0;
  std::string head;
};

// Functions defined at namespace or class scope (their lambdas and nested blocks count as theirs), from the line
// where the signature starts to the closing brace. A block's head is the code since the last ';', '{' or '}'.
std::vector<FunctionSpan> function_spans(const std::string& source) {
  static const std::regex control(R"(^(if|for|while|switch|catch|else|do|try|return)\b)");
  static const std::regex scope(R"(^(namespace|extern)\b)"), type(R"(^(template\s*<.*>\s*)?(class|struct|union)\b)");
  static const std::regex not_a_body(R"((=|\(|,)\s*$)");
  enum Kind { kScope, kFunction, kOther };
  struct Open {
    Kind kind;
    int start;
    std::string head;
  };
  std::vector<Open> stack;
  std::vector<FunctionSpan> spans;
  std::string head;
  int line = 1, head_line = 1;
  for (const char c : code_only(source)) {
    if (c == '{') {
      std::string h = std::regex_replace(head, std::regex(R"(\s+)"), " ");
      h = std::regex_replace(h, std::regex(R"(^ | $)"), "");
      Kind kind = kOther;
      if (std::regex_search(h, scope) || (std::regex_search(h, type) && h.find('(') == std::string::npos)) {
        kind = kScope;
      } else if (h.find('(') != std::string::npos && !std::regex_search(h, control) &&
                 h.find("](") == std::string::npos && h.find("= [") == std::string::npos &&
                 !std::regex_search(h, not_a_body) && (stack.empty() || stack.back().kind == kScope)) {
        kind = kFunction;
      }
      stack.push_back({kind, head_line, h});
      head.clear();
    } else if (c == '}' || c == ';') {
      if (c == '}' && !stack.empty()) {
        if (stack.back().kind == kFunction)
          spans.push_back({stack.back().start, line - stack.back().start + 1, stack.back().head});
        stack.pop_back();
      }
      head.clear();
    } else {
      if (head.find_first_not_of(" \t\n") == std::string::npos && !std::isspace(static_cast<unsigned char>(c)))
        head_line = line;
      head += c;
    }
    if (c == '\n') ++line;
  }
  return spans;
}

std::vector<fs::path> sources_under(const fs::path& root) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const auto ext = entry.path().extension();
    if (entry.is_regular_file() && (ext == ".cpp" || ext == ".h")) files.push_back(entry.path());
  }
  return files;
}

}  // namespace

TEST_CASE("layout: the function-length check finds functions and their lengths", "[layout]") {
  const std::string source =
      "#include <x>\nnamespace a {\nnamespace {\nint f(int x) {\n  if (x) {\n    return 1;\n  }\n  "
      "auto g = [](int y) { return y; };\n  return \"}\" [0];\n}\n}  // namespace\nstruct S {\n  void m() const "
      "{ }\n};\nS::S() : v(1) {\n  // }\n}\nconst std::vector<int> table = {1, 2};\n}  // namespace a\n";
  const auto spans = function_spans(source);
  REQUIRE(spans.size() == 3);
  CHECK(spans[0].head == "int f(int x)");
  CHECK(spans[0].start == 4);
  CHECK(spans[0].lines == 7);
  CHECK(spans[1].head == "void m() const");
  CHECK(spans[2].head == "S::S() : v(1)");
  CHECK(spans[2].lines == 3);
}

TEST_CASE("layout: no function in lib/ or app/ is over 60 lines", "[layout]") {
  const fs::path root(SEQENC_SOURCE_DIR);
  int functions = 0;
  for (const auto& dir : {root / "lib", root / "app"}) {
    for (const auto& file : sources_under(dir)) {
      for (const auto& f : function_spans(slurp(file))) {
        ++functions;
        INFO(file.string() << ":" << f.start << " " << f.head << " is " << f.lines << " lines");
        CHECK(f.lines <= 60);
      }
    }
  }
  CHECK(functions > 300);  // the check saw the code
}

TEST_CASE("layout: only the synchronisation layer knows whether there is a process group", "[layout]") {
  const std::regex group_member(R"(\.group\b)");
  const fs::path root(SEQENC_SOURCE_DIR);
  for (const auto& dir : {root / "lib" / "src", root / "app"}) {
    for (const auto& file : sources_under(dir)) {
      const auto name = file.filename().string();
      if (name == "sync.cpp" || name == "distributed_sync.cpp" || name == "distributed.cpp") continue;  // c10d itself
      INFO(file.string());
      CHECK(!std::regex_search(slurp(file), group_member));
    }
  }
}

TEST_CASE("layout: the README is a page a newcomer reads at once", "[layout]") {
  const auto readme = slurp(fs::path(SEQENC_SOURCE_DIR) / "README.md");
  CHECK(std::count(readme.begin(), readme.end(), '\n') <= 150);
  for (const char* page :
       {"configuration", "data-formats", "performance", "reliability", "data-parallel", "export", "architecture"}) {
    INFO(page);
    CHECK(fs::exists(fs::path(SEQENC_SOURCE_DIR) / "docs" / (std::string(page) + ".md")));
    CHECK(readme.find("docs/" + std::string(page) + ".md") != std::string::npos);
  }
}
