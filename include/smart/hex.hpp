#pragma once
// The value of a hexadecimal digit, for the parsers that meet them
// (percent-encoding in a query, \u escapes in JSON).

namespace smart {

// 0-15, or -1 when `c` is not a hexadecimal digit (either case).
constexpr int hex_digit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace smart
