// SPDX-License-Identifier: Apache-2.0
// message: see message.hpp.
#include "oci/message.hpp"

namespace sandbox::oci {

bool MessageEnd::feed(std::string_view more) {
  for (const char c : more) {
    if (done_) return true;
    if (in_string_) {
      if (escape_)
        escape_ = false;
      else if (c == '\\')
        escape_ = true;
      else if (c == '"')
        in_string_ = false;
    } else if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      started_ = true;
      ++depth_;
    } else if (c == '}' || c == ']') {
      // An unbalanced close ends the message too: the parse says what is wrong with it.
      if (depth_ > 0) --depth_;
      done_ = depth_ == 0;
    } else if (!started_ && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      done_ = true;  // not an object: complete as far as we care, and refused by the parse
    }
    started_ = started_ || in_string_;
    if (started_ && depth_ == 0 && !in_string_) done_ = true;
  }
  return done_;
}

Message read_message(std::string_view text, std::size_t fds, bool too_many_fds) {
  if (too_many_fds)
    throw OciError("more than " + std::to_string(kMaxFds) + " fds came with the message; refused");
  Message m;
  m.state = parse_state(text, fds);
  m.id = printable_id(m.state.id);
  try {
    m.quotas = parse_metadata(m.state.metadata);
  } catch (const OciError& e) {
    throw OciError("container '" + m.id + "' (pid " + std::to_string(m.state.pid) + "): " + e.what());
  }
  return m;
}

}  // namespace sandbox::oci
