// SPDX-License-Identifier: Apache-2.0
// http_request: the /metrics server's request reader, with no socket (http.cpp reads the
// bytes; the fuzz harness test/fuzz/fuzz_http.cpp feeds them directly): the parser bounded
// as the server reads, and the answer to one request.
#pragma once

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <functional>
#include <string>

#include "observe/metrics.hpp"

namespace sandbox::observe {

using HttpRequest = boost::beast::http::request<boost::beast::http::empty_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
using HttpRequestParser = boost::beast::http::request_parser<boost::beast::http::empty_body>;

// Bounds a parser as the server does: at most max_header bytes of request line and
// headers, and no body at all (a request that has one is refused).
void bound(HttpRequestParser& parser, std::size_t max_header);

// The answer to one request: GET or HEAD /metrics (a query string aside) is 200 with
// body(format), the format negotiated from Accept; another path 404; another method 405.
// Nothing of the request is echoed but its HTTP version and keep-alive.
HttpResponse answer(const HttpRequest& req, const std::function<std::string(MetricsFormat)>& body);

}  // namespace sandbox::observe
