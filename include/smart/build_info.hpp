#pragma once
// What the binary is: filled in by CMake in one generated translation unit.

#include <string_view>

namespace smart::build_info {

// The project version from CMakeLists.txt.
std::string_view version();

// The source revision the binary was built from (git, short), or "unknown".
std::string_view revision();

}  // namespace smart::build_info
