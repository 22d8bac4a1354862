#pragma once
// etcd v3 through its JSON gateway (/v3/kv/range, /v3/kv/txn, /v3/kv/put,
// /v3/kv/deleterange, /v3/lease/grant, /v3/lease/keepalive,
// /v3/lease/revoke) over HTTP/1.1 (shared/http_client.hpp): the store of the
// cluster mode (README "Cluster"). No consensus of our own: every decision
// that must be the same on every node is an etcd transaction.
//
// Keys and values are bytes (base64 on the wire, done here). Revisions and
// lease ids are etcd's int64s. Endpoints are tried in turn: a request that
// cannot reach one member (or gets "no leader" from it) goes to the next, so
// one member down changes nothing for the caller. Not thread-safe: one per
// thread.
//
// Errors of every call: kSystem "etcd unreachable (ENDPOINTS): ..." when no
// endpoint answered in time; kFailed with etcd's own message when it answered
// with an error. A request that timed out may still have been applied: a
// transaction is written so that running it twice is harmless or detectable
// (the cluster's claim reads the owner back when its "create if absent" fails).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dynmgr/types.hpp"
#include "shared/error.hpp"
#include "shared/http_client.hpp"

namespace dynmgr::etcd {

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;
  std::int64_t lease = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  std::int64_t revision = 0;  // the store's revision when it was read
  bool more = false;          // a limit cut the answer
};

// The smallest key after every key that starts with prefix (etcd's range_end
// for "all keys with this prefix").
std::string prefix_end(std::string_view prefix);

struct RangeOptions {
  std::string range_end;  // empty: the key alone; prefix_end(k): the prefix
  std::int64_t limit = 0;
  bool keys_only = false;
  std::int64_t min_mod_revision = 0;
};

// One comparison of a transaction.
struct Compare {
  enum class Target { kCreate, kMod, kVersion, kValue, kLease };
  enum class Result { kEqual, kNotEqual, kGreater, kLess };
  std::string key;
  Target target = Target::kCreate;
  Result result = Result::kEqual;
  std::int64_t number = 0;  // for kCreate, kMod, kVersion, kLease
  std::string value;        // for kValue

  static Compare created(std::string key, std::int64_t rev, Result r = Result::kEqual) {
    return {std::move(key), Target::kCreate, r, rev, {}};
  }
  static Compare absent(std::string key) { return created(std::move(key), 0); }
  static Compare modified(std::string key, std::int64_t rev) {
    return {std::move(key), Target::kMod, Result::kEqual, rev, {}};
  }
  static Compare equals(std::string key, std::string value) {
    return {std::move(key), Target::kValue, Result::kEqual, 0, std::move(value)};
  }
};

// One operation of a transaction.
struct Op {
  enum class Kind { kPut, kDelete, kRange };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;      // kPut
  std::int64_t lease = 0; // kPut: attached to this lease
  std::string range_end;  // kDelete, kRange

  static Op put(std::string key, std::string value, std::int64_t lease = 0) {
    return {Kind::kPut, std::move(key), std::move(value), lease, {}};
  }
  static Op del(std::string key, std::string range_end = {}) {
    return {Kind::kDelete, std::move(key), {}, 0, std::move(range_end)};
  }
  static Op get(std::string key, std::string range_end = {}) {
    return {Kind::kRange, std::move(key), {}, 0, std::move(range_end)};
  }
};

struct TxnResult {
  bool succeeded = false;
  std::int64_t revision = 0;  // the store's revision after the transaction
  // One per operation of the branch taken; the key-values of its kRange
  // operations (empty for the others).
  std::vector<std::vector<KeyValue>> ranges;
};

class Client {
 public:
  struct Options {
    std::vector<HttpEndpoint> endpoints;  // at least one
    Millis timeout{2000};                 // per request and endpoint
  };
  explicit Client(Options options);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // A new lease of ttl seconds; its id.
  Result<std::int64_t> grant(std::int64_t ttl_seconds);
  // Renews the lease; its TTL now in seconds, 0 when it has expired (or never
  // was).
  Result<std::int64_t> keepalive(std::int64_t lease);
  // Ends the lease and deletes its keys. A lease that is gone is success.
  Status revoke(std::int64_t lease);

  Result<RangeResult> range(std::string_view key, const RangeOptions& options = {});
  // Returns the store's revision after the put.
  Result<std::int64_t> put(std::string_view key, std::string_view value, std::int64_t lease = 0);
  // Returns how many keys were deleted.
  Result<std::int64_t> del(std::string_view key, std::string_view range_end = {});
  Result<TxnResult> txn(const std::vector<Compare>& compare, const std::vector<Op>& success,
                        const std::vector<Op>& failure = {});

  // The endpoint that answered last (for messages).
  std::string current_endpoint() const;

 private:
  Result<std::string> post(std::string_view path, const std::string& body);
  Options options_;
  std::size_t current_ = 0;
  std::vector<std::unique_ptr<HttpClient>> http_;
};

}  // namespace dynmgr::etcd
