// SPDX-License-Identifier: Apache-2.0
// fuzz_http: libFuzzer harness for the /metrics server's request reader (issue 20):
// supervisor/observe/http_request.hpp, fed as the server feeds it -- the bytes of a
// connection, cut into reads (the first input byte chooses their size), into a buffer of at
// most max_header bytes, request after request while the client keeps the connection alive.
// The contract checked: no exception escapes but Beast's parse errors, never a crash, and
//   - a request is only answered once complete, within the header limit, with no body;
//   - every answer is 200 (GET/HEAD /metrics), 404 or 405, with a Content-Length that is
//     the body's (HEAD: the GET's, and no body), and keep-alive as the request asked;
//   - nothing the client sent reaches the answer's header but its version.
// A failed check aborts, which libFuzzer reports as a crash with the input saved.
#include <algorithm>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "observe/http_request.hpp"

namespace {

namespace http = boost::beast::http;
using sandbox::observe::MetricsFormat;

[[noreturn]] void violated(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz_http: contract violated: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) violated(what, detail);
}

constexpr std::size_t kMaxHeader = 8 * 1024;  // MetricsServer::Options::max_header

std::string body(MetricsFormat f) {
  return f == MetricsFormat::openmetrics ? "om 1\n# EOF\n" : "m 1\n";
}

void check_answer(const sandbox::observe::HttpRequest& req, const sandbox::observe::HttpResponse& res) {
  std::ostringstream out;
  out << res;
  const std::string text = out.str();
  const auto code = res.result_int();
  check(code == 200 || code == 404 || code == 405, "an answer other than 200, 404 or 405", text);
  const bool head = req.method() == http::verb::head;
  const auto length = res[http::field::content_length];
  check(!length.empty(), "no Content-Length", text);
  if (!head) check(std::to_string(res.body().size()) == length, "Content-Length is not the body's", text);
  if (head) check(res.body().empty(), "HEAD answered with a body", text);
  check(res.keep_alive() == req.keep_alive(), "keep-alive differs from the request's", text);
  const std::size_t end = text.find("\r\n\r\n");
  check(end != std::string::npos, "no end of headers", text);
  // The header is ours: fixed names and values, the negotiated type and the length -- so
  // nothing of the request (its target, its headers) is echoed. Line by line against the
  // fixed set (a substring search for the target gave false alarms: "ext/plain" is in
  // "text/plain").
  static const std::set<std::string, std::less<>> fixed{
      "HTTP/1.1 200 OK",
      "HTTP/1.1 404 Not Found",
      "HTTP/1.1 405 Method Not Allowed",
      "HTTP/1.0 200 OK",  // the answer takes the request's version
      "HTTP/1.0 404 Not Found",
      "HTTP/1.0 405 Method Not Allowed",
      "Server: sandbox",
      "Allow: GET, HEAD",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Type: text/plain; version=0.0.4; charset=utf-8",
      "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8",
      "Connection: close",
      "Connection: keep-alive"};
  for (std::size_t at = 0; at < end;) {
    const std::size_t eol = std::min(text.find("\r\n", at), end);
    const std::string_view line(text.data() + at, eol - at);
    const bool length_line = line.rfind("Content-Length: ", 0) == 0 &&
                             line.find_first_not_of("0123456789", 16) == std::string_view::npos;
    check(length_line || fixed.contains(line), "a header line that is not one of ours", text);
    at = eol + 2;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t step = 1 + data[0] % 64;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  boost::beast::flat_buffer buffer(kMaxHeader);
  for (int requests = 0; requests < 64; ++requests) {
    sandbox::observe::HttpRequestParser parser;
    sandbox::observe::bound(parser, kMaxHeader);
    boost::beast::error_code ec;
    // Parse what is buffered; when more is needed, "read" the next `step` bytes -- as Beast's
    // own read loop (http::async_read, which the server uses) does: after need_more it always
    // reads before parsing again (the parser asserts that it is not given the same partial
    // chunk header twice).
    for (;;) {
      if (buffer.size() > 0) {
        const std::size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec == http::error::need_more) ec = {};
        if (ec || parser.is_header_done()) break;
      }
      if (rest.empty()) return 0;  // EOF mid-request: dropped, nothing answered
      const std::size_t n = std::min(step, rest.size());
      if (buffer.size() + n > buffer.max_size()) return 0;  // over the limit: dropped
      const auto b = buffer.prepare(n);
      std::memcpy(b.data(), rest.data(), n);
      buffer.commit(n);
      rest.remove_prefix(n);
    }
    if (ec || !parser.is_done()) return 0;  // refused without an answer (a body follows: chunked)
    check(parser.is_header_done() && parser.is_done(), "an incomplete request was answered");
    const auto& req = parser.get();
    check(req.payload_size().value_or(0) == 0, "a request with a body was answered");
    const sandbox::observe::HttpResponse res = sandbox::observe::answer(req, body);
    check_answer(req, res);
    if (!req.keep_alive()) return 0;
  }
  return 0;
}
