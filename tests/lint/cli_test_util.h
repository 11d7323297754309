// Helpers for tests that run the real `dxnorm` binary on files written to a
// temporary directory: the tree, the child's exit status, stdout and stderr.
// Shared by tests/lint and tests/devtools.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace dxnorm::clitest {

namespace fs = std::filesystem;

// The code table both CLI test suites write into their mapping trees.
inline const char* const kSexTable =
    "table: t-sex\n"
    "source-system: urn:local\n"
    "target-system: http://hl7.org/fhir/administrative-gender\n"
    "entries:\n"
    "  M: male\n"
    "  F: female\n";

// A temporary directory, removed by the destructor.
class Tree {
 public:
  Tree() {
    std::string tmpl = (fs::temp_directory_path() / "dxnorm-clitest-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    root_ = tmpl;
  }
  ~Tree() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  Tree(const Tree&) = delete;
  Tree& operator=(const Tree&) = delete;

  std::string write(const std::string& rel, const std::string& text) const {
    fs::path p = root_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
    return p.string();
  }
  std::string read(const std::string& rel) const {
    std::ifstream in(root_ / rel, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void mkdir(const std::string& rel) const { fs::create_directories(root_ / rel); }
  void remove(const std::string& rel) const { fs::remove_all(root_ / rel); }
  bool exists(const std::string& rel) const { return fs::exists(root_ / rel); }
  const fs::path& path() const { return root_; }

 private:
  fs::path root_;
};

struct Run {
  int status = -1;  // exit code
  std::string out, err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs the dxnorm binary with `args` in directory `cwd`.
inline Run run_dxnorm(const fs::path& cwd, const std::vector<std::string>& args) {
  fs::path out = cwd / ".dxnorm-stdout", err = cwd / ".dxnorm-stderr";
  std::string cmd = "cd " + shell_quote(cwd.string()) + " && " + shell_quote(DXNORM_BINARY);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string()) + " </dev/null";
  int st = std::system(cmd.c_str());
  Run r;
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  r.out = slurp(out);
  r.err = slurp(err);
  fs::remove(out);
  fs::remove(err);
  return r;
}

inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) v.push_back(l);
  return v;
}

}  // namespace dxnorm::clitest
