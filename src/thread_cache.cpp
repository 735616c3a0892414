// The service's operator new and delete: a per-thread cache of freed blocks
// in front of malloc.
//
// A proxied request allocates about ten short-lived blocks: coroutine frames
// and Asio's operations. Asio keeps a small per-thread cache of its own, and
// glibc one of seven blocks per size, but completions come in bursts of
// dozens (one epoll_wait, many sockets), so both overflow and most blocks go
// through malloc's slower paths. This cache holds up to `per_class` blocks of
// each size, in 16-byte classes up to `largest`, and at most `byte_limit`
// bytes per thread; anything else goes straight to malloc and free.
//
// Blocks come from malloc, sized to their class, so a block's class follows
// from malloc_usable_size() on any delete. A block freed on another thread
// joins that thread's cache. Linked into the service's executable only
// (sanitizer builds keep their own operator new).

#include "smart/thread_cache.hpp"

#include <malloc.h>

#include <cstddef>
#include <cstdlib>
#include <new>

namespace smart {
namespace {

struct node {
  node* next;
};

struct thread_cache {
  node* heads[thread_cache_limits::classes + 1];
  std::uint32_t counts[thread_cache_limits::classes + 1];
  std::size_t bytes;
  bool registered;  // the flush at thread exit is set up
  bool closed;      // the thread is exiting: no more caching
};

// Zero-initialised and trivially destructible: no guard on the hot path.
thread_local thread_cache cache;

void flush(thread_cache& c) {
  for (std::size_t i = 0; i <= thread_cache_limits::classes; ++i) {
    while (node* n = c.heads[i]) {
      c.heads[i] = n->next;
      std::free(n);
    }
    c.counts[i] = 0;
  }
  c.bytes = 0;
}

// Returns the thread's blocks to malloc when the thread ends.
struct flush_at_exit {
  ~flush_at_exit() {
    cache.closed = true;
    flush(cache);
  }
};

// What a block of a class takes from malloc: its size plus glibc's header,
// rounded to 16 bytes. The byte limit counts this.
constexpr std::size_t chunk_bytes(std::size_t cls) {
  return (cls + 1) * 16;
}

void* allocate(std::size_t size) {
  // Class 0 means "not cached"; a zero-byte request takes a block of class 1.
  const std::size_t cls = size == 0                              ? 1
                          : size <= thread_cache_limits::largest ? (size + 15) / 16
                                                                 : 0;
  if (cls != 0) {
    auto& c = cache;
    if (node* n = c.heads[cls]) {
      c.heads[cls] = n->next;
      --c.counts[cls];
      c.bytes -= chunk_bytes(cls);
      return n;
    }
  }
  // A fresh block, sized to its class so that it can be cached when freed.
  const std::size_t bytes = cls != 0 ? cls * 16 : size;
  for (;;) {
    if (void* p = std::malloc(bytes)) {
      return p;
    }
    auto handler = std::get_new_handler();
    if (handler == nullptr) {
      throw std::bad_alloc{};
    }
    handler();
  }
}

void release(void* p) noexcept {
  if (p == nullptr) {
    return;
  }
  auto& c = cache;
  const std::size_t cls = ::malloc_usable_size(p) / 16;
  if (cls != 0 && cls <= thread_cache_limits::classes &&
      c.counts[cls] < thread_cache_limits::per_class &&
      c.bytes + chunk_bytes(cls) <= thread_cache_limits::byte_limit && !c.closed) {
    if (!c.registered) {
      c.registered = true;
      static thread_local flush_at_exit at_exit;
      (void)at_exit;
    }
    auto* n = static_cast<node*>(p);
    n->next = c.heads[cls];
    c.heads[cls] = n;
    ++c.counts[cls];
    c.bytes += chunk_bytes(cls);
    return;
  }
  std::free(p);
}

}  // namespace

std::uint32_t thread_cache_blocks(std::size_t size) {
  const std::size_t cls = (size + 15) / 16;
  return cls != 0 && cls <= thread_cache_limits::classes ? cache.counts[cls] : 0;
}

std::size_t thread_cache_bytes() {
  return cache.bytes;
}

}  // namespace smart

void* operator new(std::size_t size) {
  return smart::allocate(size);
}
void* operator new[](std::size_t size) {
  return smart::allocate(size);
}
void* operator new(std::size_t size, const std::nothrow_t& /*tag*/) noexcept {
  try {
    return smart::allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t& /*tag*/) noexcept {
  try {
    return smart::allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept {
  smart::release(p);
}
void operator delete[](void* p) noexcept {
  smart::release(p);
}
void operator delete(void* p, std::size_t /*size*/) noexcept {
  smart::release(p);
}
void operator delete[](void* p, std::size_t /*size*/) noexcept {
  smart::release(p);
}
void operator delete(void* p, const std::nothrow_t& /*tag*/) noexcept {
  smart::release(p);
}
void operator delete[](void* p, const std::nothrow_t& /*tag*/) noexcept {
  smart::release(p);
}
