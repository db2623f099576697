// SPDX-License-Identifier: Apache-2.0
#include "observe/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "observe/trace.hpp"

namespace sandbox::observe {
namespace {

using json = nlohmann::json;

struct Pt {
  double t = 0;  // seconds since the first event
  double v = 0;
};

// A kill: when, which quota, the usage the crossing call would have reached, the quota, and
// who made the call (pid and comm; a job's kill names the process that crossed).
struct Kill {
  double t = 0;
  std::string resource;  // "heap" or "files" ("" if unknown)
  double usage = -1, limit = -1;
  std::int64_t pid = 0;
  std::string comm;
  bool job = false;
};

struct Proc {
  std::int64_t pid = 0;
  std::string name;
  std::vector<Pt> heap, files, heap_quota, file_quota;
  std::vector<Kill> kills;
  double end = -1;  // exit time, if it exited
  bool job() const { return pid >= kJobTrackBase; }
  double peak(const std::vector<Pt>& s) const {
    double m = 0;
    for (const Pt& p : s) m = std::max(m, p.v);
    return m;
  }
};

// Text for an SVG text node or attribute: one line (newlines and tabs as spaces), escaped.
std::string xml(std::string_view raw) {
  const std::string s = one_line(raw, 4096);
  std::string out;
  for (const char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (static_cast<unsigned char>(ch) >= 0x20 || ch == '\t') out += ch;  // XML forbids other controls
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `n` ticks up to `max`.
double tick_step(double max, int n) {
  if (max <= 0) return 1;
  const double raw = max / n;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * p) return m * p;
  return 10 * p;
}

struct Unit {
  double scale;
  const char* name;
};
Unit bytes_unit(double max) {
  static const Unit units[] = {{1, "bytes"}, {1024, "KiB"}, {1 << 20, "MiB"}, {1 << 30, "GiB"}};
  Unit u = units[0];
  for (const Unit& c : units)
    if (max >= c.scale) u = c;
  return u;
}

const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
                                "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8"};

std::int64_t int_field(const json& e, const char* k, std::string_view what) {
  const auto it = e.find(k);
  if (it == e.end() || !it->is_number())
    throw PlotError("trace event without a numeric \"" + std::string(k) + "\" (" + std::string(what) + ")");
  // Within +-2^53 (exact in a double, and no overflow in differences of two of them).
  constexpr double kLimit = 9007199254740992.0;
  const double d = it->is_number_float()      ? it->get<double>()
                   : it->is_number_unsigned() ? static_cast<double>(it->get<std::uint64_t>())
                                              : static_cast<double>(it->get<std::int64_t>());
  if (!(d >= -kLimit && d <= kLimit))
    throw PlotError("trace event with \"" + std::string(k) + "\" out of range (" + std::string(what) + ")");
  return static_cast<std::int64_t>(d);
}

double num_arg(const json& args, const char* k) {
  const auto it = args.find(k);
  return it != args.end() && it->is_number() ? it->get<double>() : -1;
}

// A value for a label: "102.7 MiB" or "6 files".
std::string amount(double v, bool heap) {
  char buf[48];
  if (!heap) {
    std::snprintf(buf, sizeof buf, "%.0f file%s", v, v == 1 ? "" : "s");
    return buf;
  }
  static const char* const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (u < 4 && v >= 1024) v /= 1024, ++u;
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

// ---- reading the trace -------------------------------------------------------------------

// The processes (and jobs) of a trace, by track id, and the span of its timestamps.
struct Trace {
  std::map<std::int64_t, Proc> procs;
  std::int64_t t0 = INT64_MAX, t1 = INT64_MIN;
  double secs(std::int64_t ts) const { return (static_cast<double>(ts) - static_cast<double>(t0)) / 1e6; }
};

// The trace's events: the "traceEvents" array (or a bare array). Throws PlotError otherwise.
const json& trace_events(const json& doc) {
  if (doc.is_discarded())
    throw PlotError("not a JSON document (expected a trace from 'sandbox run --trace')");
  const json* events = nullptr;
  if (doc.is_object() && doc.contains("traceEvents")) events = &doc["traceEvents"];
  if (doc.is_array()) events = &doc;
  if (!events || !events->is_array())
    throw PlotError("no \"traceEvents\" array (expected a trace from 'sandbox run --trace')");
  return *events;
}

// An event's phase if it is one drawn ("C" counter, "i" instant, and with `metadata` "M"), else "".
std::string drawn_phase(const json& e, bool metadata) {
  if (!e.is_object() || !e.contains("ph") || !e["ph"].is_string()) return "";
  const std::string ph = e["ph"];
  return ph == "C" || ph == "i" || (metadata && ph == "M") ? ph : "";
}

std::string name_of(const json& e) {
  return e.contains("name") && e["name"].is_string() ? e["name"].get<std::string>() : "";
}

// First pass: every track, its name, and the first and last timestamps.
void read_tracks(const json& events, Trace& tr) {
  for (const json& e : events) {
    const std::string ph = drawn_phase(e, true);
    if (ph.empty()) continue;
    const std::int64_t pid = int_field(e, "pid", ph);
    const std::string name = name_of(e);
    Proc& p = tr.procs[pid];
    p.pid = pid;
    if (ph == "M") {
      if (name == "process_name" && e.contains("args") && e["args"].is_object() &&
          e["args"].contains("name") && e["args"]["name"].is_string())
        p.name = e["args"]["name"];
      continue;
    }
    const std::int64_t ts = int_field(e, "ts", ph);
    tr.t0 = std::min(tr.t0, ts);
    tr.t1 = std::max(tr.t1, ts);
  }
  if (tr.t0 == INT64_MAX) tr.t0 = tr.t1 = 0;
}

Kill read_kill(double t, const json& args, const Proc& p) {
  Kill k;
  k.t = t;
  if (args.contains("resource") && args["resource"].is_string()) k.resource = args["resource"];
  k.usage = num_arg(args, "usage");
  k.limit = num_arg(args, "limit");
  const double who = num_arg(args, "pid");
  k.pid = who > 0 && who < 1e12 ? static_cast<std::int64_t>(who) : 0;
  if (args.contains("comm") && args["comm"].is_string()) k.comm = args["comm"];
  k.job = p.job() || args.contains("job");
  return k;
}

// Second pass: the counters as series, the kills and the exits, in seconds from the start.
void read_samples(const json& events, Trace& tr) {
  for (const json& e : events) {
    const std::string ph = drawn_phase(e, false);
    if (ph.empty()) continue;
    Proc& p = tr.procs[int_field(e, "pid", ph)];
    const std::string name = name_of(e);
    const double t = tr.secs(int_field(e, "ts", ph));
    const json args = e.contains("args") && e["args"].is_object() ? e["args"] : json::object();
    if (ph == "C") {
      if (args.size() != 1 || !args.begin()->is_number()) continue;
      const Pt pt{t, args.begin()->get<double>()};
      if (name == "heap")
        p.heap.push_back(pt);
      else if (name == "files")
        p.files.push_back(pt);
      else if (name == "heap quota")
        p.heap_quota.push_back(pt);
      else if (name == "file quota")
        p.file_quota.push_back(pt);
    } else if (name == "kill") {
      p.kills.push_back(read_kill(t, args, p));
    } else if (name == "exit") {
      p.end = t;
    }
  }
  for (auto& [pid, p] : tr.procs) {
    for (auto* s : {&p.heap, &p.files, &p.heap_quota, &p.file_quota})
      std::stable_sort(s->begin(), s->end(), [](const Pt& a, const Pt& b) { return a.t < b.t; });
    if (p.name.empty()) p.name = p.job() ? "job" : "pid " + std::to_string(pid);
  }
}

// ---- what to draw, and where ---------------------------------------------------------------

// What to draw: every job, then the top processes by peak heap, then peak files; and every
// track with a kill, drawn or not.
struct Selection {
  std::vector<const Proc*> jobs, shown, killed;
  // A track's colour: the jobs black, the processes from the palette by rank.
  std::string color(std::size_t i) const {
    return shown[i]->job() ? "#222222" : kPalette[(i - jobs.size()) % std::size(kPalette)];
  }
};

Selection choose_tracks(const Trace& tr, std::size_t top) {
  Selection sel;
  std::vector<const Proc*> candidates;
  for (const auto& [pid, p] : tr.procs) {
    if (p.heap.empty() && p.files.empty()) continue;
    (p.job() ? sel.jobs : candidates).push_back(&p);
  }
  std::stable_sort(candidates.begin(), candidates.end(), [](const Proc* a, const Proc* b) {
    const double ha = a->peak(a->heap), hb = b->peak(b->heap);
    if (ha != hb) return ha > hb;
    return a->peak(a->files) > b->peak(b->files);
  });
  sel.shown = sel.jobs;
  for (std::size_t i = 0; i < candidates.size() && i < top; ++i) sel.shown.push_back(candidates[i]);
  for (const auto& [pid, p] : tr.procs)
    if (!p.kills.empty()) sel.killed.push_back(&p);
  return sel;
}

// The page: sizes, the time axis, and the largest heap and file values drawn.
struct Layout {
  static constexpr double left = 84, right = 24, top = 44, panel_h = 200, gap = 64;
  int W = 0, H = 0;
  double plot_w = 0, legend_top = 0;
  double t_end = 0;  // the time at the right edge
  double heap_max = 0, files_max = 0;
  double x(double t) const { return left + plot_w * std::clamp(t / t_end, 0.0, 1.0); }
};

Layout layout(const Trace& tr, const Selection& sel, int width) {
  Layout l;
  // A little room after the last event, so a kill at the very end stays visible.
  l.t_end = std::max(tr.secs(tr.t1) * 1.02, 1e-3);
  for (const Proc* p : sel.shown) {
    l.heap_max = std::max({l.heap_max, p->peak(p->heap), p->peak(p->heap_quota)});
    l.files_max = std::max({l.files_max, p->peak(p->files), p->peak(p->file_quota)});
  }
  // A kill's crossing value and its quota are on the scale too: the dot above the line.
  for (const Proc* p : sel.killed)
    for (const Kill& k : p->kills) {
      double& m = k.resource == "files" ? l.files_max : l.heap_max;
      m = std::max({m, k.usage, k.limit});
    }
  l.W = std::max(width, 480);
  l.plot_w = l.W - Layout::left - Layout::right;
  l.legend_top = Layout::top + 2 * Layout::panel_h + Layout::gap + 60;
  const double legend_rows = static_cast<double>(sel.shown.size() + 1);
  l.H = static_cast<int>(l.legend_top + legend_rows * 18 + 16);
  return l;
}

// ---- drawing -------------------------------------------------------------------------------

void draw_header(std::string& svg, const Layout& l, const std::string& title) {
  svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(l.W) + "\" height=\"" +
         std::to_string(l.H) + "\" viewBox=\"0 0 " + std::to_string(l.W) + " " + std::to_string(l.H) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<title>" + xml(title) + "</title>\n";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(l.W) + "\" height=\"" + std::to_string(l.H) +
         "\" fill=\"#ffffff\"/>\n";
  svg += "<text x=\"" + num(Layout::left) + "\" y=\"24\" font-size=\"16\" font-weight=\"bold\">" +
         xml(title) + "</text>\n";
}

// One of the two panels (heap, open files) and its vertical scale.
struct Panel {
  double y0;  // top of the plot area
  double max;
  Unit unit;
  std::string title;
  bool heap;
  double step = 0, ymax = 0;  // the y ticks' step and the top of the scale (scaled units)
  double y(double v) const {
    return y0 + Layout::panel_h - Layout::panel_h * std::clamp(v / unit.scale / ymax, 0.0, 1.0);
  }
};

Panel panel(double y0, double max, Unit unit, std::string title, bool heap) {
  Panel pn{y0, max, unit, std::move(title), heap};
  const double scaled = pn.max / pn.unit.scale;
  // Headroom above the largest value: a quota line equal to it is never drawn on the frame.
  // Files are whole numbers: no tick between two of them.
  pn.step = std::max(tick_step(std::max(scaled * 1.06, 1.0), 5), pn.heap ? 0.0 : 1.0);
  pn.ymax = std::max(pn.step, std::ceil(scaled * 1.06 / pn.step) * pn.step);
  return pn;
}

// The frame, the y axis (ticks, grid and the unit) and the x axis (seconds).
void draw_axes(std::string& svg, const Layout& l, const Panel& pn) {
  const double left = Layout::left, panel_h = Layout::panel_h;
  svg += "<rect x=\"" + num(left) + "\" y=\"" + num(pn.y0) + "\" width=\"" + num(l.plot_w) + "\" height=\"" +
         num(panel_h) + "\" fill=\"#fafafa\" stroke=\"#999999\"/>\n";
  for (double v = 0; v <= pn.ymax + pn.step / 2; v += pn.step) {
    const double yy = pn.y0 + panel_h - panel_h * (v / pn.ymax);
    svg += "<line x1=\"" + num(left) + "\" y1=\"" + num(yy) + "\" x2=\"" + num(left + l.plot_w) + "\" y2=\"" +
           num(yy) + "\" stroke=\"#e0e0e0\"/>\n";
    svg += "<text x=\"" + num(left - 6) + "\" y=\"" + num(yy + 4) + "\" text-anchor=\"end\">" + label(v) +
           "</text>\n";
  }
  svg += "<text x=\"16\" y=\"" + num(pn.y0 + panel_h / 2) +
         "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " + num(pn.y0 + panel_h / 2) + ")\">" +
         xml(pn.title) + "</text>\n";
  const double tstep = tick_step(l.t_end, 8);
  for (double t = 0; t <= l.t_end + tstep / 1e6; t += tstep) {
    svg += "<line x1=\"" + num(l.x(t)) + "\" y1=\"" + num(pn.y0 + panel_h) + "\" x2=\"" + num(l.x(t)) +
           "\" y2=\"" + num(pn.y0 + panel_h + 5) + "\" stroke=\"#999999\"/>\n";
    svg += "<text x=\"" + num(l.x(t)) + "\" y=\"" + num(pn.y0 + panel_h + 18) + "\" text-anchor=\"middle\">" +
           label(t) + "</text>\n";
  }
  svg += "<text x=\"" + num(left + l.plot_w / 2) + "\" y=\"" + num(pn.y0 + panel_h + 34) +
         "\" text-anchor=\"middle\">time (s)</text>\n";
}

// One series of one track as steps: a polyline per stretch (a quota lifted, v < 0, ends
// one), the last held until the track's end.
void draw_steps(std::string& svg, const Layout& l, const Panel& pn, const Proc& p, const std::string& color,
                const std::vector<Pt>& s, const char* cls, bool dashed) {
  const double end = p.end >= 0 ? p.end : l.t_end;
  const auto polyline = [&](const std::string& pts) {
    svg += "<polyline class=\"" + std::string(cls) + "\" fill=\"none\" stroke=\"" + color +
           "\" stroke-width=\"" + (p.job() ? "2.5" : "1.5") + "\"" +
           (dashed ? " stroke-dasharray=\"6 4\"" : "") + " points=\"" + pts + "\"/>\n";
  };
  std::string pts;
  double last_v = 0;
  bool open = false;
  for (const Pt& q : s) {
    if (q.v < 0) {  // a quota lifted: the line stops here
      if (open) pts += num(l.x(q.t)) + "," + num(pn.y(last_v)) + " ";
      if (!pts.empty()) polyline(pts);
      pts.clear();
      open = false;
      continue;
    }
    if (open) pts += num(l.x(q.t)) + "," + num(pn.y(last_v)) + " ";
    pts += num(l.x(q.t)) + "," + num(pn.y(q.v)) + " ";
    last_v = q.v;
    open = true;
  }
  if (open) pts += num(l.x(std::max(end, s.back().t))) + "," + num(pn.y(last_v));
  if (!pts.empty()) polyline(pts);
}

// The series: usage as solid steps, quotas dashed. Processes first, the jobs last: on top,
// where they coincide with a single process.
void draw_series(std::string& svg, const Layout& l, const Panel& pn, const Selection& sel) {
  for (std::size_t k = 0; k < sel.shown.size(); ++k) {
    const std::size_t i = (k + sel.jobs.size()) % sel.shown.size();
    const Proc& p = *sel.shown[i];
    const std::string color = sel.color(i);
    draw_steps(svg, l, pn, p, color, pn.heap ? p.heap : p.files, "usage", false);
    draw_steps(svg, l, pn, p, color, pn.heap ? p.heap_quota : p.file_quota, "quota", true);
  }
}

// Kills: a red line across the panel at the moment, and in the quota's own panel a dot at
// the value the crossing call would have reached (above the quota line).
void draw_kill_marks(std::string& svg, const Layout& l, const Panel& pn, const Selection& sel) {
  for (const Proc* p : sel.killed)
    for (const Kill& k : p->kills) {
      svg += "<line class=\"kill\" x1=\"" + num(l.x(k.t)) + "\" y1=\"" + num(pn.y0) + "\" x2=\"" +
             num(l.x(k.t)) + "\" y2=\"" + num(pn.y0 + Layout::panel_h) +
             "\" stroke=\"#d62728\" stroke-width=\"1.5\"/>\n";
      if (k.usage >= 0 && (k.resource == "files") != pn.heap)
        svg += "<circle class=\"kill-point\" cx=\"" + num(l.x(k.t)) + "\" cy=\"" + num(pn.y(k.usage)) +
               "\" r=\"4.5\" fill=\"#d62728\" stroke=\"#ffffff\" stroke-width=\"1\"/>\n";
    }
}

// Each kill named: who crossed which quota, by how much. Left of the line, or right of it
// when the line is near the left edge.
void draw_kill_labels(std::string& svg, const Layout& l, const Selection& sel) {
  for (const Proc* p : sel.killed)
    for (const Kill& k : p->kills) {
      std::string who = k.pid > 0 ? "pid " + std::to_string(k.pid) : p->name;
      if (k.pid > 0 && !k.comm.empty()) who += " (" + k.comm + ")";
      std::string text = "killed: " + who;
      if (!k.resource.empty()) {
        const bool heap = k.resource != "files";
        text +=
            std::string(" crossed ") + (k.job ? "the job's " : "its ") + (heap ? "heap" : "file") + " quota";
        if (k.usage >= 0 && k.limit >= 0)
          text += ": " + amount(k.usage, heap) + " > " + amount(k.limit, heap);
      }
      const bool to_right = l.x(k.t) - Layout::left < l.plot_w / 2;
      svg += "<text class=\"kill-label\" x=\"" + num(l.x(k.t) + (to_right ? 4 : -4)) + "\" y=\"" +
             num(Layout::top - 6) + "\" text-anchor=\"" + (to_right ? "start" : "end") +
             "\" fill=\"#d62728\">" + xml(one_line(text, 110)) + "</text>\n";
    }
}

// A line per track drawn (its colour, name and peaks), and the key to the marks.
void draw_legend(std::string& svg, const Layout& l, const Selection& sel, const Unit& hu) {
  const double left = Layout::left;
  double ly = l.legend_top;
  svg += "<g class=\"legend\">\n";
  for (std::size_t i = 0; i < sel.shown.size(); ++i) {
    const Proc& p = *sel.shown[i];
    svg += "<line x1=\"" + num(left) + "\" y1=\"" + num(ly - 4) + "\" x2=\"" + num(left + 24) + "\" y2=\"" +
           num(ly - 4) + "\" stroke=\"" + sel.color(i) + "\" stroke-width=\"2.5\"/>\n";
    char peak[96];
    std::snprintf(peak, sizeof peak, " -- peak heap %.3g %s, peak files %.0f", p.peak(p.heap) / hu.scale,
                  hu.name, p.peak(p.files));
    svg += "<text x=\"" + num(left + 30) + "\" y=\"" + num(ly) + "\">" + xml(one_line(p.name, 90)) + peak +
           "</text>\n";
    ly += 18;
  }
  svg += "<text x=\"" + num(left) + "\" y=\"" + num(ly) +
         "\" fill=\"#555555\">dashed: quota; red: a kill, the dot at the usage the crossing call would have "
         "reached</text>\n";
  if (sel.shown.empty())
    svg += "<text x=\"" + num(left + l.plot_w / 2) + "\" y=\"" + num(Layout::top + Layout::panel_h / 2) +
           "\" text-anchor=\"middle\">no usage recorded (was anything tracked?)</text>\n";
  svg += "</g>\n";
}

}  // namespace

std::string plot_svg(std::string_view trace_json, const PlotOptions& opt) {
  const json doc = json::parse(trace_json, nullptr, false);
  const json& events = trace_events(doc);
  Trace tr;
  read_tracks(events, tr);
  read_samples(events, tr);
  const Selection sel = choose_tracks(tr, opt.top);
  const Layout l = layout(tr, sel, opt.width);

  std::string svg;
  draw_header(svg, l, opt.title.empty() ? "sandbox usage" : opt.title);
  const Unit hu = bytes_unit(l.heap_max);
  const Panel panels[] = {
      panel(Layout::top, l.heap_max, hu, std::string("heap (") + hu.name + ")", true),
      panel(Layout::top + Layout::panel_h + Layout::gap, l.files_max, Unit{1, "files"}, "open files", false)};
  for (const Panel& pn : panels) {
    svg += "<g class=\"panel\" data-series=\"" + std::string(pn.heap ? "heap" : "files") + "\">\n";
    draw_axes(svg, l, pn);
    draw_series(svg, l, pn, sel);
    draw_kill_marks(svg, l, pn, sel);
    svg += "</g>\n";
  }
  draw_kill_labels(svg, l, sel);
  draw_legend(svg, l, sel, hu);
  svg += "</svg>\n";
  return svg;
}

}  // namespace sandbox::observe
