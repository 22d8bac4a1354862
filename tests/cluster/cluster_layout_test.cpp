// The cluster's pure pieces (README "Cluster"): etcd endpoint parsing
// (shared/http_client.hpp), the key layout, the node record, the rendezvous
// placement rule and cluster/node name validation (shared/cluster_layout.hpp).
// No etcd, no processes.

#include "shared/cluster_layout.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "shared/http_client.hpp"

namespace dynmgr::cluster {
namespace {

// ---- endpoints ------------------------------------------------------------

struct GoodEndpoint {
  std::string_view url;
  std::string_view host;
  std::uint16_t port;
};

TEST(ParseHttpEndpointTest, AcceptsTheDocumentedForms) {
  const GoodEndpoint rows[] = {
      {"http://127.0.0.1:2379", "127.0.0.1", 2379},
      {"127.0.0.1:2379", "127.0.0.1", 2379},
      {"http://etcd-1.example:1", "etcd-1.example", 1},
      {"localhost:65535", "localhost", 65535},
      {"http://127.0.0.1:2379/", "127.0.0.1", 2379},  // a trailing slash
      {"etcd:2379/", "etcd", 2379},
      {"[::1]:2379", "::1", 2379},
      {"http://[::1]:2379/", "::1", 2379},
      {"[fe80::1%lo]:80", "fe80::1%lo", 80},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(std::string(row.url));
    auto e = parse_http_endpoint(row.url);
    ASSERT_TRUE(e) << e.error().message;
    EXPECT_EQ(e->host, row.host);
    EXPECT_EQ(e->port, row.port);
  }
  auto v6 = parse_http_endpoint("[::1]:2379");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->text(), "::1:2379");  // text() is for messages, not for parsing back
}

struct BadEndpoint {
  std::string_view url;
  std::string_view why;  // a part of the message
};

TEST(ParseHttpEndpointTest, RefusesNamingWhatIsWrong) {
  const BadEndpoint rows[] = {
      {"https://127.0.0.1:2379", "https is not supported"},
      {"http://127.0.0.1:2379/v3", "a path is not allowed"},
      {"127.0.0.1:2379/v3/kv/range", "a path is not allowed"},
      {"http://127.0.0.1:2379//", "a path is not allowed"},
      {"127.0.0.1", "expected HOST:PORT"},
      {"http://", "expected HOST:PORT"},
      {"", "expected HOST:PORT"},
      {":2379", "expected HOST:PORT"},
      {"[::1]", "expected [IPv6]:PORT"},
      {"[::1]2379", "expected [IPv6]:PORT"},
      {"[::1:2379", "expected [IPv6]:PORT"},
      {"127.0.0.1:", "bad port"},
      {"127.0.0.1:0", "bad port"},
      {"127.0.0.1:65536", "bad port"},
      {"127.0.0.1:99999999999999999999", "bad port"},
      {"127.0.0.1:-1", "bad port"},
      {"127.0.0.1:+80", "bad port"},
      {"127.0.0.1:80x", "bad port"},
      {"127.0.0.1: 80", "bad port"},
      {"127.0.0.1:http", "bad port"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(std::string(row.url));
    auto e = parse_http_endpoint(row.url);
    ASSERT_FALSE(e) << e->text();
    EXPECT_EQ(e.error().code, Errc::kInvalid);
    EXPECT_NE(e.error().message.find(row.why), std::string::npos) << e.error().message;
    // The message shows what was given.
    EXPECT_NE(e.error().message.find("'" + std::string(row.url) + "'"), std::string::npos)
        << e.error().message;
  }
}

TEST(ParseHttpEndpointsTest, ListsInOrder) {
  auto one = parse_http_endpoints("http://10.0.0.1:2379");
  ASSERT_TRUE(one) << one.error().message;
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].text(), "10.0.0.1:2379");

  auto three = parse_http_endpoints("http://10.0.0.1:2379,10.0.0.2:2380/,http://[::1]:2381");
  ASSERT_TRUE(three) << three.error().message;
  ASSERT_EQ(three->size(), 3u);
  EXPECT_EQ((*three)[0].host, "10.0.0.1");
  EXPECT_EQ((*three)[0].port, 2379);
  EXPECT_EQ((*three)[1].host, "10.0.0.2");
  EXPECT_EQ((*three)[1].port, 2380);
  EXPECT_EQ((*three)[2].host, "::1");
  EXPECT_EQ((*three)[2].port, 2381);
}

TEST(ParseHttpEndpointsTest, RefusesAnEmptyItemOrOneBadItem) {
  for (const std::string_view urls :
       {"", ",", "a:1,", ",a:1", "a:1,,b:2", "a:1,https://b:2", "a:1,b:0", "a:1,b:2/x"}) {
    SCOPED_TRACE(std::string(urls));
    auto e = parse_http_endpoints(urls);
    ASSERT_FALSE(e) << e->size();
    EXPECT_EQ(e.error().code, Errc::kInvalid);
  }
}

// ---- layout ---------------------------------------------------------------

TEST(LayoutTest, KeysUnderTheClusterRoot) {
  const Layout l("prod");
  EXPECT_EQ(l.root(), "/dynmgr/prod/");
  EXPECT_EQ(l.nodes_prefix(), "/dynmgr/prod/nodes/");
  EXPECT_EQ(l.owners_prefix(), "/dynmgr/prod/owner/");
  EXPECT_EQ(l.specs_prefix(), "/dynmgr/prod/specs/");
  EXPECT_EQ(l.node_key("n1"), "/dynmgr/prod/nodes/n1");
  EXPECT_EQ(l.owner_key("w-7"), "/dynmgr/prod/owner/w-7");
  EXPECT_EQ(l.spec_key("w-7"), "/dynmgr/prod/specs/w-7");
  // Two clusters never share a key: "prod" is not a prefix of "prod2"'s keys.
  const Layout other("prod2");
  EXPECT_NE(other.node_key("n1").rfind(l.root(), 0), 0u);
}

TEST(LayoutTest, NameAfter) {
  const Layout l("c");
  EXPECT_EQ(Layout::name_after(l.owner_key("w1"), l.owners_prefix()), "w1");
  EXPECT_EQ(Layout::name_after(l.node_key("n.1"), l.nodes_prefix()), "n.1");
  EXPECT_EQ(Layout::name_after("/dynmgr/c/owner/x", "/dynmgr/c/owner/"), "x");
  // The prefix alone names nothing; another prefix does not match.
  EXPECT_EQ(Layout::name_after(l.owners_prefix(), l.owners_prefix()), std::nullopt);
  EXPECT_EQ(Layout::name_after(l.spec_key("w1"), l.owners_prefix()), std::nullopt);
  EXPECT_EQ(Layout::name_after("/dynmgr/c/own", l.owners_prefix()), std::nullopt);
  EXPECT_EQ(Layout::name_after("", l.owners_prefix()), std::nullopt);
  EXPECT_EQ(Layout::name_after("/dynmgr/d/owner/w1", l.owners_prefix()), std::nullopt);
}

// ---- node record ----------------------------------------------------------

TEST(NodeRecordTest, RoundTrip) {
  NodeRecord r;
  r.name = "node-1";
  r.advertise = "10.1.2.3:7070";
  r.capacity = 64;
  r.load = 17;
  const std::string text = r.to_json();
  EXPECT_EQ(text.find("node-1"), std::string::npos) << text;  // the name is the key
  auto back = NodeRecord::from_json("node-1", text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->name, "node-1");
  EXPECT_EQ(back->advertise, r.advertise);
  EXPECT_EQ(back->capacity, 64u);
  EXPECT_EQ(back->load, 17u);

  // Zeroes survive too, and the name comes from the caller.
  NodeRecord zero;
  zero.advertise = "[::1]:1";
  auto z = NodeRecord::from_json("other", zero.to_json());
  ASSERT_TRUE(z) << z.error().message;
  EXPECT_EQ(z->name, "other");
  EXPECT_EQ(z->advertise, "[::1]:1");
  EXPECT_EQ(z->capacity, 0u);
  EXPECT_EQ(z->load, 0u);
}

TEST(NodeRecordTest, MissingOrNegativeNumbersAreZero) {
  auto r = NodeRecord::from_json("n", R"({"advertise":"h:1"})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->capacity, 0u);
  EXPECT_EQ(r->load, 0u);
  r = NodeRecord::from_json("n", R"({"advertise":"h:1","capacity":-5,"load":-1,"extra":true})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->capacity, 0u);
  EXPECT_EQ(r->load, 0u);
}

TEST(NodeRecordTest, Refusals) {
  const std::string_view rows[] = {
      "",                               // empty
      "not json",                       // not JSON
      "{\"advertise\":",                // cut short
      R"(["advertise","h:1"])",         // not an object
      R"("h:1")",                       // not an object
      R"({})",                          // no advertise
      R"({"capacity":4})",              // no advertise
      R"({"advertise":""})",            // empty advertise
      R"({"advertise":7})",             // advertise not a string
      R"({"advertise":null,"load":1})"  // advertise null
  };
  for (const auto text : rows) {
    SCOPED_TRACE(std::string(text));
    auto r = NodeRecord::from_json("node-9", text);
    ASSERT_FALSE(r) << r->advertise;
    EXPECT_NE(r.error().message.find("node-9"), std::string::npos) << r.error().message;
  }
  auto r = NodeRecord::from_json("node-9", "{}");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kInvalid);
  EXPECT_NE(r.error().message.find("no advertise address"), std::string::npos)
      << r.error().message;
}

// ---- rendezvous -----------------------------------------------------------

std::vector<std::string> names(int n, std::string_view stem = "node-") {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(std::string(stem) + std::to_string(i));
  return out;
}

// Every node of a cluster must compute the same scores, whatever its host,
// compiler or dynmgr version: a change to the hash moves every worker at the
// next rolling upgrade and makes old and new nodes disagree. These values were
// computed once (FNV-1a over "node\0id", splitmix64's finaliser) and must not
// change.
TEST(RendezvousTest, ScoresArePinned) {
  EXPECT_EQ(rendezvous_score("node-a", "worker-1"), 0x846fa6b17bb1b5c6ULL);
  EXPECT_EQ(rendezvous_score("node-b", "worker-1"), 0xf9f343e30f0eea95ULL);
  EXPECT_EQ(rendezvous_score("n1", ""), 0xaa7983957692d106ULL);
  // Deterministic, and the separator keeps ("ab","c") apart from ("a","bc").
  EXPECT_EQ(rendezvous_score("x", "y"), rendezvous_score("x", "y"));
  EXPECT_NE(rendezvous_score("ab", "c"), rendezvous_score("a", "bc"));
  EXPECT_NE(rendezvous_score("a", "b"), rendezvous_score("b", "a"));
}

TEST(RendezvousTest, OrderIsAPermutationAndRankIsTheIndex) {
  const auto nodes = names(7);
  for (int k = 0; k < 200; ++k) {
    const std::string id = "w" + std::to_string(k);
    SCOPED_TRACE(id);
    const auto order = rendezvous_order(id, nodes);
    ASSERT_EQ(order.size(), nodes.size());
    EXPECT_TRUE(std::is_permutation(order.begin(), order.end(), nodes.begin(), nodes.end()));
    for (std::size_t i = 0; i + 1 < order.size(); ++i) {
      EXPECT_GE(rendezvous_score(order[i], id), rendezvous_score(order[i + 1], id));
    }
    for (std::size_t i = 0; i < order.size(); ++i) {
      EXPECT_EQ(rendezvous_rank(id, nodes, order[i]), i) << order[i];
    }
  }
}

TEST(RendezvousTest, SameAnswerWhateverTheInputOrder) {
  const auto nodes = names(5);
  std::vector<std::string> reversed(nodes.rbegin(), nodes.rend());
  std::vector<std::string> rotated = nodes;
  std::rotate(rotated.begin(), rotated.begin() + 2, rotated.end());
  for (int k = 0; k < 200; ++k) {
    const std::string id = "id-" + std::to_string(k);
    SCOPED_TRACE(id);
    const auto order = rendezvous_order(id, nodes);
    EXPECT_EQ(rendezvous_order(id, reversed), order);
    EXPECT_EQ(rendezvous_order(id, rotated), order);
    for (const auto& me : nodes) {
      const auto rank = rendezvous_rank(id, nodes, me);
      EXPECT_EQ(rendezvous_rank(id, reversed, me), rank) << me;
      EXPECT_EQ(rendezvous_rank(id, rotated, me), rank) << me;
    }
  }
}

TEST(RendezvousTest, EdgeCases) {
  EXPECT_TRUE(rendezvous_order("w", {}).empty());
  EXPECT_EQ(rendezvous_order("w", {"only"}), std::vector<std::string>{"only"});
  EXPECT_EQ(rendezvous_rank("w", {"only"}, "only"), 0u);
  // Not among the nodes: nodes.size().
  EXPECT_EQ(rendezvous_rank("w", {}, "me"), 0u);
  EXPECT_EQ(rendezvous_rank("w", names(3), "stranger"), 3u);
}

TEST(RendezvousTest, SpreadsIdsEvenly) {
  const auto nodes = names(3);
  std::map<std::string, int> owned;
  constexpr int kIds = 3000;
  for (int k = 0; k < kIds; ++k) owned[rendezvous_order("worker-" + std::to_string(k), nodes)[0]]++;
  ASSERT_EQ(owned.size(), 3u);
  for (const auto& [node, n] : owned) {
    EXPECT_GE(n, kIds * 25 / 100) << node;
    EXPECT_LE(n, kIds * 42 / 100) << node;
  }
}

TEST(RendezvousTest, RemovingANodeMovesOnlyItsIds) {
  const auto four = names(4);
  const std::string gone = four[2];
  std::vector<std::string> three = four;
  std::erase(three, gone);
  int moved = 0;
  constexpr int kIds = 2000;
  for (int k = 0; k < kIds; ++k) {
    const std::string id = "worker-" + std::to_string(k);
    const auto before = rendezvous_order(id, four)[0];
    const auto after = rendezvous_order(id, three)[0];
    if (before == gone) {
      ++moved;
      // It goes to its second choice.
      EXPECT_EQ(after, rendezvous_order(id, four)[1]) << id;
    } else {
      EXPECT_EQ(after, before) << id;
    }
  }
  // The gone node owned about a quarter.
  EXPECT_GT(moved, kIds / 8);
  EXPECT_LT(moved, kIds / 2);
}

// ---- names ----------------------------------------------------------------

TEST(ValidateClusterNameTest, Accepts) {
  for (const std::string& name :
       {std::string("a"), std::string("prod"), std::string("node-1"), std::string("n_2.eu-west"),
        std::string("A.B-c_D9"), std::string("x."), std::string("-x"), std::string("_"),
        std::string(64, 'z')}) {
    auto s = validate_cluster_name(name, "cluster name");
    EXPECT_TRUE(s) << name << ": " << s.error().message;
  }
}

TEST(ValidateClusterNameTest, RefusesNamingTheField) {
  const std::string rows[] = {
      "",  std::string(65, 'z'), ".", ".hidden", "a/b", "a b", "a:b", "tab\t", "caf\xc3\xa9",
      std::string("nul\0x", 5), "*", "a,b",
  };
  for (const auto& name : rows) {
    auto s = validate_cluster_name(name, "node name");
    ASSERT_FALSE(s) << name;
    EXPECT_EQ(s.error().code, Errc::kInvalid);
    EXPECT_EQ(s.error().message.rfind("invalid node name '", 0), 0u) << s.error().message;
  }
}

}  // namespace
}  // namespace dynmgr::cluster
