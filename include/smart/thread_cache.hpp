#pragma once
// Limits of the service's per-thread allocation cache (src/thread_cache.cpp),
// which replaces operator new and delete in the smart-api executable.

#include <cstddef>
#include <cstdint>

namespace smart::thread_cache_limits {

// Blocks up to this size are cached, in classes 16 bytes apart.
constexpr std::size_t largest = 2048;
constexpr std::size_t classes = largest / 16;
// Per thread: at most this many free blocks of one class, and this many
// bytes in all (as malloc counts them, headers included). A burst larger
// than that goes back to malloc.
constexpr std::uint32_t per_class = 512;
constexpr std::size_t byte_limit = std::size_t{1} << 20;

}  // namespace smart::thread_cache_limits

namespace smart {

// The calling thread's cache: free blocks held for allocations of `size`
// bytes, and bytes held in all. For tests and diagnostics.
std::uint32_t thread_cache_blocks(std::size_t size);
std::size_t thread_cache_bytes();

}  // namespace smart
