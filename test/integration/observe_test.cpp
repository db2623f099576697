// SPDX-License-Identifier: Apache-2.0
// Integration tests for issue 14, with real programs: the trace of a real run (and its
// plot), live usage events from `watch`, the metrics of a real `serve` checked by promtool
// and by a strict OpenMetrics parser, and `serve` started the way systemd starts it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "child.hpp"  // test/host: forked children drop doctest's handlers
#include "harness.hpp"

namespace {

using json = nlohmann::json;
const std::string kShim = SHIM_BIN;
const std::string kJobsTarget = JOBS_TARGET_BIN;

std::string temp_path(const std::string& tag) {
  return "/tmp/sandbox-obs-" + tag + "-" + std::to_string(::getpid());
}

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// A shell command's status and combined output, with `input` on its stdin.
Result shell(const std::string& cmd, const std::string& input = "") {
  const std::string in = temp_path("stdin");
  std::ofstream(in, std::ios::binary) << input;
  Result r = run({"/bin/sh", "-c", cmd + " < " + in});
  ::unlink(in.c_str());
  return r;
}

// The trace's counter points for (pid, name), and its instants by name.
struct Trace {
  json doc;
  std::vector<std::pair<std::uint64_t, std::int64_t>> points(std::int64_t pid,
                                                             const std::string& name) const {
    std::vector<std::pair<std::uint64_t, std::int64_t>> out;
    for (const auto& e : doc["traceEvents"])
      if (e["ph"] == "C" && e["pid"] == pid && e["name"] == name)
        out.emplace_back(e["ts"].get<std::uint64_t>(), e["args"].begin()->get<std::int64_t>());
    return out;
  }
  std::int64_t peak(std::int64_t pid, const std::string& name) const {
    std::int64_t m = -1;
    for (const auto& [ts, v] : points(pid, name)) m = std::max(m, v);
    return m;
  }
  std::vector<json> instants(const std::string& name) const {
    std::vector<json> out;
    for (const auto& e : doc["traceEvents"])
      if (e["ph"] == "i" && e["name"] == name) out.push_back(e);
    return out;
  }
  std::string process_name(std::int64_t pid) const {
    for (const auto& e : doc["traceEvents"])
      if (e["ph"] == "M" && e["name"] == "process_name" && e["pid"] == pid) return e["args"]["name"];
    return "";
  }
};

Trace load_trace(const std::string& path) {
  Trace t;
  t.doc = json::parse(slurp(path), nullptr, false);
  REQUIRE_MESSAGE(!t.doc.is_discarded(), "the trace is not JSON: " << slurp(path).substr(0, 200));
  REQUIRE(t.doc["traceEvents"].is_array());
  return t;
}

constexpr std::int64_t kJob = (std::int64_t{1} << 22) + 1;

// A picture as a person sees it: the SVG rendered by rsvg-convert, decoded to RGB.
struct Image {
  int w = 0, h = 0;
  std::string rgb;
  const unsigned char* px(int x, int y) const {
    return reinterpret_cast<const unsigned char*>(rgb.data()) + (static_cast<std::size_t>(y) * w + x) * 3;
  }
  bool red(int x, int y) const {  // the kill colour, #d62728
    const auto* p = px(x, y);
    return p[0] > 170 && p[1] < 100 && p[2] < 100;
  }
  bool dark(int x, int y) const {  // the job's colour, #222222
    const auto* p = px(x, y);
    return p[0] < 110 && p[1] < 110 && p[2] < 110;
  }
};

Image render(const std::string& svg) {
  const std::string png = svg + ".png", ppm = svg + ".ppm";
  const Result r = shell("rsvg-convert -o " + png + " " + svg + " && /usr/bin/python3 " +
                         std::string(SOURCE_DIR) + "/test/host/png_to_ppm.py " + png + " > " + ppm);
  INFO(r.err);
  REQUIRE(r.status == 0);
  Image im;
  std::istringstream in(slurp(ppm));
  std::string magic;
  int maxval = 0;
  in >> magic >> im.w >> im.h >> maxval;
  in.get();
  REQUIRE(magic == "P6");
  im.rgb.assign(std::istreambuf_iterator<char>(in), {});
  REQUIRE(im.rgb.size() == static_cast<std::size_t>(im.w) * im.h * 3);
  ::unlink(png.c_str());
  ::unlink(ppm.c_str());
  return im;
}

// An axis of one panel of the plot, read from its tick labels as a person reads them:
// position = a + b * value.
struct Axis {
  double a = 0, b = 0;
  double at(double v) const { return a + b * v; }
};
struct Panel {
  Axis x, y;
  double top = 0, left = 0, width = 0, height = 0;  // the frame
};

double attr(const std::string& s, std::size_t from, const std::string& name) {
  const std::size_t p = s.find(" " + name + "=\"", from);
  REQUIRE(p != std::string::npos);
  return std::stod(s.substr(p + name.size() + 3));
}

Panel panel(const std::string& svg, const std::string& series) {
  const std::size_t g = svg.find("data-series=\"" + series + "\"");
  REQUIRE(g != std::string::npos);
  const std::string part = svg.substr(g, svg.find("</g>", g) - g);
  Panel pn;
  const std::size_t rect = part.find("<rect");
  pn.left = attr(part, rect, "x"), pn.top = attr(part, rect, "y");
  pn.width = attr(part, rect, "width"), pn.height = attr(part, rect, "height");
  std::vector<std::pair<double, double>> xs, ys;  // (position, value)
  for (std::size_t t = part.find("<text"); t != std::string::npos; t = part.find("<text", t + 1)) {
    const std::size_t gt = part.find('>', t), end = part.find("</text>", t);
    const std::string label = part.substr(gt + 1, end - gt - 1);
    char* stop = nullptr;
    const double v = std::strtod(label.c_str(), &stop);
    if (label.empty() || *stop != '\0') continue;  // not a number: a title
    const std::string tag = part.substr(t, gt - t);
    if (has(tag, "text-anchor=\"middle\""))
      xs.emplace_back(attr(tag, 0, "x"), v);
    else if (has(tag, "text-anchor=\"end\""))
      ys.emplace_back(attr(tag, 0, "y") - 4, v);  // the label sits 4 px below its grid line
  }
  REQUIRE(xs.size() >= 2);
  REQUIRE(ys.size() >= 2);
  const auto fit = [](const std::vector<std::pair<double, double>>& p) {
    Axis ax;
    ax.b = (p.back().first - p.front().first) / (p.back().second - p.front().second);
    ax.a = p.front().first - ax.b * p.front().second;
    return ax;
  };
  pn.x = fit(xs), pn.y = fit(ys);
  return pn;
}

// "GET /metrics" over TCP; the whole answer.
std::string http_get(std::uint16_t port, const std::string& accept = "") {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  std::string req = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  if (!accept.empty()) req += "Accept: " + accept + "\r\n";
  req += "\r\n";
  REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[8192];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    REQUIRE_MESSAGE(::poll(&p, 1, 60'000) == 1, "no answer from /metrics within 60 s");
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string http_body(const std::string& response) {
  const auto p = response.find("\r\n\r\n");
  REQUIRE(p != std::string::npos);
  return response.substr(p + 4);
}

const char* const kOpenMetricsCheck =
    "/usr/bin/python3 -c 'import sys\n"
    "from prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n"
    "print(sum(len(f.samples) for f in p(sys.stdin.read())))'";

}  // namespace

TEST_CASE("trace: a heap-quota kill, traced: Chrome trace JSON whose values agree with the run") {
  const std::string path = temp_path("heap.json");
  // --scope process: the command's own node is killed (the job's kill is the next test's).
  const Result r =
      sandboxed({"--scope", "process", "--heap-quota", "8M", "--trace", path}, {kProbe, "heap-kill", "1"});
  INFO(r.err);
  REQUIRE(r.status == 137);
  // The run's own account: "killed pid N: heap quota exceeded: USAGE bytes ... > limit LIMIT bytes".
  const auto killed_at = r.err.find("killed pid ");
  REQUIRE(killed_at != std::string::npos);
  const std::int64_t pid = std::atoll(r.err.c_str() + killed_at + 11);
  const std::int64_t usage = std::atoll(r.err.c_str() + r.err.find("exceeded: ") + 10);
  const std::int64_t limit = std::atoll(r.err.c_str() + r.err.find("> limit ") + 8);
  REQUIRE(limit == 8 << 20);

  const Trace t = load_trace(path);
  CHECK(t.doc["displayTimeUnit"] == "ms");
  CHECK(t.process_name(pid) == "probe (" + std::to_string(pid) + ")");
  CHECK(has(t.process_name(kJob), "probe heap-kill 1"));
  const auto kills = t.instants("kill");
  REQUIRE(kills.size() == 1);
  CHECK(kills[0]["pid"] == pid);
  CHECK(kills[0]["args"]["resource"] == "heap");
  CHECK(kills[0]["args"]["usage"] == usage);
  CHECK(kills[0]["args"]["limit"] == limit);
  CHECK(t.instants("exec").size() == 1);
  REQUIRE(t.instants("exit").size() == 1);
  CHECK(t.instants("exit")[0]["pid"] == pid);
  // The quota line, and the peak: exactly the last growth admitted, one 1 MiB step short
  // of the usage that crossed the quota (coalescing keeps peaks exact).
  CHECK(t.points(pid, "heap quota") ==
        std::vector<std::pair<std::uint64_t, std::int64_t>>{{t.points(pid, "heap quota")[0].first, limit}});
  CHECK(t.peak(pid, "heap") == usage - (1 << 20));
  CHECK(t.peak(pid, "heap") <= limit);
  // The job (the whole run) peaks with its one process and ends at 0 after the exit.
  CHECK(t.peak(kJob, "heap") == t.peak(pid, "heap"));
  CHECK(t.points(kJob, "heap").back().second == 0);
  // Timestamps are microseconds from the start, in order per track, and the kill comes last.
  const auto heap = t.points(pid, "heap");
  for (std::size_t i = 1; i < heap.size(); ++i) CHECK(heap[i - 1].first <= heap[i].first);
  CHECK(kills[0]["ts"].get<std::uint64_t>() >= heap.back().first);
  ::unlink(path.c_str());
}

TEST_CASE("trace: a file-quota kill; the plot of it renders with rsvg-convert") {
  const std::string path = temp_path("files.json"), svg = temp_path("files.svg");
  const Result r =
      sandboxed({"--scope", "process", "--file-quota", "5", "--trace", path}, {kProbe, "file-kill"});
  INFO(r.err);
  REQUIRE(r.status == 137);
  CHECK(has(r.err, "file quota exceeded: 6 open files > limit 5"));
  const Trace t = load_trace(path);
  const auto kills = t.instants("kill");
  REQUIRE(kills.size() == 1);
  const std::int64_t pid = kills[0]["pid"];
  CHECK(t.peak(pid, "files") == 5);
  CHECK(t.peak(pid, "file quota") == 5);
  CHECK(t.peak(kJob, "files") == 5);

  const Result plot = run({kSandbox, "plot", path, "-o", svg});
  INFO(plot.err);
  REQUIRE(plot.status == 0);
  const std::string text = slurp(svg);
  CHECK(has(text, "<svg"));
  CHECK(!has(text, "<script"));
  CHECK(has(text,
            "killed: pid " + std::to_string(pid) + " (probe) crossed its file quota: 6 files &gt; 5 files"));
  CHECK(has(text, "class=\"quota\""));
  const Result render = shell("rsvg-convert -o " + svg + ".png " + svg);
  INFO(render.err);
  CHECK(render.status == 0);
  CHECK(render.err.empty());
  CHECK(::access((svg + ".png").c_str(), F_OK) == 0);
  for (const auto& p : {path, svg, svg + ".png"}) ::unlink(p.c_str());
}

TEST_CASE("trace: a job-quota kill: the job's own totals reach its quota line, and the kill is on the job") {
  const std::string path = temp_path("job.json"), svg = temp_path("job.svg");
  // Four children of 20 MiB each, under a 50 MiB quota on the job: none is over it alone,
  // the third one's mapping puts the job over.
  const Result r = sandboxed({"--heap-quota", "50M", "--trace", path}, {kJobsTarget, "fork-heap", "4", "20"});
  INFO(r.err);
  REQUIRE(r.status == 137);
  REQUIRE(has(r.err, "job heap quota exceeded: "));
  const std::int64_t usage = std::atoll(r.err.c_str() + r.err.find("exceeded: ") + 10);
  const std::int64_t limit = std::atoll(r.err.c_str() + r.err.find("> limit ") + 8);
  REQUIRE(limit == 50 << 20);

  const Trace t = load_trace(path);
  CHECK(has(t.process_name(kJob), "jobs_target fork-heap 4 20"));
  // The job's quota line, from the start.
  const auto quota = t.points(kJob, "heap quota");
  REQUIRE(quota.size() == 1);
  CHECK(quota[0].second == limit);
  // The job's counter: the sum over its processes (children have no node of their own, so
  // no process track could show this), up to the last mapping admitted, exactly one 20 MiB
  // mapping short of the call that crossed.
  const std::int64_t peak = t.peak(kJob, "heap");
  CHECK(peak <= limit);
  CHECK(peak + (20 << 20) == usage);
  CHECK(peak >= 40 << 20);
  // The kill: one instant, on the job's track, naming the resource, the job and the values.
  const auto kills = t.instants("kill");
  REQUIRE(kills.size() == 1);
  CHECK(kills[0]["pid"] == kJob);
  CHECK(kills[0]["args"]["resource"] == "heap");
  CHECK(kills[0]["args"]["job"] == 1);
  CHECK(kills[0]["args"]["usage"] == usage);
  CHECK(kills[0]["args"]["limit"] == limit);
  CHECK(kills[0]["args"]["usage"].get<std::int64_t>() > quota[0].second);
  // Every process gone, the job's counter is back at 0.
  CHECK(t.points(kJob, "heap").back().second == 0);
  // The kill names the process whose call crossed, and it has a track of its own (it is
  // no node: under --scope job only CMD is): its own share, which the refused 20 MiB
  // mapping would have raised by 20 MiB.
  const std::int64_t crosser = kills[0]["args"]["pid"];
  CHECK(kills[0]["args"]["comm"] == "jobs_target");
  CHECK(t.process_name(crosser) == "jobs_target (" + std::to_string(crosser) + ")");
  CHECK(!t.points(crosser, "heap").empty());
  CHECK(t.peak(crosser, "heap") < 20 << 20);
  // The other children, each with its 20 MiB, are among the top processes: tracks too.
  int twenty = 0;
  std::set<std::int64_t> seen;
  for (const auto& e : t.doc["traceEvents"])
    if (e["ph"] == "C" && e["name"] == "heap" && e["pid"].get<std::int64_t>() < kJob &&
        seen.insert(e["pid"].get<std::int64_t>()).second)
      twenty += t.peak(e["pid"], "heap") >= 20 << 20;
  CHECK(twenty >= 2);
  // No "no quota" counters: the file quota was never set.
  CHECK(t.points(kJob, "file quota").empty());
  for (const auto& e : t.doc["traceEvents"])
    if (e["ph"] == "C") CHECK(e["args"].begin()->get<std::int64_t>() >= 0);

  const Result plot = run({kSandbox, "plot", path, "-o", svg});
  INFO(plot.err);
  REQUIRE(plot.status == 0);
  const std::string text = slurp(svg);
  char values[64];
  std::snprintf(values, sizeof values, "%.1f MiB &gt; 50.0 MiB", static_cast<double>(usage) / (1 << 20));
  CHECK(has(text, "killed: pid " + std::to_string(crosser) +
                      " (jobs_target) crossed the job&apos;s heap quota: " + values));

  // What a person sees. The kill's red line stands at the moment of the crossing on the
  // time axis; the dot at the crossing value, above the quota line; the quota line is drawn
  // inside the frame (not on its top edge) and is visible along the panel.
  const Image im = render(svg);
  const Panel heap = panel(text, "heap");
  std::int64_t t0 = INT64_MAX;
  for (const auto& e : t.doc["traceEvents"])
    if (e["ph"] == "C" || e["ph"] == "i") t0 = std::min(t0, e["ts"].get<std::int64_t>());
  const double kill_x = heap.x.at(static_cast<double>(kills[0]["ts"].get<std::int64_t>() - t0) / 1e6);
  int best = -1, best_n = 0;
  for (int x = static_cast<int>(heap.left) + 2; x < static_cast<int>(heap.left + heap.width) - 1; ++x) {
    int n = 0;
    for (int y = static_cast<int>(heap.top) + 1; y < static_cast<int>(heap.top + heap.height); ++y)
      n += im.red(x, y);
    if (n > best_n) best = x, best_n = n;
  }
  INFO("kill line expected at x=" << kill_x << ", reddest column " << best << " (" << best_n << " px)");
  CHECK(best_n > heap.height * 0.8);
  CHECK(std::abs(best + 0.5 - kill_x) <= 1.5);
  const double quota_y = heap.y.at(50.0), dot_y = heap.y.at(static_cast<double>(usage) / (1 << 20));
  INFO("quota line at y=" << quota_y << ", frame top " << heap.top << ", dot at y=" << dot_y);
  CHECK(quota_y >= heap.top + 3);
  CHECK(dot_y < quota_y - 5);
  CHECK(im.red(static_cast<int>(kill_x) + 3, static_cast<int>(dot_y)));  // the dot, beside the line
  CHECK(im.red(static_cast<int>(kill_x) - 3, static_cast<int>(dot_y)));
  CHECK(!im.red(static_cast<int>(kill_x) + 3, static_cast<int>(quota_y) + 8));  // and only there
  int dark = 0;
  for (int x = static_cast<int>(heap.left) + 2; x < static_cast<int>(heap.left + heap.width) - 2; ++x) {
    bool any = false;
    for (int dy = -1; dy <= 1; ++dy) any = any || im.dark(x, static_cast<int>(std::lround(quota_y)) + dy);
    dark += any;
  }
  CHECK(dark > heap.width * 0.4);  // dashed 6 on, 4 off
  for (const auto& p : {path, svg}) ::unlink(p.c_str());
}

TEST_CASE("trace: under job scope a build of many processes keeps the job, CMD and the top by peak") {
  const std::string path = temp_path("top.json");
  // Twelve short processes (each maps its libraries: a heap share of its own), no quota.
  const Result r = sandboxed({"--trace", path}, {"/bin/sh", "-c",
                                                 "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do "
                                                 "/bin/true; done; echo ok"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const Trace t = load_trace(path);
  std::set<std::int64_t> tracks;
  for (const auto& e : t.doc["traceEvents"])
    if (e["ph"] == "C" && e["pid"].get<std::int64_t>() < kJob) tracks.insert(e["pid"].get<std::int64_t>());
  // No quota, so CMD (the shell) has no node: the top 5 of the thirteen processes.
  CHECK(tracks.size() == 5);
  int named = 0;
  for (const auto pid : tracks)
    named += has(t.process_name(pid), "true (") || has(t.process_name(pid), "sh (");
  CHECK(named == 5);
  // A dropped process leaves nothing behind: every name and instant is of a kept track or the job.
  for (const auto& e : t.doc["traceEvents"])
    if (e["ph"] != "C" && e.contains("pid") && e["pid"].get<std::int64_t>() < kJob)
      CHECK(tracks.count(e["pid"].get<std::int64_t>()) == 1);
  ::unlink(path.c_str());
}

TEST_CASE("plot: errors are one line and the exit status says which") {
  const Result missing = run({kSandbox, "plot", "/nonexistent/trace.json", "-o", "/tmp/x.svg"});
  CHECK(missing.status == 2);
  CHECK(has(missing.err, "cannot read '/nonexistent/trace.json'"));
  const std::string bad = temp_path("bad.json");
  std::ofstream(bad) << "{\"traceEvents\": 3}";
  const Result r = run({kSandbox, "plot", bad, "-o", "-"});
  CHECK(r.status == 1);
  CHECK(has(r.err, "no \"traceEvents\" array"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  ::unlink(bad.c_str());
}

TEST_CASE("plot: without -o the picture goes next to the trace (TRACE.json -> TRACE.svg), said on stderr") {
  const std::string base = temp_path("default"), trace = base + ".json", svg = base + ".svg";
  const Result traced = sandboxed({"--trace", trace}, {"/bin/true"});
  REQUIRE(traced.status == 0);
  ::unlink(svg.c_str());
  const Result r = run({kSandbox, "plot", trace});
  CHECK(r.status == 0);
  CHECK(has(r.err, "wrote " + svg));
  CHECK(has(slurp(svg), "</svg>"));
  // A symlink in the output's place is not followed; the file it points to is untouched.
  const std::string victim = temp_path("victim");
  std::ofstream(victim) << "precious";
  ::unlink(svg.c_str());
  REQUIRE(::symlink(victim.c_str(), svg.c_str()) == 0);
  const Result refused = run({kSandbox, "plot", trace});
  CHECK(refused.status == 1);
  CHECK(has(refused.err, "cannot write '" + svg + "': is a symbolic link"));
  CHECK(slurp(victim) == "precious");
  // A FIFO is refused at once, not waited on.
  ::unlink(svg.c_str());
  REQUIRE(::mkfifo(svg.c_str(), 0600) == 0);
  const Result fifo = run({kSandbox, "plot", trace});
  CHECK(fifo.status == 1);
  CHECK(has(fifo.err, "not a regular file"));
  for (const auto& p : {trace, svg, victim}) ::unlink(p.c_str());
}

TEST_CASE(
    "watch: usage events of a busy target, at most one per node per 100 ms, the last value kept; "
    "the stream ends cleanly with the run") {
  const std::string sock = temp_path("watch.sock"), watched = temp_path("watched");
  ::unlink(watched.c_str());
  // A shell that, once told to go, opens and closes /dev/null (tracked: each open is counted)
  // until every watcher is known to be subscribed (the file `watched` exists), then 3000
  // times more.
  Process run({kSandbox, "run", "--track", "--socket", sock, "--", "/bin/sh", "-c",
               "echo ready; read go; while [ ! -e " + watched +
                   " ]; do : < /dev/null; done; "
                   "i=0; while [ $i -lt 3000 ]; do : < /dev/null; i=$((i+1)); done; echo done"});
  run.expect_out("ready");  // the socket is up before the target starts
  Process all({kSandbox, "ctl", "--socket", sock, "--json", "watch", "--usage"});
  all.expect_out("\"ok\":true");
  Process only_kill({kSandbox, "ctl", "--socket", sock, "--json", "watch", "--kind", "killed"});
  only_kill.expect_out("\"ok\":true");
  Process human({kSandbox, "ctl", "--socket", sock, "watch", "--usage"});
  run.send("go");
  // Without --json the watcher prints nothing when it is subscribed: its first usage line
  // says it is (the shell's opens go on until then). A watcher that connected only after the
  // run had ended saw no usage at all (this failed on a busy machine).
  const std::string line = human.expect_out("usage pid");
  CHECK(has(line, "(sh): heap "));
  REQUIRE(::close(::open(watched.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == 0);
  run.expect_out("done");
  ::unlink(watched.c_str());
  CHECK(run.wait() == 0);

  std::map<std::int64_t, std::vector<json>> usage;
  for (;;) {
    const json e = json::parse(all.expect_out(""), nullptr, false);
    REQUIRE(e.is_object());
    if (e["event"] == "end") break;
    if (e["event"] != "usage") continue;
    CHECK(e.contains("time_ns"));
    CHECK(e["job"] == 1);
    if (e["pid"] != 0) CHECK(e["comm"] == "sh");  // the job's own events (pid 0) after sh has gone have none
    usage[e["pid"]].push_back(e);
  }
  CHECK(all.wait() == 0);
  // The shell's node, and the job as a whole (pid 0).
  REQUIRE(usage.size() == 2);
  REQUIRE(usage.count(0) == 1);
  for (const auto& [pid, evs] : usage) {
    INFO("pid " << pid);
    CHECK(evs.size() >= 1);
    // 6000 changes, coalesced: consecutive events of one node (or job) are at least 100 ms
    // apart -- but for the last one, sent as the node goes so that its final value is not
    // lost. An event's stamp is the wall-clock time of the very monotonic reading that
    // spaced it (events.cpp, wall_ns), so the gaps are exact, however busy the machine.
    for (std::size_t i = 1; i + 1 < evs.size(); ++i)
      CHECK(evs[i]["time_ns"].get<std::uint64_t>() - evs[i - 1]["time_ns"].get<std::uint64_t>() >=
            100'000'000u);
    // The last value arrives: every file closed again.
    CHECK(evs.back()["openfile_count"] == 0);
    CHECK(evs.size() < 6000);
  }

  // The kind filter: nothing but the answer and the end.
  CHECK(has(only_kill.expect_out(""), "\"event\":\"end\""));
  CHECK(only_kill.wait() == 0);
  // Without --json: a readable line per event (above), and "end: ..." with exit status 0 (it
  // was "the server closed the connection", status 3).
  CHECK(has(human.expect_out("end: "), "the supervisor is stopping"));
  CHECK(human.wait() == 0);
}

TEST_CASE("watch: --pid selects one process; bad filters are one-line errors") {
  const std::string sock = temp_path("pid.sock");
  Process run({kSandbox, "run", "--track", "--socket", sock, "--", kProbe, "park"});
  const std::string pid = run.expect_out("pid=").substr(4);
  Process mine({kSandbox, "ctl", "--socket", sock, "--json", "watch", "--usage", "--pid", pid});
  mine.expect_out("\"ok\":true");
  Process other({kSandbox, "ctl", "--socket", sock, "--json", "watch", "--usage", "--pid", "1"});
  other.expect_out("\"ok\":true");
  run.send("open");
  run.expect_out("opened=1");
  // The usage after the open comes; an event of the probe's start still pending (coalesced,
  // sent up to 100 ms later) may come first on a busy machine: every event is the probe's.
  for (;;) {
    const json e = json::parse(mine.expect_out("\"usage\""));
    CHECK(e["pid"] == std::stoi(pid));
    CHECK(e["comm"] == "probe");
    if (e["openfile_count"] == 1) break;
    CHECK(e["openfile_count"] == 0);
  }
  const Result bogus = ::run({kSandbox, "ctl", "--socket", sock, "watch", "--kind", "bogus"});
  CHECK(bogus.status == 1);
  CHECK(has(bogus.err, "kinds: unknown event \"bogus\""));
  CHECK(std::count(bogus.err.begin(), bogus.err.end(), '\n') == 1);
  const Result badpid = ::run({kSandbox, "ctl", "--socket", sock, "watch", "--pid", "x"});
  CHECK(badpid.status == 2);
  const Result misplaced = ::run({kSandbox, "ctl", "--socket", sock, "list", "--usage"});
  CHECK(misplaced.status == 2);
  run.close_stdin();
  CHECK(run.wait() == 0);
  CHECK(has(other.expect_out(""), "\"end\""));  // pid 1's watcher saw nothing else
  CHECK(other.wait() == 0);
  CHECK(mine.wait() == 0);
}

TEST_CASE("watch: --job selects one job's events under serve, its own usage events included") {
  const std::string sock = temp_path("job.sock");
  Process serve({kSandbox, "serve", "--socket", sock, "--verbose"});
  serve.expect_err("serving " + sock);
  Process a({kShim, "--socket", sock, "--file-quota", "9", "--", kProbe, "park"});
  const std::string pid_a = a.expect_out("pid=").substr(4);
  Process b({kShim, "--socket", sock, "--file-quota", "9", "--", kProbe, "park"});
  const std::string pid_b = b.expect_out("pid=").substr(4);
  const json listed = json::parse(::run({kSandbox, "ctl", "--socket", sock, "--json", "list"}).out);
  std::int64_t job_a = 0, job_b = 0;
  for (const auto& j : listed["jobs"]) {
    if (j["root"] == std::stoi(pid_a)) job_a = j["job"];
    if (j["root"] == std::stoi(pid_b)) job_b = j["job"];
  }
  REQUIRE(job_a != 0);
  REQUIRE(job_b != 0);
  REQUIRE(job_a != job_b);
  Process watch(
      {kSandbox, "ctl", "--socket", sock, "--json", "watch", "--usage", "--job", std::to_string(job_a)});
  watch.expect_out("\"ok\":true");
  // B changes first: a watcher of every job would see B's events before A's.
  b.send("open");
  b.expect_out("opened=1");
  a.send("open");
  a.expect_out("opened=1");
  bool node = false, whole = false;
  while (!(node && whole)) {
    const json e = json::parse(watch.expect_out("\"event\""));
    INFO(e.dump());
    CHECK(e["job"] == job_a);
    if (e["event"] != "usage") continue;
    // An event of A's start still pending (coalesced, sent up to 100 ms later) may come
    // before the open's on a busy machine: the open's (1 file) is waited for.
    if (e["pid"] == 0) {  // the job as a whole: its totals and its quota
      CHECK(e["file_quota"] == 9);
      CHECK(e["comm"] == "probe");  // its root's name
      whole = whole || e["openfile_count"] == 1;
    } else {
      CHECK(e["pid"] == std::stoi(pid_a));
      node = node || e["openfile_count"] == 1;
    }
  }
  const Result bad = ::run({kSandbox, "ctl", "--socket", sock, "watch", "--job", "x"});
  CHECK(bad.status == 2);
  CHECK(has(bad.err, "--job: 'x' is not a job id"));
  a.close_stdin();
  b.close_stdin();
  CHECK(a.wait() == 0);
  CHECK(b.wait() == 0);
  serve.signal(SIGTERM);
  CHECK(has(watch.expect_out("\"end\""), "\"event\":\"end\""));
  CHECK(watch.wait() == 0);
  CHECK(serve.wait() == 0);
}

TEST_CASE(
    "metrics: serve --metrics, scraped over HTTP in both formats; promtool and the OpenMetrics parser "
    "accept it; ctl metrics prints the same families") {
  const std::string sock = temp_path("metrics.sock");
  // --metrics-per-target: the full view on TCP (by default, totals only: bounds_test.cpp).
  Process serve(
      {kSandbox, "serve", "--socket", sock, "--metrics", "127.0.0.1:0", "--metrics-per-target", "--verbose"});
  const std::string at = serve.expect_err("metrics on http://127.0.0.1:");
  const int port = std::atoi(at.c_str() + at.find("127.0.0.1:") + 10);
  REQUIRE(port > 0);
  serve.expect_err("serving " + sock);
  Process target({kShim, "--socket", sock, "--file-quota", "7", "--", kProbe, "park"});
  const std::string pid = target.expect_out("pid=").substr(4);
  target.send("open");
  target.expect_out("opened=1");

  const std::string plain = http_get(static_cast<std::uint16_t>(port));
  CHECK(plain.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(has(plain, "Content-Type: text/plain; version=0.0.4"));
  const std::string text = http_body(plain);
  // The target's job (one per join), from list.
  const json listed = json::parse(::run({kSandbox, "ctl", "--socket", sock, "--json", "list"}).out);
  std::string job;
  for (const auto& j : listed["jobs"])
    if (j["root"] == std::stoi(pid)) job = std::to_string(j["job"].get<int>());
  REQUIRE(!job.empty());
  const std::string uid = std::to_string(::getuid());
  const std::string labels =
      "pid=\"" + pid + "\",tgid=\"" + pid + "\",comm=\"probe\",uid=\"" + uid + "\",job=\"" + job + "\"";
  CHECK(has(text, "sandbox_node_open_files{" + labels + "} 1\n"));
  CHECK(has(text, "sandbox_node_file_quota{" + labels + "} 7\n"));
  // The job: its quota (--file-quota covers the job by default), its usage, its processes.
  const std::string job_labels =
      "job=\"" + job + "\",root=\"" + pid + "\",comm=\"probe\",uid=\"" + uid + "\"";
  CHECK(has(text, "sandbox_job_processes{" + job_labels + "} 1\n"));
  CHECK(has(text, "sandbox_job_open_files{" + job_labels + "} 1\n"));
  CHECK(has(text, "sandbox_job_file_quota{" + job_labels + "} 7\n"));
  CHECK(has(text, "sandbox_job_heap_bytes{" + job_labels + "} "));
  CHECK(!has(text, "sandbox_job_heap_quota_bytes{"));  // unlimited: absent
  CHECK(has(text, "sandbox_notifications_total{syscall=\"openat\"}"));
  CHECK(has(text, "sandbox_kills_total{resource=\"files\"} 0\n"));
  CHECK(has(text, "sandbox_listeners 1\n"));
  CHECK(has(text, "sandbox_supervisor_threads "));
  const Result promtool = shell("promtool check metrics", text);
  INFO(promtool.out << promtool.err);
  CHECK(promtool.status == 0);
  CHECK((promtool.out + promtool.err).empty());

  const std::string om =
      http_get(static_cast<std::uint16_t>(port), "application/openmetrics-text;version=1.0.0");
  CHECK(has(om, "Content-Type: application/openmetrics-text; version=1.0.0"));
  const std::string om_text = http_body(om);
  CHECK(om_text.substr(om_text.size() - 6) == "# EOF\n");
  const Result parsed = shell(kOpenMetricsCheck, om_text);
  INFO(parsed.out << parsed.err);
  CHECK(parsed.status == 0);
  CHECK(std::atoi(parsed.out.c_str()) > 10);

  const Result ctl = ::run({kSandbox, "ctl", "--socket", sock, "metrics"});
  CHECK(ctl.status == 0);
  CHECK(has(ctl.out, "sandbox_node_open_files{" + labels + "} 1\n"));
  CHECK(shell("promtool check metrics", ctl.out).status == 0);
  const Result ctl_om = ::run({kSandbox, "ctl", "--socket", sock, "metrics", "--openmetrics"});
  CHECK(shell(kOpenMetricsCheck, ctl_om.out).status == 0);

  // A kill shows in the counter.
  for (int i = 0; i < 7; ++i) target.send("open");
  CHECK(target.wait() == 137);
  CHECK(has(http_body(http_get(static_cast<std::uint16_t>(port))),
            "sandbox_kills_total{resource=\"files\"} 1\n"));
  serve.signal(SIGTERM);
  CHECK(serve.wait() == 0);
}

TEST_CASE("metrics: a bad --metrics address is a one-line usage error") {
  const Result r = ::run({kSandbox, "serve", "--socket", temp_path("bad.sock"), "--metrics", "localhost:x"});
  CHECK(r.status == 2);
  CHECK(has(r.err, "--metrics: 'localhost:x' is not HOST:PORT"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

TEST_CASE(
    "systemd: serve started as systemd does -- inherited sockets from fd 3, LISTEN_PID checked, "
    "READY=1 and STOPPING=1 to NOTIFY_SOCKET") {
  // The sockets a .socket unit would make: the control socket, and the metrics one.
  const std::string path = temp_path("activated.sock");
  ::unlink(path.c_str());
  const int control = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un ua{};
  ua.sun_family = AF_UNIX;
  std::strncpy(ua.sun_path, path.c_str(), sizeof ua.sun_path - 1);
  REQUIRE(::bind(control, reinterpret_cast<sockaddr*>(&ua), sizeof ua) == 0);
  REQUIRE(::listen(control, 16) == 0);
  const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in ta{};
  ta.sin_family = AF_INET;
  ta.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(tcp, reinterpret_cast<sockaddr*>(&ta), sizeof ta) == 0);
  REQUIRE(::listen(tcp, 16) == 0);
  socklen_t tlen = sizeof ta;
  REQUIRE(::getsockname(tcp, reinterpret_cast<sockaddr*>(&ta), &tlen) == 0);
  const std::uint16_t port = ntohs(ta.sin_port);
  // The manager's notification socket, in the abstract namespace ("@name").
  const std::string notify_name = "sandbox-it-notify-" + std::to_string(::getpid());
  const int notify = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un na{};
  na.sun_family = AF_UNIX;
  std::memcpy(na.sun_path + 1, notify_name.data(), notify_name.size());
  REQUIRE(::bind(notify, reinterpret_cast<sockaddr*>(&na),
                 static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + notify_name.size())) == 0);

  int err[2];
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  const pid_t child = host::fork_child([&] {
    // As systemd does: the sockets at 3 and 4, LISTEN_PID naming the service's own pid.
    ::dup2(err[1], 2);
    // Out of the way first (either may already sit at 3 or 4), then into place; dup2 leaves
    // the copies inheritable, as systemd passes them.
    const int c = ::fcntl(control, F_DUPFD, 10), t = ::fcntl(tcp, F_DUPFD, 10);
    if (c < 0 || t < 0 || ::dup2(c, 3) != 3 || ::dup2(t, 4) != 4) return 120;
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("LISTEN_FDS", "2", 1);
    ::setenv("LISTEN_FDNAMES", "sandbox.socket:sandbox.socket", 1);
    ::setenv("NOTIFY_SOCKET", ("@" + notify_name).c_str(), 1);
    // --socket names a path that must NOT be created: the inherited socket is used.
    ::execl(kSandbox.c_str(), kSandbox.c_str(), "serve", "--socket", (path + ".unused").c_str(),
            (char*)nullptr);
    return 127;
  });
  REQUIRE(child >= 0);
  ::close(err[1]);
  struct Reap {  // a failed check must not leave the server running
    pid_t pid;
    ~Reap() {
      if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
    }
  } reap{child};
  auto datagram = [&]() -> std::string {
    pollfd p{notify, POLLIN, 0};
    if (::poll(&p, 1, 60'000) != 1) return "<nothing within 60 s>";
    char buf[256] = {};
    const ssize_t n = ::recv(notify, buf, sizeof buf - 1, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "<error>";
  };
  CHECK(datagram() == "READY=1");
  // Ready means serving: the control socket answers, the metrics socket too.
  const Result version = ::run({kSandbox, "ctl", "--socket", path, "version"});
  CHECK(version.status == 0);
  CHECK(has(version.out, "sandbox "));
  CHECK(::access((path + ".unused").c_str(), F_OK) != 0);
  const std::string m = http_get(port);
  CHECK(m.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(has(m, "sandbox_build_info"));
  ::kill(child, SIGTERM);
  CHECK(datagram() == "STOPPING=1");
  int st = 0;
  REQUIRE(::waitpid(child, &st, 0) == child);
  reap.pid = 0;  // reaped: nothing for the guard to do
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  char ebuf[4096];
  const ssize_t en = ::read(err[0], ebuf, sizeof ebuf);
  // Nothing but where it listens (one line per socket, unless -q).
  const std::string said(ebuf, en > 0 ? static_cast<std::size_t>(en) : 0);
  std::size_t lines = 0;
  for (std::size_t at = 0; at < said.size();) {
    const std::size_t nl = said.find('\n', at);
    const std::string line = said.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    ++lines;
    CHECK_MESSAGE((line.rfind("sandbox: metrics on http://", 0) == 0 ||
                   line.rfind("sandbox: serving the control socket from socket activation", 0) == 0),
                  line);
    at = nl == std::string::npos ? said.size() : nl + 1;
  }
  CHECK(lines <= 2);
  for (int fd : {control, tcp, notify, err[0]}) ::close(fd);
  ::unlink(path.c_str());
}

TEST_CASE("systemd: LISTEN_PID of another process is ignored: serve binds its own socket") {
  const std::string path = temp_path("notmine.sock");
  ::setenv("LISTEN_PID", "1", 1);
  ::setenv("LISTEN_FDS", "1", 1);
  Process serve({kSandbox, "serve", "--socket", path, "--verbose"});
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  serve.expect_err("serving " + path);
  CHECK(::run({kSandbox, "ctl", "--socket", path, "version"}).status == 0);
  serve.signal(SIGTERM);
  CHECK(serve.wait() == 0);
}
