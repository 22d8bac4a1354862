// The web dashboard in a real browser: headless Chromium (Debian `chromium`)
// loads the page from a real supervisor and is driven over the DevTools
// protocol (a Boost.Beast websocket client): the page's script renders a
// worker's id and status, a SIGKILL of that worker shows up in the page's
// event list (the latency from the kill to the row is measured and printed;
// the assertion is a generous deadline), and a screenshot is decoded with
// libpng and checked for a real render, not a blank page.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <png.h>
#include <signal.h>
#include <sys/wait.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <iostream>
#include <map>

#include "cli/web_support.hpp"

namespace dynmgr::testing {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr const char* kChromium = "/usr/bin/chromium";

// Chromium and every process it started (its own process group), killed and
// reaped by the destructor whatever the test did; its profile removed.
class Browser {
 public:
  explicit Browser(const std::string& url) {
    char tmpl[] = "/tmp/dynmgr-test.chromium.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    log_ = dir_ + "/chromium.log";
    std::vector<std::string> args{kChromium,
                                  "--headless=new",
                                  "--no-sandbox",
                                  "--disable-gpu",
                                  "--no-first-run",
                                  "--no-default-browser-check",
                                  "--disable-extensions",
                                  "--disable-background-networking",
                                  "--disable-component-update",
                                  "--hide-scrollbars",
                                  "--window-size=1400,1000",
                                  "--remote-debugging-port=0",
                                  "--user-data-dir=" + dir_,
                                  url};
    const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
    ::close(fd);
  }
  Browser(const Browser&) = delete;
  Browser& operator=(const Browser&) = delete;
  ~Browser() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      (void)wait_child(pid_, std::chrono::seconds(20));
      // Children that left the group still die with it: the profile is theirs.
      ::kill(-pid_, SIGKILL);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // "PORT\n/devtools/browser/<uuid>" once Chromium is listening.
  int devtools_port() const {
    const std::string text = read_file(dir_ + "/DevToolsActivePort");
    const auto lines = lines_of(text);
    return lines.size() >= 2 ? std::atoi(lines[0].c_str()) : 0;
  }
  std::string log() const { return read_file(log_); }

 private:
  pid_t pid_ = -1;
  std::string dir_;
  std::string log_;
};

// One DevTools websocket session (a page target).
class DevTools {
 public:
  bool connect(int port, const std::string& path) {
    try {
      tcp::resolver resolver(ioc_);
      net::connect(ws_.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)));
      ws_.handshake("127.0.0.1:" + std::to_string(port), path);
      return true;
    } catch (const std::exception& e) {
      error_ = e.what();
      return false;
    }
  }
  // Sends a command and returns its "result" (events in between are skipped);
  // null on an error reply or a broken connection.
  json::value call(const std::string& method, json::object params = {}) {
    try {
      const std::int64_t id = ++last_id_;
      json::object req;
      req["id"] = id;
      req["method"] = method;
      req["params"] = std::move(params);
      ws_.write(net::buffer(json::serialize(req)));
      for (;;) {
        beast::flat_buffer buf;
        ws_.read(buf);
        auto v = json::parse(beast::buffers_to_string(buf.data()));
        const auto& o = v.as_object();
        if (const auto* got = o.if_contains("id"); got && got->to_number<std::int64_t>() == id) {
          if (const auto* r = o.if_contains("result")) return *r;
          error_ = json::serialize(v);
          return nullptr;
        }
      }
    } catch (const std::exception& e) {
      error_ = e.what();
      return nullptr;
    }
  }
  // The value of a JavaScript expression in the page (returnByValue).
  json::value eval(const std::string& expression) {
    json::object p;
    p["expression"] = expression;
    p["returnByValue"] = true;
    auto r = call("Runtime.evaluate", std::move(p));
    if (!r.is_object()) return nullptr;
    const auto* res = r.as_object().if_contains("result");
    if (res == nullptr || !res->is_object()) return nullptr;
    const auto* value = res->as_object().if_contains("value");
    return value ? *value : json::value(nullptr);
  }
  const std::string& error() const { return error_; }

 private:
  net::io_context ioc_;
  beast::websocket::stream<tcp::socket> ws_{ioc_};
  std::int64_t last_id_ = 0;
  std::string error_;
};

std::string base64_decode(std::string_view in) {
  static const std::string chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (char c : in) {
    const auto pos = chars.find(c);
    if (pos == std::string::npos) continue;  // '=' and whitespace
    buf = (buf << 6) | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xFF));
    }
  }
  return out;
}

struct Render {
  bool decoded = false;
  std::uint32_t width = 0, height = 0;
  std::size_t colours = 0;  // distinct RGB colours
  double top_share = 1.0;   // the share of pixels of the most common colour
  std::string error;
};

// Decodes a PNG with libpng's simplified API and counts its colours.
Render inspect_png(const std::string& png) {
  Render r;
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) {
    r.error = image.message;
    return r;
  }
  image.format = PNG_FORMAT_RGB;
  std::vector<unsigned char> pixels(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) {
    r.error = image.message;
    png_image_free(&image);
    return r;
  }
  r.decoded = true;
  r.width = image.width;
  r.height = image.height;
  std::map<std::uint32_t, std::size_t> count;
  for (std::size_t i = 0; i + 2 < pixels.size(); i += 3) {
    ++count[(std::uint32_t{pixels[i]} << 16) | (std::uint32_t{pixels[i + 1]} << 8) | pixels[i + 2]];
  }
  r.colours = count.size();
  std::size_t top = 0;
  for (const auto& [c, n] : count) top = std::max(top, n);
  r.top_share =
      pixels.empty() ? 1.0 : static_cast<double>(top) / (static_cast<double>(pixels.size()) / 3);
  return r;
}

// The page target's websocket path, from Chromium's /json/list.
std::string page_path(int port) {
  auto r = curl({"http://127.0.0.1:" + std::to_string(port) + "/json/list"});
  if (r.exit_code != 0) return "";
  auto v = parse(r.out);
  if (!v.is_array()) return "";
  for (const auto& t : v.as_array()) {
    const auto& o = t.as_object();
    if (o.contains("type") && o.at("type") == "page" && o.contains("webSocketDebuggerUrl")) {
      std::string url(o.at("webSocketDebuggerUrl").as_string());
      const auto at = url.find("/devtools/");
      return at == std::string::npos ? "" : url.substr(at);
    }
  }
  return "";
}

TEST(WebBrowser, ThePageRendersWorkersAndShowsAKillLive) {
  ASSERT_EQ(::access(kChromium, X_OK), 0)
      << kChromium << " is missing: the browser test needs Debian's chromium "
      << "(scripts/install-deps.sh, run by `make test`, installs it)";
  Daemon d("probe", {"--metrics-listen", "127.0.0.1:0"}, {}, "wb");
  ASSERT_TRUE(d.ok()) << d.start_result().err;
  ASSERT_TRUE(wait_until([&] { return logged_port(d) > 0; })) << d.log();
  const std::string url = "http://127.0.0.1:" + std::to_string(logged_port(d)) + "/";
  for (const char* id : {"alpha", "beta", "victim"}) {
    ASSERT_EQ(d.ctl({"put", id, "--timeout", "0", "--payload", "1"}).exit_code, 0);
  }

  Browser browser(url);
  ASSERT_TRUE(wait_until([&] { return browser.devtools_port() > 0; }, std::chrono::seconds(60)))
      << "chromium did not start:\n"
      << browser.log();
  std::string path;
  ASSERT_TRUE(wait_until([&] { return !(path = page_path(browser.devtools_port())).empty(); },
                         std::chrono::seconds(30), std::chrono::milliseconds(100)))
      << browser.log();
  DevTools dt;
  ASSERT_TRUE(dt.connect(browser.devtools_port(), path)) << dt.error();

  // The table, as the page's script built it from /api/state.
  const std::string rows =
      "Array.from(document.querySelectorAll('#workers tbody tr'))"
      ".map(r => r.cells[0].textContent + '|' + r.cells[2].textContent + '|' + "
      "r.cells[3].textContent).join('\\n')";
  json::value seen;
  EXPECT_TRUE(wait_until(
      [&] {
        seen = dt.eval(rows);
        return seen.is_string() &&
               std::string(seen.as_string()).find("victim|running|0") != std::string::npos;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(50)))
      << to_json(seen) << " " << dt.error();
  const std::string text = seen.is_string() ? std::string(seen.as_string()) : "";
  EXPECT_NE(text.find("alpha|running|0"), std::string::npos) << text;
  EXPECT_NE(text.find("beta|running|0"), std::string::npos) << text;
  // The stream is open before the kill (the page says "live").
  EXPECT_TRUE(
      wait_until([&] { return dt.eval("document.querySelector('#live').textContent") == "live"; },
                 std::chrono::seconds(30), std::chrono::milliseconds(50)));

  const pid_t victim = d.client().get("victim")->pid;
  ASSERT_GT(victim, 0);
  const std::string exited_row =
      "Array.from(document.querySelectorAll('#events li.exited'))"
      ".some(li => li.querySelector('.id') && li.querySelector('.id').textContent === 'victim')";
  const auto killed_at = std::chrono::steady_clock::now();
  ::kill(victim, SIGKILL);
  const bool shown = wait_until([&] { return dt.eval(exited_row) == true; },
                                std::chrono::seconds(30), std::chrono::milliseconds(10));
  const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - killed_at);
  EXPECT_TRUE(shown) << dt.error();
  std::cout << "[ measured ] SIGKILL -> exited row in the page: " << latency.count()
            << " ms (the issue asks for < 2000 ms)" << std::endl;
  RecordProperty("kill_to_row_ms", static_cast<int>(latency.count()));

  // The row follows: restarted once and running again. Then look at the page.
  EXPECT_TRUE(wait_until(
      [&] {
        auto v = dt.eval(rows);
        return v.is_string() &&
               std::string(v.as_string()).find("victim|running|1") != std::string::npos;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(50)));
  json::object shot;
  shot["format"] = "png";
  auto r = dt.call("Page.captureScreenshot", shot);
  ASSERT_TRUE(r.is_object()) << dt.error();
  const std::string png = base64_decode(r.as_object().at("data").as_string());
  const std::string file =
      std::string(std::getenv("DYNMGR_TEST_DIR") ? std::getenv("DYNMGR_TEST_DIR") : "/tmp") +
      "/web_browser_test.png";
  {
    std::ofstream out(file, std::ios::binary);
    out << png;
  }
  const Render render = inspect_png(png);
  ASSERT_TRUE(render.decoded) << render.error << " (" << file << ")";
  std::cout << "[ screenshot ] " << file << ": " << render.width << "x" << render.height << ", "
            << render.colours << " colours, the commonest covers " << render.top_share * 100 << " %"
            << std::endl;
  EXPECT_GE(render.width, 800u);
  EXPECT_GE(render.colours, 50u) << file;     // text, badges, charts: many colours
  EXPECT_LT(render.top_share, 0.90) << file;  // not one flat colour
}

// Not a test: scripts/web-screenshot.sh runs it (--gtest_also_run_disabled_tests)
// to picture another instance's dashboard for the README. DYNMGR_WEB_URL is
// the page, DYNMGR_WEB_SCREENSHOT the PNG to write.
TEST(WebBrowser, DISABLED_Screenshot) {
  const char* url = std::getenv("DYNMGR_WEB_URL");
  const char* out = std::getenv("DYNMGR_WEB_SCREENSHOT");
  ASSERT_TRUE(url != nullptr && out != nullptr) << "set DYNMGR_WEB_URL and DYNMGR_WEB_SCREENSHOT";
  ASSERT_EQ(::access(kChromium, X_OK), 0) << kChromium << " is missing";
  Browser browser(url);
  ASSERT_TRUE(wait_until([&] { return browser.devtools_port() > 0; }, std::chrono::seconds(60)))
      << browser.log();
  std::string path;
  ASSERT_TRUE(wait_until([&] { return !(path = page_path(browser.devtools_port())).empty(); },
                         std::chrono::seconds(30), std::chrono::milliseconds(100)));
  DevTools dt;
  ASSERT_TRUE(dt.connect(browser.devtools_port(), path)) << dt.error();
  // Rows, a live stream and drawn charts.
  ASSERT_TRUE(wait_until(
      [&] {
        return dt.eval(
                   "document.querySelectorAll('#workers tbody tr').length > 0 && "
                   "document.querySelector('#live').textContent === 'live' && "
                   "document.querySelectorAll('#chart-status polyline').length > 0") == true;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(100)))
      << dt.error();
  json::object shot;
  shot["format"] = "png";
  auto r = dt.call("Page.captureScreenshot", shot);
  ASSERT_TRUE(r.is_object()) << dt.error();
  std::ofstream(out, std::ios::binary) << base64_decode(r.as_object().at("data").as_string());
  EXPECT_TRUE(inspect_png(read_file(out)).decoded);
}

}  // namespace
}  // namespace dynmgr::testing
