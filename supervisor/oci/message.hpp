// SPDX-License-Identifier: Apache-2.0
// message: the OCI listener's message reader, with no socket (listener.hpp reads the
// bytes and fds; the fuzz harness test/fuzz/fuzz_oci.cpp feeds it directly): where a
// runtime's message ends, and what it says.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "oci/oci.hpp"

namespace sandbox::oci {

// Where a runtime's message ends: it is one JSON value (an object), and a runtime does not
// always close the connection after it. Fed the bytes as they come, each byte is looked at
// once (a brace and bracket depth, outside strings), so a slow client costs linear work,
// not a parse of everything so far per chunk.
class MessageEnd {
 public:
  // Scans `more` (the bytes after those fed before); true once the value has ended (then
  // the whole buffer is parsed once; bytes after the end make it invalid there).
  bool feed(std::string_view more);
  bool done() const { return done_; }

 private:
  std::size_t depth_ = 0;
  bool started_ = false, in_string_ = false, escape_ = false, done_ = false;
};

// The message reader's decisions, with no socket: the fds that came (their count, and
// whether there were more than kMaxFds), the text, checked as the listener checks it. Throws
// OciError naming what was wrong. (Used by the listener and by the fuzz harness.)
struct Message {
  ProcessState state;
  Quotas quotas;
  std::string id;  // printable_id
};
inline constexpr std::size_t kMaxFds = 8;  // per message; more is refused
Message read_message(std::string_view text, std::size_t fds, bool too_many_fds);

}  // namespace sandbox::oci
