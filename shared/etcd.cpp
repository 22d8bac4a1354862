#include "shared/etcd.hpp"

#include <boost/beast/core/detail/base64.hpp>
#include <boost/json.hpp>
#include <charconv>

#include "shared/json.hpp"

namespace dynmgr::etcd {

namespace {

namespace b64 = boost::beast::detail::base64;

std::string encode(std::string_view bytes) {
  std::string out(b64::encoded_size(bytes.size()), '\0');
  out.resize(b64::encode(out.data(), bytes.data(), bytes.size()));
  return out;
}

std::string decode(std::string_view text) {
  std::string out(b64::decoded_size(text.size()), '\0');
  const auto [written, read] = b64::decode(out.data(), text.data(), text.size());
  (void)read;
  out.resize(written);
  return out;
}

// The gateway writes int64s as strings and leaves out zero values.
std::int64_t int_of(const json::object& o, std::string_view key) {
  const json::value* v = get_field(o, key);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  if (!v->is_string()) return 0;
  const auto& s = v->as_string();
  std::int64_t n = 0;
  std::from_chars(s.data(), s.data() + s.size(), n);
  return n;
}

const json::object* object_of(const json::object& o, std::string_view key) {
  const json::value* v = get_field(o, key);
  return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

std::vector<KeyValue> kvs_of(const json::object& o) {
  std::vector<KeyValue> out;
  const json::value* kvs = get_field(o, "kvs");
  if (kvs == nullptr || !kvs->is_array()) return out;
  for (const auto& item : kvs->as_array()) {
    if (!item.is_object()) continue;
    const auto& kv = item.as_object();
    KeyValue r;
    if (auto k = get_string(kv, "key")) r.key = decode(*k);
    if (auto v = get_string(kv, "value")) r.value = decode(*v);
    r.create_revision = int_of(kv, "create_revision");
    r.mod_revision = int_of(kv, "mod_revision");
    r.version = int_of(kv, "version");
    r.lease = int_of(kv, "lease");
    out.push_back(std::move(r));
  }
  return out;
}

std::int64_t revision_of(const json::object& o) {
  const json::object* header = object_of(o, "header");
  return header != nullptr ? int_of(*header, "revision") : 0;
}

const char* target_name(Compare::Target t) {
  switch (t) {
    case Compare::Target::kCreate: return "CREATE";
    case Compare::Target::kMod: return "MOD";
    case Compare::Target::kVersion: return "VERSION";
    case Compare::Target::kValue: return "VALUE";
    case Compare::Target::kLease: return "LEASE";
  }
  return "CREATE";
}

const char* result_name(Compare::Result r) {
  switch (r) {
    case Compare::Result::kEqual: return "EQUAL";
    case Compare::Result::kNotEqual: return "NOT_EQUAL";
    case Compare::Result::kGreater: return "GREATER";
    case Compare::Result::kLess: return "LESS";
  }
  return "EQUAL";
}

json::object compare_json(const Compare& c) {
  json::object o;
  o["key"] = encode(c.key);
  o["target"] = target_name(c.target);
  o["result"] = result_name(c.result);
  switch (c.target) {
    case Compare::Target::kCreate: o["create_revision"] = std::to_string(c.number); break;
    case Compare::Target::kMod: o["mod_revision"] = std::to_string(c.number); break;
    case Compare::Target::kVersion: o["version"] = std::to_string(c.number); break;
    case Compare::Target::kLease: o["lease"] = std::to_string(c.number); break;
    case Compare::Target::kValue: o["value"] = encode(c.value); break;
  }
  return o;
}

json::object op_json(const Op& op) {
  json::object body;
  body["key"] = encode(op.key);
  json::object o;
  switch (op.kind) {
    case Op::Kind::kPut:
      body["value"] = encode(op.value);
      if (op.lease != 0) body["lease"] = std::to_string(op.lease);
      o["request_put"] = std::move(body);
      break;
    case Op::Kind::kDelete:
      if (!op.range_end.empty()) body["range_end"] = encode(op.range_end);
      o["request_delete_range"] = std::move(body);
      break;
    case Op::Kind::kRange:
      if (!op.range_end.empty()) body["range_end"] = encode(op.range_end);
      o["request_range"] = std::move(body);
      break;
  }
  return o;
}

json::array ops_json(const std::vector<Op>& ops) {
  json::array a;
  for (const auto& op : ops) a.push_back(op_json(op));
  return a;
}

Result<json::object> parse_answer(const std::string& text, std::string_view what) {
  auto v = parse_json(text, what);
  if (!v) return v.error();
  if (!v->is_object()) return make_error(Errc::kFailed, std::string(what) + ": not an object");
  return std::move(v->as_object());
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = end.back();
    if (static_cast<unsigned char>(last) < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Client::Client(Options options) : options_(std::move(options)) {
  for (const auto& e : options_.endpoints) {
    http_.push_back(std::make_unique<HttpClient>(e, options_.timeout));
  }
}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

std::string Client::current_endpoint() const {
  return http_.empty() ? std::string() : http_[current_]->endpoint().text();
}

Result<std::string> Client::post(std::string_view path, const std::string& body) {
  if (http_.empty()) return make_error(Errc::kInvalid, "no etcd endpoint");
  std::string last;
  // Each member once, starting with the one that answered last.
  for (std::size_t tried = 0; tried < http_.size(); ++tried) {
    const std::size_t i = (current_ + tried) % http_.size();
    auto res = http_[i]->request("POST", path, body);
    if (!res) {
      last = res.error().message;
      continue;
    }
    // A member without a leader, or cut off from the others, answers 503 /
    // "no leader" / "timed out": another member may do better.
    if (res->status >= 500) {
      last = http_[i]->endpoint().text() + " answered " + std::to_string(res->status) + ": " +
             res->body.substr(0, 200);
      continue;
    }
    current_ = i;
    if (res->status != 200) {
      std::string message = res->body;
      if (auto v = parse_json(res->body, "etcd's answer"); v && v->is_object()) {
        if (auto m = get_string(v->as_object(), "message")) message = std::string(*m);
      }
      return make_error(Errc::kFailed, "etcd: " + message);
    }
    return std::move(res->body);
  }
  std::string all;
  for (const auto& h : http_) all += (all.empty() ? "" : ",") + h->endpoint().text();
  return make_error(Errc::kSystem, "etcd unreachable (" + all + "): " + last);
}

Result<std::int64_t> Client::grant(std::int64_t ttl_seconds) {
  json::object req;
  req["TTL"] = std::to_string(ttl_seconds);
  auto text = post("/v3/lease/grant", to_json(req));
  if (!text) return text.error();
  auto o = parse_answer(*text, "etcd's lease grant");
  if (!o) return o.error();
  const std::int64_t id = int_of(*o, "ID");
  if (id == 0) return make_error(Errc::kFailed, "etcd granted no lease: " + *text);
  return id;
}

Result<std::int64_t> Client::keepalive(std::int64_t lease) {
  json::object req;
  req["ID"] = std::to_string(lease);
  auto text = post("/v3/lease/keepalive", to_json(req));
  if (!text) return text.error();
  auto o = parse_answer(*text, "etcd's lease keepalive");
  if (!o) return o.error();
  const json::object* result = object_of(*o, "result");
  if (result == nullptr) return make_error(Errc::kFailed, "etcd: keepalive: " + text->substr(0, 200));
  return int_of(*result, "TTL");
}

Status Client::revoke(std::int64_t lease) {
  json::object req;
  req["ID"] = std::to_string(lease);
  auto text = post("/v3/lease/revoke", to_json(req));
  if (!text) {
    if (text.error().code == Errc::kFailed &&
        text.error().message.find("lease not found") != std::string::npos) {
      return {};
    }
    return text.error();
  }
  return {};
}

Result<RangeResult> Client::range(std::string_view key, const RangeOptions& options) {
  json::object req;
  req["key"] = encode(key);
  if (!options.range_end.empty()) req["range_end"] = encode(options.range_end);
  if (options.limit > 0) req["limit"] = std::to_string(options.limit);
  if (options.keys_only) req["keys_only"] = true;
  if (options.min_mod_revision > 0) {
    req["min_mod_revision"] = std::to_string(options.min_mod_revision);
  }
  auto text = post("/v3/kv/range", to_json(req));
  if (!text) return text.error();
  auto o = parse_answer(*text, "etcd's range");
  if (!o) return o.error();
  RangeResult r;
  r.kvs = kvs_of(*o);
  r.revision = revision_of(*o);
  if (auto more = get_bool(*o, "more")) r.more = *more;
  return r;
}

Result<std::int64_t> Client::put(std::string_view key, std::string_view value,
                                 std::int64_t lease) {
  json::object req;
  req["key"] = encode(key);
  req["value"] = encode(value);
  if (lease != 0) req["lease"] = std::to_string(lease);
  auto text = post("/v3/kv/put", to_json(req));
  if (!text) return text.error();
  auto o = parse_answer(*text, "etcd's put");
  if (!o) return o.error();
  return revision_of(*o);
}

Result<std::int64_t> Client::del(std::string_view key, std::string_view range_end) {
  json::object req;
  req["key"] = encode(key);
  if (!range_end.empty()) req["range_end"] = encode(range_end);
  auto text = post("/v3/kv/deleterange", to_json(req));
  if (!text) return text.error();
  auto o = parse_answer(*text, "etcd's delete");
  if (!o) return o.error();
  return int_of(*o, "deleted");
}

Result<TxnResult> Client::txn(const std::vector<Compare>& compare, const std::vector<Op>& success,
                              const std::vector<Op>& failure) {
  json::object req;
  json::array cmp;
  for (const auto& c : compare) cmp.push_back(compare_json(c));
  req["compare"] = std::move(cmp);
  req["success"] = ops_json(success);
  if (!failure.empty()) req["failure"] = ops_json(failure);
  auto text = post("/v3/kv/txn", to_json(req));
  if (!text) return text.error();
  auto o = parse_answer(*text, "etcd's transaction");
  if (!o) return o.error();
  TxnResult r;
  if (auto ok = get_bool(*o, "succeeded")) r.succeeded = *ok;
  r.revision = revision_of(*o);
  const std::vector<Op>& taken = r.succeeded ? success : failure;
  const json::value* responses = get_field(*o, "responses");
  r.ranges.resize(taken.size());
  if (responses != nullptr && responses->is_array()) {
    const auto& a = responses->as_array();
    for (std::size_t i = 0; i < a.size() && i < taken.size(); ++i) {
      if (!a[i].is_object()) continue;
      if (const json::object* range = object_of(a[i].as_object(), "response_range")) {
        r.ranges[i] = kvs_of(*range);
      }
    }
  }
  return r;
}

}  // namespace dynmgr::etcd
