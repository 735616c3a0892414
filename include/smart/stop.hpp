#pragma once
// Stop requests for work confined to one executor (a strand): the requester
// and the worker run on it, so there are no atomics and no allocation, unlike
// std::stop_source. A registered callback runs inside request_stop().

#include <utility>

namespace smart {

class stop_signal;

class stop_callback_base {
 public:
  stop_callback_base(const stop_callback_base&) = delete;
  stop_callback_base& operator=(const stop_callback_base&) = delete;

 protected:
  using invoke_fn = void (*)(stop_callback_base*);
  stop_callback_base(stop_signal& signal, invoke_fn fn) : signal_{signal}, invoke_{fn} {}
  ~stop_callback_base() = default;
  void attach();
  void detach();

 private:
  friend class stop_signal;
  void invoke() { invoke_(this); }

  stop_signal& signal_;
  invoke_fn invoke_;
  stop_callback_base* next_ = nullptr;
  stop_callback_base* prev_ = nullptr;
};

class stop_signal {
 public:
  stop_signal() = default;
  stop_signal(const stop_signal&) = delete;
  stop_signal& operator=(const stop_signal&) = delete;

  [[nodiscard]] bool stop_requested() const { return requested_; }

  // Marks the work stopped and runs the registered callbacks, once.
  void request_stop() {
    if (requested_) {
      return;
    }
    requested_ = true;
    while (callbacks_ != nullptr) {
      auto* c = callbacks_;
      c->detach();
      c->invoke();
    }
  }

  // Makes the signal usable for the next piece of work.
  void reset() { requested_ = false; }

 private:
  friend class stop_callback_base;
  stop_callback_base* callbacks_ = nullptr;
  bool requested_ = false;
};

inline void stop_callback_base::attach() {
  next_ = signal_.callbacks_;
  if (next_ != nullptr) {
    next_->prev_ = this;
  }
  signal_.callbacks_ = this;
}

inline void stop_callback_base::detach() {
  if (prev_ != nullptr) {
    prev_->next_ = next_;
  } else if (signal_.callbacks_ == this) {
    signal_.callbacks_ = next_;
  }
  if (next_ != nullptr) {
    next_->prev_ = prev_;
  }
  next_ = prev_ = nullptr;
}

// Runs `f` when a stop is requested while it is alive (at once if it already
// was). Unregisters on destruction.
template <typename F>
class stop_callback final : public stop_callback_base {
 public:
  stop_callback(stop_signal& signal, F f)
      : stop_callback_base{signal,
                           [](stop_callback_base* self) {
                             static_cast<stop_callback*>(self)->f_();
                           }},
        f_{std::move(f)} {
    if (signal.stop_requested()) {
      f_();
    } else {
      attach();
    }
  }
  ~stop_callback() { detach(); }
  stop_callback(const stop_callback&) = delete;
  stop_callback& operator=(const stop_callback&) = delete;

 private:
  F f_;
};

}  // namespace smart
