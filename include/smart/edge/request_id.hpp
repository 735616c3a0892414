#pragma once
// Request ids (spec §4): echoed from X-Request-Id when it is safe to echo,
// generated otherwise. They go into response headers and log lines, so only
// a conservative character set and length are accepted (no header or log
// injection).

#include <cstddef>
#include <string>
#include <string_view>

namespace smart::edge {

inline constexpr std::size_t max_request_id_length = 128;

// 1..128 characters from [A-Za-z0-9._:-].
bool is_valid_request_id(std::string_view id);

// Replaces `out` with a new random id: 16 lowercase hex digits. Allocation-free
// once `out` has the capacity.
void generate_request_id(std::string& out);

}  // namespace smart::edge
