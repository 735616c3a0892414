#pragma once
// Socket reads that remember when they emptied the socket.
//
// Asio starts every read with a speculative recv(). On a proxy that is almost
// always wasted: after a request goes upstream, or a response goes back to
// the client, the peer has not answered yet, and the recv() finds nothing.
// That is one empty system call per read, two per proxied request.
//
// These reads tell the reactor when they leave room in the buffer: the socket
// had nothing more. The reactor then skips the speculative attempt of the
// next read on that socket until epoll reports new data (this is the
// reactor's own readiness flag, the one it already keeps for end of stream).
// Data that arrives later raises a new edge-triggered event, and that event
// sets the flag again. The read and the event's handling both run under the
// descriptor's lock, so this holds with several threads too.
//
// What the flag cannot know: an end of stream (or a reset) that arrived
// together with the data just read. Its event is spent, and a read that
// waits for the next one may wait for good. Hence two reads:
//   - async_read_reply(): the first read of the peer's answer to what was
//     just sent. It skips the empty recv(). A peer that closed right after its
//     last message is noticed later: an upstream that closed resets the
//     connection when the next request reaches it, and an idle client
//     connection is checked by the edge's sweep. (An upstream that only
//     half-closes after a keep-alive answer and keeps reading, as a relay in
//     a lingering close may, leaves that attempt waiting for its deadline.)
//   - async_read_more(): any other read, such as the rest of a message. It
//     asks epoll to report the socket's state afresh, so a pending end of
//     stream is seen at once. async_read_next() picks between the two for
//     the rest of a message: after a read that filled its buffer the flag is
//     still set, and the recv() can happen at once.
//
// Both need Asio's reactor internals (the epoll reactor, its operations and
// per-descriptor state), so they are kept to this header; callers see
// ordinary asynchronous operations with the signature
// void(error_code, std::size_t), cancellation included.
//
// Those internals are private to Asio and change between releases (from
// Boost 1.84 Asio completes reads through the immediate executor, which the
// operation here skips). So the tracked reads are a build option,
// SMART_TRACKED_READS (on by default), refused for any Boost release they
// were not tested with; with it off, all three reads are plain
// async_read_some() (Asio's speculative recv() included), and everything
// else behaves the same. CI runs the suite both ways. What they buy is
// measured in the README (Design).

#include <cstddef>
#include <memory>
#include <utility>

#include "smart/net.hpp"

#if SMART_TRACKED_READS

#include <boost/version.hpp>

#if BOOST_VERSION != 108100
#error \
    "tracked reads rely on Asio internals tested with Boost 1.81 only: configure with -DSMART_TRACKED_READS=OFF"
#endif
#if !defined(BOOST_ASIO_HAS_EPOLL) || defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#error "tracked reads assume Asio's epoll reactor: configure with -DSMART_TRACKED_READS=OFF"
#endif

namespace smart {

namespace tracked_read_detail {

namespace ad = boost::asio::detail;

// The socket's implementation: its descriptor, reactor data and state.
struct socket_access : tcp::socket {
  static auto& implementation(tcp::socket& socket) {
    auto member = &socket_access::impl_;
    return (socket.*member).get_implementation();
  }
};

// The reactor that serves the socket: found through the socket's own
// registration with it (one load) rather than use_service(), a locked search
// of the context's services by type name on every read. In tracked_read.cpp.
ad::reactor& reactor_of(tcp::socket& socket);

template <typename Handler, typename IoExecutor>
class read_op : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(read_op);

  read_op(int descriptor, net::mutable_buffer buffer, Handler& handler, const IoExecutor& io_ex)
      : ad::reactor_op(error_code{}, &read_op::do_perform, &read_op::do_complete),
        descriptor_{descriptor},
        buffer_{buffer},
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  Handler& handler() { return handler_; }

  // Called by the reactor under the descriptor's lock: speculatively when
  // the read starts (unless the socket is known to be empty), then on each
  // readiness event until it is done.
  static status do_perform(ad::reactor_op* base) {
    auto* o = static_cast<read_op*>(base);
    if (!ad::socket_ops::non_blocking_recv1(o->descriptor_, o->buffer_.data(), o->buffer_.size(), 0,
                                            true, o->ec_, o->bytes_transferred_)) {
      return not_done;  // nothing there: wait for the next event
    }
    // An error, the end of the stream, or a read that did not fill the
    // buffer: the socket has nothing more for now.
    if (o->ec_ || o->bytes_transferred_ < o->buffer_.size()) {
      return done_and_exhausted;
    }
    return done;
  }

  static void do_complete(void* owner, ad::operation* base, const error_code& /*ec*/,
                          std::size_t /*bytes_transferred*/) {
    auto* o = static_cast<read_op*>(base);
    ptr p = {std::addressof(o->handler_), o, o};
    ad::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    // The handler is moved out so that the operation's memory is released
    // before the upcall, as Asio's own operations do.
    ad::binder2<Handler, error_code, std::size_t> bound(o->handler_, o->ec_, o->bytes_transferred_);
    p.h = std::addressof(bound.handler_);
    p.reset();
    if (owner != nullptr) {
      ad::fenced_block b(ad::fenced_block::half);
      w.complete(bound, bound.handler_);
    }
  }

 private:
  int descriptor_;
  net::mutable_buffer buffer_;
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
};

// Per-operation cancellation, as for Asio's own reads.
class read_cancellation {
 public:
  read_cancellation(ad::reactor* reactor, ad::reactor::per_descriptor_data* data, int descriptor)
      : reactor_{reactor}, data_{data}, descriptor_{descriptor} {}

  void operator()(net::cancellation_type_t type) {
    constexpr auto kinds = net::cancellation_type::terminal | net::cancellation_type::partial |
                           net::cancellation_type::total;
    if (!!(type & kinds)) {
      reactor_->cancel_ops_by_key(descriptor_, *data_, ad::reactor::read_op, this);
    }
  }

 private:
  ad::reactor* reactor_;
  ad::reactor::per_descriptor_data* data_;
  int descriptor_;
};

struct initiate_read {
  template <typename ReadHandler>
  void operator()(ReadHandler&& handler, tcp::socket* socket, net::mutable_buffer buffer,
                  bool speculative) const {
    using handler_type = std::decay_t<ReadHandler>;
    using executor_type = tcp::socket::executor_type;
    using op = read_op<handler_type, executor_type>;
    auto& impl = socket_access::implementation(*socket);
    auto& reactor = reactor_of(*socket);
    const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);

    typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) op(impl.socket_, buffer, handler, socket->get_executor());
    auto slot = net::get_associated_cancellation_slot(p.p->handler());
    if (slot.is_connected()) {
      p.p->cancellation_key_ =
          &slot.template emplace<read_cancellation>(&reactor, &impl.reactor_data_, impl.socket_);
    }
    if (buffer.size() == 0) {
      reactor.post_immediate_completion(p.p, is_continuation);  // nothing to read into
    } else if ((impl.state_ & ad::socket_ops::non_blocking) == 0 &&
               !ad::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true,
                                                          p.p->ec_)) {
      reactor.post_immediate_completion(p.p, is_continuation);  // completes with that error
    } else {
      // Not speculative: the reactor re-arms the descriptor (epoll_ctl), and
      // epoll reports it at once if it is readable.
      reactor.start_op(ad::reactor::read_op, impl.socket_, impl.reactor_data_, p.p, is_continuation,
                       speculative);
    }
    p.v = p.p = nullptr;
  }
};

}  // namespace tracked_read_detail

// The next read of a message, after a read that did (`after_full`) or did not
// fill its buffer. A full read leaves the reactor's flag set, so the recv()
// happens at once, as in async_read_reply(): a large message is read without
// a trip through epoll per buffer. After a short read, as async_read_more().
template <typename CompletionToken>
auto async_read_next(tcp::socket& socket, net::mutable_buffer buffer, bool after_full,
                     CompletionToken&& token) {
  return net::async_initiate<CompletionToken, void(error_code, std::size_t)>(
      tracked_read_detail::initiate_read{}, token, &socket, buffer, after_full);
}

// The first read of the peer's answer to what was just sent, on a plain TCP
// socket: async_read_some() without the empty recv() after a read that
// emptied the socket. Completes with (error_code, bytes).
template <typename CompletionToken>
auto async_read_reply(tcp::socket& socket, net::mutable_buffer buffer, CompletionToken&& token) {
  return async_read_next(socket, buffer, true, std::forward<CompletionToken>(token));
}

// Any other read on a socket that async_read_reply() reads: it sees an end of
// stream that came with earlier data. Completes with (error_code, bytes).
template <typename CompletionToken>
auto async_read_more(tcp::socket& socket, net::mutable_buffer buffer, CompletionToken&& token) {
  return async_read_next(socket, buffer, false, std::forward<CompletionToken>(token));
}

}  // namespace smart

#else  // !SMART_TRACKED_READS: Asio's own reads

namespace smart {

template <typename CompletionToken>
auto async_read_next(tcp::socket& socket, net::mutable_buffer buffer, bool /*after_full*/,
                     CompletionToken&& token) {
  return socket.async_read_some(buffer, std::forward<CompletionToken>(token));
}

template <typename CompletionToken>
auto async_read_reply(tcp::socket& socket, net::mutable_buffer buffer, CompletionToken&& token) {
  return socket.async_read_some(buffer, std::forward<CompletionToken>(token));
}

template <typename CompletionToken>
auto async_read_more(tcp::socket& socket, net::mutable_buffer buffer, CompletionToken&& token) {
  return socket.async_read_some(buffer, std::forward<CompletionToken>(token));
}

}  // namespace smart

#endif  // SMART_TRACKED_READS
