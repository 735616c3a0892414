#include "smart/io/tracked_read.hpp"

#if SMART_TRACKED_READS

namespace smart::tracked_read_detail {

namespace {

// A registration's pointer to its reactor is private. An explicit
// instantiation may name private members; the friend function it defines
// hands the member pointer out. (The instantiation may be defined only once
// in a program, hence this file.)
struct registration_reactor {
  using type = ad::reactor* ad::reactor::descriptor_state::*;
  friend type member(registration_reactor);
};

template <typename Tag, typename Tag::type Member>
struct expose_member {
  friend typename Tag::type member(Tag) { return Member; }
};

template struct expose_member<registration_reactor, &ad::reactor::descriptor_state::reactor_>;

}  // namespace

ad::reactor& reactor_of(tcp::socket& socket) {
  auto* registration = socket_access::implementation(socket).reactor_data_;
  if (registration != nullptr) {
    return *(registration->*member(registration_reactor{}));
  }
  // Closed: no registration (the read then fails with bad_descriptor).
  return net::use_service<ad::reactor>(net::query(socket.get_executor(), net::execution::context));
}

}  // namespace smart::tracked_read_detail

#endif  // SMART_TRACKED_READS
