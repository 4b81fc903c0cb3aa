#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "core/temp_files.hpp"
#include "dare/core/file_io.hpp"

namespace {

std::string temp_dir() {
  const std::string dir = "/tmp/dare_file_io_test_" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0755);
  return dir;
}

std::string slurp(const std::string& path) {
  std::ifstream is(path, std::ios::binary);
  std::ostringstream os;
  os << is.rdbuf();
  return os.str();
}

}  // namespace

TEST_CASE("an atomic file replaces its target only on commit and leaves no temporary", "[core][file_io]") {
  const std::string dir = temp_dir();
  const std::string path = dir + "/out.txt";
  dare::write_text_file_atomically(path, "old\n", "test file");
  {
    dare::AtomicFile f(path, "test file");
    f.stream() << "new";
    CHECK(dare_test::temps_of(path).size() == 1);
    // destroyed without commit: the target keeps its old contents
  }
  CHECK(slurp(path) == "old\n");
  CHECK(dare_test::temps_of(path).empty());
  {
    dare::AtomicFile f(path, "test file");
    f.stream() << "new ";
    f.write("bytes", 5);
    f.commit();
  }
  CHECK(slurp(path) == "new bytes");
  CHECK(dare_test::temps_of(path).empty());
  std::remove(path.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("two atomic files for one target use different temporaries", "[core][file_io]") {
  const std::string dir = temp_dir();
  const std::string path = dir + "/shared.bin";
  dare::AtomicFile a(path, "test file");
  dare::AtomicFile b(path, "test file");
  CHECK(a.temp_path() != b.temp_path());
  CHECK(dare::detail::parent_directory(a.temp_path()) == dir);
  a.stream() << "a";
  a.commit();
  b.stream() << "b";
  b.commit();
  CHECK(slurp(path) == "b");
  std::remove(path.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("a temporary left by a dead writer is removed by the next write", "[core][file_io]") {
  const std::string dir = temp_dir();
  const std::string path = dir + "/model.ckpt";
  // pid 2^22 + 1 is above Linux's pid_max, so no process has it.
  const std::string stale = path + ".tmp.4194305.deadbeef";
  const std::string old_style = path + ".tmp.4194305";
  const std::string live = path + ".tmp." + std::to_string(::getppid()) + ".cafe0000";
  for (const std::string& p : {stale, old_style, live}) std::ofstream(p) << "partial";
  dare::write_text_file_atomically(path, "x", "test file");
  CHECK_FALSE(std::ifstream(stale).good());
  CHECK_FALSE(std::ifstream(old_style).good());
  CHECK(std::ifstream(live).good());  // its writer is alive: not ours to remove
  for (const std::string& p : {path, live}) std::remove(p.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("outputs that are devices, directories or an input of the run are refused", "[core][file_io]") {
  const std::string dir = temp_dir();
  const std::string input = dir + "/input.csv";
  std::ofstream(input) << "1,2,3,pv,4\n";
  CHECK_THROWS_WITH(dare::check_output_path("/dev/null", "--out"),
                    Catch::Contains("--out") && Catch::Contains("not a regular file"));
  CHECK_THROWS_WITH(dare::check_output_path(dir, "--out"), Catch::Contains("is a directory"));
  CHECK_THROWS_WITH(dare::check_output_path(dir + "/missing/x", "--out"), Catch::Contains("does not exist"));
  CHECK_THROWS_WITH(dare::check_output_path(input, "--out", {{input, "--input"}}),
                    Catch::Contains("same file as --input"));
  // Another spelling of the same file, and a hard link, are the same file too.
  CHECK_THROWS_AS(dare::check_output_path(dir + "/./input.csv", "--out", {{input, "--input"}}), std::invalid_argument);
  const std::string link = dir + "/link.csv";
  REQUIRE(::link(input.c_str(), link.c_str()) == 0);
  CHECK_THROWS_AS(dare::check_output_path(link, "--out", {{input, "--input"}}), std::invalid_argument);
  CHECK_NOTHROW(dare::check_output_path(dir + "/new.dare", "--out", {{input, "--input"}}));
  // The writer itself refuses a device too (it would otherwise rename over it).
  CHECK_THROWS_WITH(dare::write_text_file_atomically("/dev/null", "x", "metrics"),
                    Catch::Contains("not a regular file"));
  for (const std::string& p : {input, link}) std::remove(p.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("a full disk is an error on commit, and the temporary is removed", "[core][file_io]") {
  struct stat st {};
  if (::stat("/dev/full", &st) != 0) return;
  // The target check refuses /dev/full itself, so write to it through the stream buffer the
  // temporaries use: it must report ENOSPC, which commit() turns into an error.
  const int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  {
    dare::detail::FdStreamBuf buf(fd);
    std::ostream os(&buf);
    os << std::string(1 << 17, 'x');
    os.flush();
    CHECK(buf.error() == ENOSPC);
  }
  ::close(fd);
}

TEST_CASE("json_string escapes quotes, backslashes, control bytes and invalid UTF-8", "[core][file_io]") {
  CHECK(dare::json_string("plain") == "\"plain\"");
  CHECK(dare::json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(dare::json_string("tab\tnl\n") == "\"tab\\u0009nl\\u000a\"");
  CHECK(dare::json_string("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
  CHECK(dare::json_string("bad\xff") == "\"bad\\ufffd\"");
  CHECK(dare::json_string("\xc3") == "\"\\ufffd\"");
}
