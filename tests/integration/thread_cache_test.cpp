// The service's operator new and delete (src/thread_cache.cpp): freed blocks
// are reused by the same thread for the same size class, within the limits,
// and go back to malloc when the thread ends. (Every other integration test
// runs on this allocator too.)

#include "smart/thread_cache.hpp"

#include <malloc.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

namespace smart::testing {
namespace {

namespace limits = thread_cache_limits;

// Bytes malloc has handed out and not had back, over all arenas.
std::size_t malloc_in_use() {
  return ::mallinfo2().uordblks;
}

TEST(ThreadCache, AFreedBlockIsReusedForTheSameSizeClass) {
  void* p = ::operator new(100);
  ::operator delete(p);
  void* q = ::operator new(112);  // 100 and 112 bytes share a 16-byte class
  EXPECT_EQ(q, p);
  std::memset(q, 0xab, 112);
  ::operator delete(q);
}

TEST(ThreadCache, ABlockServesNoLargerClass) {
  void* p = ::operator new(100);
  ::operator delete(p);
  void* q = ::operator new(200);
  EXPECT_NE(q, p);
  std::memset(q, 0xab, 200);
  ::operator delete(q);
}

TEST(ThreadCache, AClassHoldsAtMostItsLimit) {
  constexpr std::size_t size = 1000;
  const auto before = thread_cache_blocks(size);
  std::vector<void*> blocks(limits::per_class + 10);
  for (auto& b : blocks) {
    b = ::operator new(size);
  }
  EXPECT_EQ(thread_cache_blocks(size), before > blocks.size() ? before - blocks.size() : 0u);
  for (auto* b : blocks) {
    ::operator delete(b);
  }
  EXPECT_EQ(thread_cache_blocks(size), limits::per_class);
  EXPECT_LE(thread_cache_bytes(), limits::byte_limit);
}

TEST(ThreadCache, AThreadHoldsAtMostTheByteLimit) {
  constexpr std::size_t size = limits::largest;
  std::vector<void*> blocks(limits::byte_limit / size + 64);
  for (auto& b : blocks) {
    b = ::operator new(size);
  }
  for (auto* b : blocks) {
    ::operator delete(b);
  }
  EXPECT_LE(thread_cache_bytes(), limits::byte_limit);
  EXPECT_GT(thread_cache_bytes(), limits::byte_limit - size);
}

TEST(ThreadCache, LargeBlocksAreNotCached) {
  const auto bytes = thread_cache_bytes();
  void* p = ::operator new(2 * limits::largest);
  std::memset(p, 0xab, 2 * limits::largest);
  ::operator delete(p);
  EXPECT_EQ(thread_cache_bytes(), bytes);
}

TEST(ThreadCache, ABlockFreedOnAnotherThreadIsCachedThere) {
  void* p = ::operator new(300);
  std::thread other{[p] {
    ::operator delete(p);
    EXPECT_EQ(thread_cache_blocks(300), 1u);
    void* q = ::operator new(300);
    EXPECT_EQ(q, p);
    ::operator delete(q);
  }};
  other.join();
}

TEST(ThreadCache, AThreadsBlocksGoBackToMallocWhenItEnds) {
  constexpr std::size_t size = 64;
  constexpr int count = 200;
  const auto before = malloc_in_use();
  std::thread worker{[] {
    std::vector<void*> blocks(count);
    for (auto& b : blocks) {
      b = ::operator new(size);
    }
    for (auto* b : blocks) {
      ::operator delete(b);
    }
    EXPECT_EQ(thread_cache_blocks(size), static_cast<std::uint32_t>(count));
  }};
  worker.join();
  // Held by the cache they would still count as in use: 200 blocks of 80 bytes.
  EXPECT_LT(malloc_in_use(), before + 4096);
}

TEST(ThreadCache, BlocksAreAlignedForAnyFundamentalType) {
  std::vector<void*> blocks;
  for (std::size_t size : {0, 1, 8, 15, 16, 17, 100, 1000, 2048, 4096}) {
    void* p = ::operator new(size);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % __STDCPP_DEFAULT_NEW_ALIGNMENT__, 0u) << size;
    blocks.push_back(p);
  }
  for (auto* p : blocks) {
    ::operator delete(p);
  }
  // A zero-byte request gets a block of its own, cached like any other.
  void* zero = ::operator new(0);
  ::operator delete(zero);
  void* again = ::operator new(0);
  EXPECT_EQ(again, zero);
  ::operator delete(again);
}

TEST(ThreadCache, NothrowAndArrayFormsShareTheCache) {
  auto* a = new (std::nothrow) char[500];
  ASSERT_NE(a, nullptr);
  delete[] a;
  auto* b = new char[500];
  EXPECT_EQ(static_cast<void*>(b), static_cast<void*>(a));
  delete[] b;
}

}  // namespace
}  // namespace smart::testing
