// SPDX-License-Identifier: Apache-2.0
// http_request: see http_request.hpp.
#include "observe/http_request.hpp"

#include <string_view>

namespace sandbox::observe {

namespace http = boost::beast::http;

void bound(HttpRequestParser& parser, std::size_t max_header) {
  parser.header_limit(static_cast<std::uint32_t>(max_header));
  parser.body_limit(0);
}

HttpResponse answer(const HttpRequest& req, const std::function<std::string(MetricsFormat)>& body) {
  HttpResponse res;
  res.version(req.version());
  res.set(http::field::server, "sandbox");
  std::string_view target(req.target().data(), req.target().size());
  if (const auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "GET, HEAD");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "only GET /metrics here\n";
  } else if (target != "/metrics") {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "not found: try /metrics\n";
  } else {
    const auto accept = req[http::field::accept];
    const MetricsFormat f = negotiate(std::string_view(accept.data(), accept.size()));
    res.result(http::status::ok);
    res.set(http::field::content_type, std::string(content_type(f)));
    res.body() = body(f);
  }
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  if (req.method() == http::verb::head) res.body().clear();  // the length stays the GET's
  return res;
}

}  // namespace sandbox::observe
