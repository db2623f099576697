// SPDX-License-Identifier: Apache-2.0
// fuzz_proc: libFuzzer harness for the /proc text parsers (issue 20). A target controls parts
// of what the supervisor reads from /proc -- its comm (in status and stat, with any bytes
// but NUL, parentheses and newlines included), its cmdline, its maps' file names -- so every
// parser takes any bytes. The contract checked: no crash, no read outside the input, and
//   - a parsed status's name is NUL-terminated, at most 15 bytes, taken from the text;
//   - a maps line's name lies inside the line, and its range parsed from hex digits;
//   - proc_field() returns a piece of the text that follows "Key:" on one line;
//   - proc_value() agrees with take_num() on that field.
// A failed check aborts, which libFuzzer reports as a crash with the input saved.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "open/waits.hpp"
#include "target/proc_text.hpp"
#include "target/target.hpp"

namespace {

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "fuzz_proc: contract violated: %s\n", what);
  std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

const char* const kKeys[] = {"Name",   "State",  "Tgid",   "PPid",   "Uid",    "Gid",
                             "Groups", "CapEff", "SigPnd", "ShdPnd", "SigBlk", "Threads",
                             "VmSize", "VmData", "VmLck",  "Umask",  ""};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sandbox::target;
  // The first byte picks a capability number and an index; the rest is the file's text.
  const int pick = size > 0 ? data[0] : 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + (size > 0), size > 0 ? size - 1 : 0);

  if (const auto st = parse_status(text)) {
    const std::size_t n = strnlen(st->name, sizeof st->name);
    if (n >= sizeof st->name) violated("status name not NUL-terminated");
    if (n > 0 && text.find(std::string_view(st->name, n)) == std::string_view::npos)
      violated("status name not from the text");
  }
  (void)parse_vm_counters(text);
  (void)parse_capability(text, pick - 64);
  (void)parse_stat_layout(text);
  for (const char* name : {"Max address space", "Max data size", "Max locked memory", ""})
    (void)parse_limit(text, name);

  // maps: line by line, as for_each_mapping() reads it.
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t eol = rest.find('\n');
    const std::string_view line = rest.substr(0, eol == std::string_view::npos ? rest.size() : eol + 1);
    if (const auto m = parse_maps_line(line)) {
      if (!inside(m->name, line)) violated("maps name outside its line");
      if (m->name.find('\n') != std::string_view::npos) violated("maps name spans lines");
    }
    rest.remove_prefix(line.size());
  }

  for (const char* key : kKeys) {
    const std::string_view f = proc_field(text, key);
    if (!inside(f, text)) violated("proc_field outside the text");
    if (f.find('\n') != std::string_view::npos) violated("proc_field spans lines");
    std::uint64_t a = 0, b = 0;
    std::string_view copy = f;
    const bool got = take_num(copy, a, 16);
    if (got != proc_value(text, key, b, 16) || (got && a != b))
      violated("proc_value disagrees with take_num");
    std::int32_t small = 0;
    (void)proc_value(text, key, small, 10, static_cast<std::size_t>(pick % 8));
  }

  // The signal-state readers of the open emulation's waits.
  std::uint64_t threads = 0;
  (void)sandbox::opening::signal_would_interrupt(text.data(), text.size(), ~0ull);
  (void)sandbox::opening::shared_for_others(text.data(), text.size(), &threads);
  (void)sandbox::opening::thread_mask(text.data(), text.size());
  return 0;
}
