// The web dashboard's HTTP side through real processes and real HTTP: the page
// and its headers, /api/state against `dynmgrctl state --json`, the event
// stream after a real SIGKILL, Last-Event-ID, many clients at once (and a
// silent one) while /metrics still answers, the connection cap, and the token
// rules of the actions, which really restart and delete workers.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <iostream>

#include "cli/web_support.hpp"

namespace dynmgr::testing {
namespace {

class Web : public ::testing::Test {
 protected:
  void start(std::vector<std::string> flags = {}) {
    flags.insert(flags.begin(), {"--metrics-listen", "127.0.0.1:0"});
    daemon_ = std::make_unique<Daemon>("probe", std::move(flags), std::vector<std::string>{}, "w");
    ASSERT_TRUE(daemon_->ok()) << daemon_->start_result().err;
    ASSERT_TRUE(wait_until([&] { return logged_port(*daemon_) > 0; })) << daemon_->log();
    port_ = logged_port(*daemon_);
    url_ = "http://127.0.0.1:" + std::to_string(port_);
  }
  void put(const std::string& id, const std::string& payload = "0") {
    ASSERT_EQ(daemon_->ctl({"put", id, "--timeout", "0", "--payload", payload}).exit_code, 0);
  }
  pid_t pid_of(const std::string& id) {
    auto r = daemon_->client().get(id);
    return r ? r->pid : 0;
  }
  // A token file of mode `mode` holding `text`.
  std::string token_file(const std::string& text, mode_t mode = 0600) {
    const std::string path = "/tmp/dynmgr-test." + unique_instance("tok") + ".token";
    {
      std::ofstream out(path);
      out << text;
    }
    ::chmod(path.c_str(), mode);
    files_.push_back(path);
    return path;
  }
  void TearDown() override {
    daemon_.reset();
    for (const auto& f : files_) ::unlink(f.c_str());
  }

  std::unique_ptr<Daemon> daemon_;
  int port_ = 0;
  std::string url_;
  std::vector<std::string> files_;
};

std::string header_block(const std::string& curl_out) {
  return curl_out.substr(0, curl_out.find("\r\n\r\n"));
}

TEST_F(Web, ThePageIsServedFromTheBinaryWithItsSecurityHeaders) {
  start();
  auto r = curl({"-D", "-", url_ + "/"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string head = header_block(r.out);
  EXPECT_NE(head.find("HTTP/1.1 200 OK"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Type: text/html; charset=utf-8"), std::string::npos) << head;
  EXPECT_NE(head.find("X-Content-Type-Options: nosniff"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Security-Policy: default-src 'none'; script-src 'self'"),
            std::string::npos)
      << head;
  // Self-contained: its script and style come from this server, nothing from elsewhere.
  EXPECT_NE(r.out.find("<script src=\"/app.js\""), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("http://"), std::string::npos);
  EXPECT_EQ(r.out.find("https://"), std::string::npos);
  for (const char* asset : {"/app.js", "/app.css"}) {
    r = curl({"-D", "-", url_ + asset});
    EXPECT_NE(r.out.find("HTTP/1.1 200 OK"), std::string::npos) << asset << r.out.substr(0, 300);
    EXPECT_NE(r.out.find("X-Content-Type-Options: nosniff"), std::string::npos);
  }
  r = curl({url_ + "/app.js"});
  EXPECT_NE(r.out.find("new EventSource('/events"), std::string::npos);
  EXPECT_EQ(r.out.find("innerHTML"), std::string::npos) << "data goes through textContent only";
  auto cfg = parse(curl({url_ + "/api/config"}).out);
  ASSERT_TRUE(cfg.is_object());
  EXPECT_EQ(cfg.as_object().at("actions"), false);
  EXPECT_EQ(cfg.as_object().at("instance"), json::value(daemon_->name()));
  // The history holds the sample taken at start.
  auto hist = parse(curl({url_ + "/api/history"}).out);
  ASSERT_TRUE(hist.is_object());
  EXPECT_EQ(hist.as_object().at("interval_ms"), 10000);
  EXPECT_GE(hist.as_object().at("samples").as_array().size(), 1u);
  // /metrics as before.
  EXPECT_EQ(http_code({url_ + "/metrics"}), "200");
  EXPECT_EQ(http_code({"-I", url_ + "/metrics"}), "200");
  EXPECT_EQ(http_code({url_ + "/nothing"}), "404");
  EXPECT_EQ(http_code({"-X", "POST", url_ + "/metrics"}), "405");
  EXPECT_EQ(http_code({"-X", "POST", url_ + "/api/state"}), "405");
}

TEST_F(Web, ApiStateIsStateJson) {
  start();
  put("a");
  put("b \xe2\x9c\x93 <i>", R"({"k":"<script>"})");
  ASSERT_TRUE(wait_until([&] { return pid_of("b \xe2\x9c\x93 <i>") > 0; }));
  // Equal once nothing moves between the two reads (a commit may land between them).
  json::value web, ctl;
  EXPECT_TRUE(wait_until([&] {
    web = parse(curl({url_ + "/api/state"}).out);
    ctl = parse(daemon_->ctl({"state", "--json"}).out);
    return web == ctl && web.is_object();
  })) << to_json(web)
      << "\n"
      << to_json(ctl);
  EXPECT_EQ(web.as_object().at("workers").as_array().size(), 2u);
  auto mb = parse(curl({url_ + "/api/mailboxes"}).out);
  ASSERT_TRUE(mb.is_object());
  EXPECT_EQ(mb.as_object().at("workers").as_array().size(), 2u);
}

TEST_F(Web, EventsStreamAnExitAfterASigkillAndResumeFromLastEventId) {
  start();
  put("k");
  RawHttp sse(port_);
  ASSERT_TRUE(sse.ok());
  ASSERT_TRUE(sse.get("/events"));
  ASSERT_TRUE(sse.read_until([](const std::string& s) { return s.find("retry:") != s.npos; }))
      << sse.got;
  EXPECT_NE(sse.got.find("Content-Type: text/event-stream"), std::string::npos) << sse.got;
  const pid_t first = pid_of("k");
  ASSERT_GT(first, 0);
  ::kill(first, SIGKILL);
  const std::string exited = R"("event":"exited","id":"k")";
  ASSERT_TRUE(sse.read_until([&](const std::string& s) { return s.find(exited) != s.npos; }))
      << sse.got;
  // Its frame: "id: SEQ\ndata: {...}".
  const auto data = sse.got.find(exited);
  const auto id_at = sse.got.rfind("id: ", data);
  ASSERT_NE(id_at, std::string::npos);
  const std::uint64_t seq = std::strtoull(sse.got.c_str() + id_at + 4, nullptr, 10);
  ASSERT_GT(seq, 0u);
  EXPECT_NE(sse.got.find(R"("seq":)" + std::to_string(seq)), std::string::npos);

  // A reconnecting client (Last-Event-ID: the event before) gets it again, first.
  RawHttp again(port_);
  ASSERT_TRUE(again.get("/events", "Last-Event-ID: " + std::to_string(seq - 1) + "\r\n"));
  ASSERT_TRUE(again.read_until([&](const std::string& s) { return s.find(exited) != s.npos; }))
      << again.got;
  const auto first_id = again.got.find("\nid: ");
  ASSERT_NE(first_id, std::string::npos);
  EXPECT_EQ(std::strtoull(again.got.c_str() + first_id + 5, nullptr, 10), seq) << again.got;
  // ?since=SEQ does the same for a first connection.
  RawHttp since(port_);
  ASSERT_TRUE(since.get("/events?since=" + std::to_string(seq)));
  ASSERT_TRUE(since.read_until([&](const std::string& s) { return s.find(exited) != s.npos; }));
}

TEST_F(Web, ReadersThatFellBehindGetAMissedEvent) {
  start({"--event-capacity", "16"});
  put("m");
  // 16 events later, seq 1 is gone: asking for it says how many were lost.
  for (int i = 0; i < 6; ++i) put("m" + std::to_string(i));
  RawHttp sse(port_);
  ASSERT_TRUE(sse.get("/events?since=1"));
  ASSERT_TRUE(sse.read_until([](const std::string& s) {
    return s.find("event: missed\n") != s.npos && s.find(R"("event":"missed")") != s.npos;
  })) << sse.got;
}

TEST_F(Web, ManyStreamsAndASilentClientDoNotBlockOthers) {
  start();
  put("v");
  // A client that connects and sends nothing.
  RawHttp silent(port_);
  ASSERT_TRUE(silent.ok());
  std::vector<std::unique_ptr<RawHttp>> streams;
  for (int i = 0; i < 8; ++i) {
    streams.push_back(std::make_unique<RawHttp>(port_));
    ASSERT_TRUE(streams.back()->get("/events"));
  }
  for (auto& s : streams) {
    ASSERT_TRUE(s->read_until([](const std::string& t) { return t.find("retry:") != t.npos; }));
  }
  // Meanwhile /metrics and the API answer.
  EXPECT_EQ(http_code({url_ + "/metrics"}), "200");
  EXPECT_EQ(http_code({url_ + "/api/state"}), "200");
  ::kill(pid_of("v"), SIGKILL);
  for (auto& s : streams) {
    EXPECT_TRUE(s->read_until([](const std::string& t) {
      return t.find(R"("event":"exited","id":"v")") != t.npos;
    })) << s->got;
  }
  // Past kMaxConnections (32) the next one is told to come back later (the
  // silent client holds a place until its 5 s request timeout).
  std::vector<std::unique_ptr<RawHttp>> more;
  bool refused = false;
  while (!refused && more.size() < 40) {
    more.push_back(std::make_unique<RawHttp>(port_));
    ASSERT_TRUE(more.back()->get("/events"));
    ASSERT_TRUE(more.back()->read_until([](const std::string& t) {
      return t.find("retry:") != t.npos || t.find("HTTP/1.1 503") != t.npos;
    })) << more.back()->got;
    refused = more.back()->contains("HTTP/1.1 503");
  }
  ASSERT_TRUE(refused);
  EXPECT_GE(streams.size() + more.size() - 1, 31u);  // streams open when it was refused
  EXPECT_LE(streams.size() + more.size() - 1, 32u);
  // ...and served again once some leave.
  more.clear();
  EXPECT_TRUE(wait_until([&] { return http_code({url_ + "/metrics"}) == "200"; }));
}

TEST_F(Web, ActionsAreForbiddenWithoutAConfiguredToken) {
  start();
  put("r");
  EXPECT_EQ(http_code({"-X", "POST", url_ + "/api/workers/r/del"}), "403");
  EXPECT_EQ(http_code({"-X", "POST", "-H", "Authorization: Bearer x", url_ + "/api/workers/r/del"}),
            "403");
  EXPECT_EQ(http_code({"-X", "POST", url_ + "/api/workers/r/restart"}), "403");
  EXPECT_GT(pid_of("r"), 0);
}

TEST_F(Web, ActionsNeedTheTokenAndReallyRestartAndDelete) {
  const std::string token = "s3cret-" + unique_instance("t");
  start({"--web-token-file", token_file(token + "\nignored second line\n")});
  auto cfg = parse(curl({url_ + "/api/config"}).out);
  ASSERT_TRUE(cfg.is_object());
  EXPECT_EQ(cfg.as_object().at("actions"), true);
  put("x", "41");
  put("y/z \xc3\xa9", "7");
  const pid_t before = pid_of("x");
  ASSERT_GT(before, 0);
  const std::string bearer = "Authorization: Bearer " + token;
  // Wrong, missing or malformed: 401, and nothing happens.
  EXPECT_EQ(http_code({"-X", "POST", url_ + "/api/workers/x/restart"}), "401");
  EXPECT_EQ(
      http_code({"-X", "POST", "-H", "Authorization: Bearer nope", url_ + "/api/workers/x/del"}),
      "401");
  EXPECT_EQ(http_code({"-X", "POST", "-H", "Authorization: " + token, url_ + "/api/workers/x/del"}),
            "401");
  EXPECT_EQ(http_code({"-X", "POST", "-H", bearer + "x", url_ + "/api/workers/x/del"}), "401");
  EXPECT_EQ(pid_of("x"), before);
  // GET is not an action.
  EXPECT_EQ(http_code({"-H", bearer, url_ + "/api/workers/x/del"}), "405");
  // No such worker.
  auto r =
      curl({"-w", "\n%{http_code}", "-X", "POST", "-H", bearer, url_ + "/api/workers/nobody/del"});
  EXPECT_EQ(lines_of(r.out).back(), "404") << r.out;
  // del, with the id URL-encoded.
  r = curl({"-w", "\n%{http_code}", "-X", "POST", "-H", bearer,
            url_ + "/api/workers/y%2Fz%20%C3%A9/del"});
  EXPECT_EQ(lines_of(r.out).back(), "200") << r.out;
  auto gone = daemon_->client().get("y/z \xc3\xa9");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::kNotFound);
  // A reexec'd image serves again, and leaves no reply queue of the previous
  // image's action Client behind (its owner, the same pid, never dies).
  const auto listened = [&] {
    const std::string log = read_file(daemon_->log_path());
    std::size_t n = 0;
    for (auto p = log.find("metrics at http://"); p != std::string::npos;
         p = log.find("metrics at http://", p + 1)) {
      ++n;
    }
    return n;
  };
  const auto own_queues = [&] {
    std::size_t n = 0;
    for (const auto& name : shm_objects(daemon_->names())) {
      const auto owner = daemon_->names().parse_reply(name);
      if (owner && owner->pid == daemon_->pid()) ++n;
    }
    return n;
  };
  EXPECT_GT(own_queues(), 0u);  // the action Client's queue (and its bell) while it runs
  ASSERT_EQ(listened(), 1u);
  ASSERT_EQ(daemon_->ctl({"reexec"}).exit_code, 0);
  ASSERT_TRUE(wait_until([&] { return listened() == 2u; })) << daemon_->log();
  url_ = "http://127.0.0.1:" + std::to_string(logged_port(*daemon_));  // port 0: a new one
  ASSERT_EQ(http_code({url_ + "/api/config"}), "200");
  EXPECT_EQ(own_queues(), 0u);
  // restart (after the reexec: the new image's action Client): a new pid, the same payload.
  r = curl({"-w", "\n%{http_code}", "-X", "POST", "-H", bearer, url_ + "/api/workers/x/restart"});
  EXPECT_EQ(lines_of(r.out).back(), "200") << r.out;
  ASSERT_TRUE(wait_until([&] {
    auto w = daemon_->client().get("x");
    return w && w->pid > 0 && w->pid != before && w->status == WorkerStatus::kRunning;
  })) << r.out;
  EXPECT_EQ(daemon_->client().get("x")->payload, "41");
  EXPECT_NE(r.out.find(R"("worker":{"id":"x")"), std::string::npos) << r.out;
}

TEST_F(Web, BadTokenFilesAreUsageErrorsAndNothingStarts) {
  const std::string name = unique_instance("wb");
  const auto run = [&](std::vector<std::string> flags) {
    std::vector<std::string> argv{bin_path("probe"), "-n", name};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return run_command(argv);
  };
  const std::string missing = "/tmp/dynmgr-test." + unique_instance("none") + ".token";
  const std::string empty = token_file("\nsecond line\n");
  const std::string open = token_file("tok\n", 0640);
  const std::string good = token_file("tok\n");
  struct Case {
    std::vector<std::string> flags;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--metrics-listen", "0", "--web-token-file", missing}, "No such file or directory"},
      {{"--metrics-listen", "0", "--web-token-file", empty}, "its first line is empty"},
      {{"--metrics-listen", "0", "--web-token-file", open}, "by group or others"},
      {{"--web-token-file", good}, "--web-token-file needs --metrics-listen"},
  };
  for (const auto& c : cases) {
    auto r = run(c.flags);
    EXPECT_EQ(r.exit_code, 2) << c.says << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_TRUE(shm_objects(Names(name)).empty());
  }
  remove_state_dir(name);
}

}  // namespace
}  // namespace dynmgr::testing
