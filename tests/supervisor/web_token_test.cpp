// The dashboard's token rules (supervisor/web_token.*) and its history ring
// (supervisor/web_history.*), from tables: pure functions and real files.
#include "supervisor/web_token.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "supervisor/web_history.hpp"
#include "support/test_support.hpp"

namespace dynmgr {
namespace {

TEST(TokenEquals, OnlyTheSameBytesMatch) {
  struct Row {
    std::string_view a, b;
    bool equal;
  };
  for (const Row& r : std::initializer_list<Row>{{"abc", "abc", true},
                                                 {"abc", "abd", false},
                                                 {"abc", "ab", false},
                                                 {"ab", "abc", false},
                                                 {"", "", true},
                                                 {"", "x", false},
                                                 {std::string_view("a\0b", 3), "a", false}}) {
    EXPECT_EQ(token_equals(r.a, r.b), r.equal) << r.a << " vs " << r.b;
  }
}

class TokenFile : public ::testing::Test {
 protected:
  std::string write(const std::string& text, mode_t mode) {
    path_ = "/tmp/dynmgr-test." + testing::unique_instance("tf") + ".token";
    {
      std::ofstream out(path_);
      out << text;
    }
    ::chmod(path_.c_str(), mode);
    return path_;
  }
  void TearDown() override {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  std::string path_;
};

TEST_F(TokenFile, TheFirstLineOfAPrivateFileIsTheToken) {
  struct Row {
    std::string text;
    mode_t mode;
    std::string token;  // "" : refused
    std::string says;
  };
  const std::vector<Row> rows = {
      {"s3cret\n", 0600, "s3cret", ""},
      {"s3cret", 0400, "s3cret", ""},
      {"s3cret \r\nsecond\n", 0600, "s3cret", ""},
      {"s3cret\n", 0640, "", "by group or others"},
      {"s3cret\n", 0604, "", "by group or others"},
      {"s3cret\n", 0620, "", "by group or others"},
      {"", 0600, "", "its first line is empty"},
      {"\ns3cret\n", 0600, "", "its first line is empty"},
      {"two words\n", 0600, "", "printable ASCII without spaces"},
  };
  for (const Row& r : rows) {
    const std::string path = write(r.text, r.mode);
    auto got = read_web_token_file(path);
    if (r.token.empty()) {
      ASSERT_FALSE(got) << r.text;
      EXPECT_EQ(got.error().code, Errc::kInvalid);
      EXPECT_EQ(got.error().message.rfind("invalid --web-token-file '" + path + "': ", 0), 0u)
          << got.error().message;
      EXPECT_NE(got.error().message.find(r.says), std::string::npos) << got.error().message;
    } else {
      ASSERT_TRUE(got) << got.error().message;
      EXPECT_EQ(*got, r.token);
    }
    ::unlink(path.c_str());
  }
  auto missing = read_web_token_file("/nonexistent/dynmgr.token");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("No such file or directory"), std::string::npos);
  auto dir = read_web_token_file("/tmp");
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find("not a regular file"), std::string::npos);
}

TEST(WebHistory, KeepsTheNewestSamplesOldestFirst) {
  WebHistory h(3);
  for (std::uint64_t t = 1; t <= 5; ++t) {
    HistorySample s;
    s.time_ms = t;
    s.by_status["running"] = static_cast<std::uint32_t>(t);
    s.exits = t * 10;
    h.add(s);
  }
  ASSERT_EQ(h.samples().size(), 3u);
  EXPECT_EQ(h.samples().front().time_ms, 3u);
  EXPECT_EQ(h.samples().back().time_ms, 5u);
  const auto j = h.to_json();
  EXPECT_EQ(j.at("interval_ms").to_number<std::uint64_t>(), kHistoryIntervalMs);
  const auto& arr = j.at("samples").as_array();
  ASSERT_EQ(arr.size(), 3u);
  EXPECT_EQ(arr[0].at("time_ms").to_number<std::uint64_t>(), 3u);
  EXPECT_EQ(arr[2].at("exits").to_number<std::uint64_t>(), 50u);
  EXPECT_EQ(arr[2].at("by_status").at("running").to_number<std::uint64_t>(), 5u);
}

}  // namespace
}  // namespace dynmgr
