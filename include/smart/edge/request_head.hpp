#pragma once
// A request-head reader for Beast's HTTP/1.1 parser that keeps only what the
// routes use (method, target, version, X-Request-Id, the trace context,
// If-None-Match) and
// what the edge checks (Host, Transfer-Encoding): no header map is built,
// so reading a request allocates nothing once the strings have capacity.
// Shared by the service's edge and the upstream simulator.

#include "smart/edge/target.hpp"
#include "smart/net.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace smart::edge {

// Request line and headers together; beyond it the edge answers 414 or 431.
inline constexpr std::uint32_t request_header_limit = 8 * 1024;

// Fields of a request that only the service's edge reads, as received: the
// W3C Trace Context, and If-None-Match for the documents.
struct extra_fields {
  std::string traceparent;  // the first field's value
  int traceparent_count = 0;
  std::string tracestate;     // every field's value, joined with ',' (one list)
  std::string if_none_match;  // likewise

  void clear() {
    traceparent.clear();
    traceparent_count = 0;
    tracestate.clear();
    if_none_match.clear();
  }
};

// Reads a request head, keeping only what the routes use: no header map is
// built. The strings belong to the session and keep their capacity. The
// extra fields are kept when `extra` is given.
class request_head final : public http::basic_parser<true> {
 public:
  request_head(std::string& target, std::string& request_id, extra_fields* extra = nullptr)
      : target_{target}, request_id_{request_id}, extra_{extra} {
    header_limit(request_header_limit);
    target_.clear();
    request_id_.clear();
    if (extra_ != nullptr) {
      extra_->clear();
    }
  }

  [[nodiscard]] http::verb method() const { return method_; }
  [[nodiscard]] std::string_view method_text() const { return method_text_; }
  [[nodiscard]] int version() const { return version_; }
  // Whether the request line was complete (to tell 414 from 431 on overflow).
  [[nodiscard]] bool has_request_line() const { return has_request_line_; }
  // Host field lines received, and whether each value was well formed.
  [[nodiscard]] int host_fields() const { return host_fields_; }
  [[nodiscard]] bool host_valid() const { return host_valid_; }
  // Whether a Transfer-Encoding field came at all, and whether its final
  // coding is exactly "chunked". When it is not, the body's length cannot be
  // known (RFC 9112 §6.3), but Beast may read the request as having no body
  // (or, for a malformed list such as "chunked x", as chunked): this is the
  // edge's own reading.
  [[nodiscard]] bool has_transfer_encoding() const { return has_transfer_encoding_; }
  [[nodiscard]] bool chunked_final() const { return chunked_final_; }

 private:
  void on_request_impl(http::verb method, beast::string_view method_str, beast::string_view target,
                       int version, error_code& /*ec*/) override {
    method_ = method;
    // Known methods have static names; anything else is logged generically.
    method_text_ = method == http::verb::unknown ? std::string_view{"OTHER"}
                                                 : std::string_view{http::to_string(method)};
    (void)method_str;
    target_.assign(target.data(), target.size());
    version_ = version;
    has_request_line_ = true;
  }
  void on_response_impl(int /*code*/, beast::string_view /*reason*/, int /*version*/,
                        error_code& /*ec*/) override {}
  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     error_code& /*ec*/) override {
    if (name == http::field::host) {
      ++host_fields_;
      host_valid_ = host_valid_ && valid_host({value.data(), value.size()});
    } else if (name == http::field::transfer_encoding) {
      has_transfer_encoding_ = true;
      // The codings of all the fields form one list: the last field's last
      // element is the final coding.
      auto codings = std::string_view{value.data(), value.size()};
      codings = codings.substr(codings.find_last_of(',') + 1);
      const auto first = codings.find_first_not_of(" \t");
      const auto last = codings.find_last_not_of(" \t");
      chunked_final_ = first != std::string_view::npos &&
                       beast::iequals(codings.substr(first, last - first + 1), "chunked");
    } else if (request_id_.empty() && beast::iequals(name_string, "x-request-id")) {
      request_id_.assign(value.data(), value.size());
    } else if (extra_ != nullptr && beast::iequals(name_string, "traceparent")) {
      if (extra_->traceparent_count++ == 0) {
        extra_->traceparent.assign(value.data(), value.size());
      }
    } else if (extra_ != nullptr && beast::iequals(name_string, "tracestate")) {
      // Its fields form one list (RFC 9110 §5.3), which is what the limits
      // apply to. Bounded by the head's size limit.
      if (!extra_->tracestate.empty()) {
        extra_->tracestate += ',';
      }
      extra_->tracestate.append(value.data(), value.size());
    } else if (extra_ != nullptr && name == http::field::if_none_match) {
      if (!extra_->if_none_match.empty()) {
        extra_->if_none_match += ',';
      }
      extra_->if_none_match.append(value.data(), value.size());
    }
  }
  void on_header_impl(error_code& /*ec*/) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& /*length*/,
                         error_code& /*ec*/) override {}
  std::size_t on_body_impl(beast::string_view body, error_code& /*ec*/) override {
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t /*size*/, beast::string_view /*extensions*/,
                            error_code& /*ec*/) override {}
  std::size_t on_chunk_body_impl(std::uint64_t /*remain*/, beast::string_view body,
                                 error_code& /*ec*/) override {
    return body.size();
  }
  void on_finish_impl(error_code& /*ec*/) override {}

  std::string& target_;
  std::string& request_id_;
  extra_fields* extra_;
  http::verb method_ = http::verb::unknown;
  std::string_view method_text_ = "OTHER";
  int version_ = 11;
  bool has_request_line_ = false;
  int host_fields_ = 0;
  bool host_valid_ = true;
  bool has_transfer_encoding_ = false;
  bool chunked_final_ = false;
};

}  // namespace smart::edge
