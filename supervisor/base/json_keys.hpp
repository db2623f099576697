// SPDX-License-Identifier: Apache-2.0
// json_keys: strict reading of JSON objects shared by the policy parser (policy/policy.cpp)
// and the control protocol (control/protocol.cpp): nlohmann keeps the last of two equal keys
// silently; DuplicateKeyFinder, used as the parser callback, finds the first duplicate and
// its JSON path, so both formats reject `{"pid":1,"pid":2}` instead of guessing.
#pragma once

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sandbox::json_keys {

using json = nlohmann::json;

inline bool is_identifier(std::string_view key) {
  if (key.empty()) return false;
  const auto ident_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (key.front() >= '0' && key.front() <= '9') return false;
  return std::all_of(key.begin(), key.end(), ident_char);
}

// JSON string literal for `text`; safe for one-line messages (control characters escaped).
inline std::string json_quote(std::string_view text) {
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

// `$.a.b` for identifier-like keys, `$.a["odd key"]` otherwise.
inline std::string child_path(const std::string& parent, std::string_view key) {
  if (is_identifier(key)) return parent + "." + std::string(key);
  return parent + "[" + json_quote(key) + "]";
}

// Records the first duplicate key while nlohmann parses (it would keep the last one
// silently). Tracks the JSON path of the value being parsed.
class DuplicateKeyFinder {
 public:
  bool on_event(json::parse_event_t event, const json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: frames_.push_back(Frame{}); break;
      case json::parse_event_t::array_start: frames_.push_back(Frame{true, {}, {}, 0}); break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!frames_.empty()) frames_.pop_back();
        element_done();
        break;
      case json::parse_event_t::key:
        if (!frames_.empty() && parsed.is_string()) {
          Frame& top = frames_.back();
          std::string key = parsed.get<std::string>();
          if (!top.keys.insert(key).second && !duplicate_) {
            duplicate_ = child_path(parent_path(), key);
          }
          top.key = std::move(key);
        }
        break;
      case json::parse_event_t::value: element_done(); break;
    }
    return true;
  }
  // Path of the first duplicated key, if any.
  const std::optional<std::string>& duplicate() const { return duplicate_; }

 private:
  struct Frame {
    bool is_array = false;
    std::set<std::string> keys;
    std::string key;        // objects: the key whose value is being parsed
    std::size_t index = 0;  // arrays: the index of the element being parsed
  };
  void element_done() {
    if (!frames_.empty() && frames_.back().is_array) ++frames_.back().index;
  }
  // Path of the innermost container (the one whose keys are in frames_.back()).
  std::string parent_path() const {
    std::string path = "$";
    for (std::size_t i = 0; i + 1 < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      path = f.is_array ? path + "[" + std::to_string(f.index) + "]" : child_path(path, f.key);
    }
    return path;
  }
  std::vector<Frame> frames_;
  std::optional<std::string> duplicate_;
};

// Parses `text` as nlohmann would, and sets `duplicate` to the JSON path of the first key
// that appears twice in one object. Throws what json::parse throws.
inline json parse(std::string_view text, std::optional<std::string>& duplicate) {
  DuplicateKeyFinder finder;
  json root = json::parse(text.begin(), text.end(),
                          [&finder](int /*depth*/, json::parse_event_t event, json& parsed) {
                            return finder.on_event(event, parsed);
                          });
  duplicate = finder.duplicate();
  return root;
}

}  // namespace sandbox::json_keys
