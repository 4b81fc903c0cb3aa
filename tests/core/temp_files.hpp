// Test helper: the temporaries a dare writer left next to a target ("<path>.tmp.*").
#pragma once

#include <dirent.h>

#include <string>
#include <vector>

#include "dare/core/file_io.hpp"

namespace dare_test {

/// Names of the files in the target's directory that start with "<base name>.tmp".
inline std::vector<std::string> temps_of(const std::string& path) {
  const std::string dir = dare::detail::parent_directory(path);
  const std::string prefix = dare::detail::base_name(path) + ".tmp";
  std::vector<std::string> found;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.compare(0, prefix.size(), prefix) == 0) found.push_back(name);
    }
    ::closedir(d);
  }
  return found;
}

}  // namespace dare_test
