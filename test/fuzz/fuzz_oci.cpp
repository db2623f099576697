// SPDX-License-Identifier: Apache-2.0
// fuzz_oci: libFuzzer harness for the OCI listener's message reader (issue 20): a runtime's
// containerProcessState JSON and the fds that came with it (supervisor/oci/message.hpp).
// The first input byte is the fd metadata (the low 4 bits: how many fds came, 0-15, more
// than kMaxFds meaning "too many", as MSG_CTRUNC or a long SCM_RIGHTS list does); the
// second chooses how the rest is cut into reads; the rest is the message. The contract
// checked: nothing but OciError is thrown, never a crash, and
//   - where the message ends does not depend on how it was cut into reads, and a complete
//     JSON text is always found complete;
//   - a refusal is one bounded line;
//   - an accepted message names a "seccompFd" among the fds that came, a pid above 0 and a
//     printable id of at most 128 bytes, and quotas from its metadata.
// A failed check aborts, which libFuzzer reports as a crash with the input saved.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "oci/message.hpp"

namespace {

[[noreturn]] void violated(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz_oci: contract violated: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) violated(what, detail);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t fds = data[0] & 0x0f;
  const bool too_many = fds > sandbox::oci::kMaxFds;
  const std::size_t step = 1 + data[1] % 17;  // reads of 1 to 17 bytes
  const std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);
  if (text.size() > sandbox::oci::kMaxStateBytes) return 0;  // the listener refuses it unread

  // Where it ends: in one read, and in reads of `step` bytes; the listener parses the bytes
  // read so far once the end is seen (or all of them at EOF).
  sandbox::oci::MessageEnd whole, cut;
  whole.feed(text);
  std::size_t seen = text.size();
  for (std::size_t at = 0; at < text.size(); at += step)
    if (cut.feed(text.substr(at, step))) {
      seen = std::min(text.size(), at + step);
      break;
    }
  check(whole.done() == cut.done(), "the end depends on how the message was cut", text);
  if (nlohmann::json::accept(text)) check(whole.done(), "a complete JSON text was not seen to end", text);

  const std::string_view message = text.substr(0, seen);
  try {
    const sandbox::oci::Message m = sandbox::oci::read_message(message, too_many ? 0 : fds, too_many);
    check(!too_many, "too many fds were accepted", message);
    check(m.state.seccomp_fd < fds, "seccompFd names an fd that did not come", message);
    check(m.state.fds == fds, "the state names another number of fds than came", message);
    check(m.state.pid > 0, "a pid of 0 or less was accepted", message);
    check(m.id.size() <= 128, "the printable id is longer than 128 bytes", m.id);
    for (const char c : m.id) check(c >= 0x20 && c < 0x7f, "the printable id is not printable", m.id);
  } catch (const sandbox::oci::OciError& e) {
    const std::string_view w = e.what();
    check(!w.empty() && w.size() <= 4096, "a refusal is empty or longer than 4 KiB", w);
    check(w.find('\n') == std::string_view::npos, "a refusal spans more than one line", w);
  }
  return 0;
}
