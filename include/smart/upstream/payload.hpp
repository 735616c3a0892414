#pragma once
// The rule that makes an upstream answer a success (spec §1): the body parses
// as a JSON object whose "time" member is a non-negative integer.

#include <string_view>

namespace smart {

// True when body is a JSON object (RFC 8259, UTF-8, nothing after it but
// whitespace) with exactly one top-level "time" member holding a non-negative
// integer. Other members are allowed and ignored. Validates without building a
// document.
bool is_valid_payload(std::string_view body) noexcept;

}  // namespace smart
