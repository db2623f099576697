// SPDX-License-Identifier: Apache-2.0
// output_file: a file the supervisor writes for the user (`run -o`, `run --trace`, `plot -o`).
//
// The supervisor is usually root and its targets are hostile; a target may be able to write
// the directory the user named (a build directory, /tmp). So the file is opened once, by the
// user's name, before any target runs, and written only through that descriptor afterwards:
// a name swapped for a symlink or a FIFO during the run is never resolved again. The open
// itself follows no symlink in the last component (O_NOFOLLOW), does not wait (O_NONBLOCK:
// a FIFO without a reader is an error, not a hang), accepts only a regular file with a
// single link (never a FIFO, device, directory, or a hard link to someone else's file), and
// truncates only after those checks. A new file is created 0644 (less the umask): never
// writable by others.
#pragma once

#include <sys/types.h>

#include <stdexcept>
#include <string>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace sandbox::observe {

// A file that cannot be opened: what() is "<flag> <path>: <why>"; why() alone.
class OutputError : public std::runtime_error {
 public:
  OutputError(const std::string& flag, const std::string& path, const std::string& why)
      : std::runtime_error(flag + " " + path + ": " + why), why_(why) {}
  const std::string& why() const { return why_; }

 private:
  std::string why_;
};

class OutputFile {
 public:
  OutputFile() = default;
  // Opens or creates `path` for writing and empties it. Throws OutputError (flag: "--output",
  // "--trace", ..., for the message).
  OutputFile(const std::string& flag, const std::string& path);

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  explicit operator bool() const { return static_cast<bool>(fd_); }

  // Appends `text` at the end of what was written so far. A failure's message is one line,
  // "<flag> <path>: writing: <strerror>".
  Status write(const std::string& text);
  // Replaces the whole content with `text` (from offset 0, then truncated).
  Status replace(const std::string& text);
  // Flushes and closes.
  Status close();
  // Whether `path` still names the file opened (a target may have renamed, removed or
  // replaced it since); checked by lstat, never by opening the name again.
  bool still_named() const;

 private:
  Error error(const char* what) const;  // errno, with the one-line message
  std::string flag_, path_;
  UniqueFd fd_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace sandbox::observe
