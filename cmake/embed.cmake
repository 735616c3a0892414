# Turns INPUT into a C++ translation unit defining
#   std::string_view smart::embedded::SYMBOL()
# Run as: cmake -DINPUT=file -DOUTPUT=file.cpp -DSYMBOL=name -P embed.cmake
file(READ "${INPUT}" content HEX)
string(LENGTH "${content}" hex_length)
math(EXPR size "${hex_length} / 2")
# Emit the bytes as a character array: safe for any content, no raw-string
# delimiter to collide with.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${content}")
file(WRITE "${OUTPUT}"
"// Generated from ${INPUT}; do not edit.
#include <string_view>

namespace smart::embedded {
namespace {
constexpr char data[] = {${bytes} '\\0'};
}  // namespace

std::string_view ${SYMBOL}() { return {data, ${size}}; }
}  // namespace smart::embedded
")
