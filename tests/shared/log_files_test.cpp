// shared/log_files: file names, the record format, --since. Table-driven.
#include "shared/log_files.hpp"

#include <gtest/gtest.h>

#include <string>

namespace dynmgr::logfiles {
namespace {

TEST(LogFileNames, EscapingIsReversibleAndSafe) {
  struct Row {
    std::string id;
    std::string name;
  };
  for (const auto& r : std::vector<Row>{
           {"w1", "w1.log"},
           {"a/b", "a%2Fb.log"},
           {"..", "%2E..log"},
           {".hidden", "%2Ehidden.log"},
           {"x.y", "x.y.log"},
           {"50%", "50%25.log"},
           {"a b~", "a%20b%7E.log"},
           {"caf\xc3\xa9", "caf\xc3\xa9.log"},
           {"p:1", "p%3A1.log"},
       }) {
    EXPECT_EQ(file_name(r.id), r.name) << r.id;
    const std::string base = r.name.substr(0, r.name.size() - 4);
    EXPECT_EQ(unescape_id(base), r.id) << r.name;
    EXPECT_EQ(base.find('/'), std::string::npos);
  }
  for (const char* bad : {"", "%", "%2", "%zz", "a b", ".x", "a~b"}) {
    EXPECT_FALSE(unescape_id(bad)) << bad;
  }
}

TEST(LogFileNames, ALongEscapedIdGetsAHashedName) {
  const std::string id(255, '/');  // 765 bytes escaped
  ASSERT_TRUE(name_is_hashed(id));
  const std::string name = file_name(id);
  EXPECT_LE(name.size() + 5, 255u);  // with ".NNNN": a valid file name
  EXPECT_NE(name.find('~'), std::string::npos);
  EXPECT_FALSE(unescape_id(name.substr(0, name.size() - 4)));
  // Another id with the same first 183 bytes gets another name.
  std::string other = id;
  other.back() = 'x';
  EXPECT_NE(file_name(other), name);
  EXPECT_EQ(file_name(std::string(200, 'a')), std::string(200, 'a') + ".log");
  EXPECT_FALSE(name_is_hashed(std::string(200, 'a')));
  EXPECT_EQ(rotated_name("w.log", 3), "w.log.3");
}

TEST(LogRecords, Parse) {
  auto r = parse_record("2026-11-30T07:30:00.123456Z out hello world");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stream, "out");
  EXPECT_FALSE(r->partial);
  EXPECT_EQ(r->line, "hello world");
  EXPECT_EQ(r->time_us, 1'796'023'800'123'456);
  r = parse_record("2026-11-30T07:30:00.000000Z err+ ");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->partial);
  EXPECT_EQ(r->line, "");
  r = parse_record("2026-11-30T07:30:00.000000Z out- tail");
  ASSERT_TRUE(r && r->partial && r->stream == "out");
  r = parse_record("2026-11-30T07:30:00.000000Z log dropped 3 line(s): x");
  ASSERT_TRUE(r && r->stream == "log");
  for (const char* bad : {"", "2026-11-30T07:30:00.000000Z", "2026-11-30T07:30:00.000000Z bad x",
                          "garbage garbage garbage garbage out x"}) {
    EXPECT_FALSE(parse_record(bad)) << bad;
  }
}

TEST(LogRecords, TimeFormatRoundTrips) {
  for (std::int64_t us :
       {std::int64_t{0}, std::int64_t{1'796'023'800'123'456}, std::int64_t{951'782'400'000'001}}) {
    const std::string t = format_time(us);
    EXPECT_EQ(t.size(), kTimeBytes) << t;
    auto r = parse_record(t + " out x");
    ASSERT_TRUE(r) << t;
    EXPECT_EQ(r->time_us, us) << t;
  }
  EXPECT_EQ(format_time(951'782'400'000'001), "2000-02-29T00:00:00.000001Z");
}

TEST(LogSince, AbsoluteAndRelative) {
  const std::int64_t now = 1'796'023'800'000'000;
  struct Row {
    const char* text;
    std::optional<std::int64_t> want;
  };
  for (const auto& r : std::vector<Row>{
           {"2026-11-30T07:30:00Z", now},
           {"2026-11-30 07:30:00Z", now},
           {"2026-11-30T09:30:00+02:00", now},
           {"2026-11-30T07:30:00.5Z", now + 500'000},
           {"90s", now - 90'000'000},
           {"10m", now - 600'000'000},
           {"2h", now - 7'200'000'000},
           {"1d", now - 86'400'000'000},
           {"0s", now},
           {"yesterday", std::nullopt},
           {"10", std::nullopt},
           {"-5m", std::nullopt},
           {"2026-11-30T07:30:00", std::nullopt},
           {"2026-13-30T07:30:00Z", std::nullopt},
           {"", std::nullopt},
       }) {
    EXPECT_EQ(parse_since(r.text, now), r.want) << r.text;
  }
}

}  // namespace
}  // namespace dynmgr::logfiles
