#include "behaviour.hpp"

#include "smart/config.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

namespace smart::sim {

namespace {

std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31U);
}

double unit(std::uint64_t bits) {
  return static_cast<double>(bits >> 11U) * 0x1.0p-53;  // [0, 1)
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  while (true) {
    const auto pos = text.find(sep);
    parts.push_back(text.substr(0, pos));
    if (pos == std::string_view::npos) {
      return parts;
    }
    text = text.substr(pos + 1);
  }
}

std::optional<double> number(std::string_view text) {
  // Integers or decimals with a dot; nothing else.
  const auto dot = text.find('.');
  const auto whole = parse_decimal(text.substr(0, dot), 0, 10'000'000);
  if (!whole) {
    return std::nullopt;
  }
  double value = static_cast<double>(*whole);
  if (dot != std::string_view::npos) {
    const auto frac_text = text.substr(dot + 1);
    const auto frac = parse_decimal(frac_text, 0, 999'999'999);
    if (!frac || frac_text.size() > 9) {
      return std::nullopt;
    }
    value += static_cast<double>(*frac) / std::pow(10.0, static_cast<double>(frac_text.size()));
  }
  return value;
}

}  // namespace

std::string_view to_string(action a) {
  switch (a) {
    case action::ok:
      return "ok";
    case action::server_error:
      return "500";
    case action::too_many:
      return "429";
    case action::invalid_json:
      return "invalid";
    case action::hang:
      return "hang";
    case action::reset:
      return "reset";
  }
  return "unknown";
}

std::chrono::milliseconds latency_model::sample(double u) const {
  double ms = a;
  switch (shape) {
    case kind::fixed:
      break;
    case kind::uniform:
      ms = a + u * (b - a);
      break;
    case kind::pareto:
      ms = std::min(cap, a / std::pow(1.0 - u, 1.0 / b));
      break;
  }
  return std::chrono::milliseconds{static_cast<std::int64_t>(std::llround(ms))};
}

std::string latency_model::describe() const {
  std::ostringstream out;
  switch (shape) {
    case kind::fixed:
      out << "fixed:" << a;
      break;
    case kind::uniform:
      out << "uniform:" << a << ':' << b;
      break;
    case kind::pareto:
      out << "pareto:" << a << ':' << b << ':' << cap;
      break;
  }
  return out.str();
}

std::string failure_mix::describe() const {
  std::ostringstream out;
  out << "500=" << server_error << ",429=" << too_many << ",invalid=" << invalid_json
      << ",hang=" << hang << ",reset=" << reset;
  return out.str();
}

std::optional<latency_model> parse_latency(std::string_view text) {
  const auto parts = split(text, ':');
  std::vector<double> values;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const auto v = number(parts[i]);
    if (!v) {
      return std::nullopt;
    }
    values.push_back(*v);
  }
  latency_model m;
  if (parts[0] == "fixed" && values.size() == 1) {
    m.shape = latency_model::kind::fixed;
    m.a = values[0];
  } else if (parts[0] == "uniform" && values.size() == 2 && values[0] <= values[1]) {
    m.shape = latency_model::kind::uniform;
    m.a = values[0];
    m.b = values[1];
  } else if (parts[0] == "pareto" && (values.size() == 2 || values.size() == 3) && values[0] > 0 &&
             values[1] > 0) {
    m.shape = latency_model::kind::pareto;
    m.a = values[0];
    m.b = values[1];
    if (values.size() == 3) {
      m.cap = values[2];
    }
  } else {
    return std::nullopt;
  }
  return m;
}

std::optional<failure_mix> parse_mix(std::string_view text) {
  failure_mix mix{0, 0, 0, 0, 0};
  if (text == "none") {
    return mix;
  }
  for (const auto item : split(text, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      return std::nullopt;
    }
    const auto kind = item.substr(0, eq);
    const auto value = number(item.substr(eq + 1));
    if (!value) {
      return std::nullopt;
    }
    if (kind == "500") {
      mix.server_error = *value;
    } else if (kind == "429") {
      mix.too_many = *value;
    } else if (kind == "invalid") {
      mix.invalid_json = *value;
    } else if (kind == "hang") {
      mix.hang = *value;
    } else if (kind == "reset") {
      mix.reset = *value;
    } else {
      return std::nullopt;
    }
  }
  if (mix.total() > 100.0) {
    return std::nullopt;
  }
  return mix;
}

answer answer_for(const plan& p, std::string_view fixed_body, std::uint64_t served) {
  answer a;
  switch (p.what) {
    case action::ok:
      if (!fixed_body.empty()) {
        a.body = fixed_body;
      } else {
        a.body = R"({"time": )" + std::to_string(p.delay.count()) + '}';
      }
      break;
    case action::server_error:
      a = {500, "text/plain", "Internal Server Error"};
      break;
    case action::too_many:
      a = {429, "text/plain", "Too many requests"};
      break;
    case action::invalid_json:
      a.body = invalid_bodies[served % std::size(invalid_bodies)];
      break;
    case action::hang:
    case action::reset:
      break;
  }
  return a;
}

std::uint64_t id_key(std::string_view id, std::uint64_t k) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, 64 bits
  for (const char c : id) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h + k * 0x9e3779b97f4a7c15ULL;
}

std::uint64_t behaviour::earlier_with(std::string_view id) {
  const auto now = std::chrono::steady_clock::now();
  const std::lock_guard lock{ids_mu_};
  if (now - ids_since_ >= id_memory) {
    ids_before_ = std::move(ids_now_);
    ids_now_.clear();
    ids_since_ = now;
  }
  const std::string key{id};
  auto [it, fresh] = ids_now_.try_emplace(key, 0);
  if (fresh) {
    if (const auto old = ids_before_.find(key); old != ids_before_.end()) {
      it->second = old->second;
      ids_before_.erase(old);
    }
  }
  return it->second++;
}

plan behaviour::next(std::string_view request_id) {
  if (key_ == plan_key::request_id && !request_id.empty()) {
    return plan_for(id_key(request_id, earlier_with(request_id)));
  }
  return plan_for(counter_.fetch_add(1, std::memory_order_relaxed));
}

plan behaviour::plan_for(std::uint64_t n) const {
  const std::uint64_t r1 = mix64(seed_ ^ mix64(n));
  const std::uint64_t r2 = mix64(r1);
  plan p;
  p.delay = latency_.sample(unit(r2));
  double pick = unit(r1) * 100.0;
  const std::pair<double, action> kinds[] = {{mix_.server_error, action::server_error},
                                             {mix_.too_many, action::too_many},
                                             {mix_.invalid_json, action::invalid_json},
                                             {mix_.hang, action::hang},
                                             {mix_.reset, action::reset}};
  for (const auto& [percent, what] : kinds) {
    if (pick < percent) {
      p.what = what;
      break;
    }
    pick -= percent;
  }
  if (p.what == action::too_many) {
    p.delay = std::chrono::milliseconds{0};  // rate limiting answers at once
  }
  return p;
}

}  // namespace smart::sim
