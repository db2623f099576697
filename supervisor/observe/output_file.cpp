// SPDX-License-Identifier: Apache-2.0
#include "observe/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sandbox::observe {
namespace {

const char* kind_of(mode_t m) {
  switch (m & S_IFMT) {
    case S_IFIFO: return "a FIFO";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFDIR: return "a directory";
    case S_IFSOCK: return "a socket";
    default: return "not a regular file";
  }
}

}  // namespace

OutputFile::OutputFile(const std::string& flag, const std::string& path) : flag_(flag), path_(path) {
  const auto refuse = [&](const std::string& why) { throw OutputError(flag, path, why); };
  if (path.empty()) refuse("empty file name");
  // A first look without opening: opening a device or a FIFO may itself act (a tape
  // rewinds, a FIFO's writer waits), so those are refused before any open.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) refuse("is a symbolic link (not followed: name the file itself)");
    if (!S_ISREG(st.st_mode)) refuse(std::string("not a regular file (") + kind_of(st.st_mode) + ")");
  }
  // Safe against a name changed since the lstat: O_NOFOLLOW refuses a symlink (ELOOP),
  // O_NONBLOCK makes a FIFO without a reader fail (ENXIO) instead of waiting, and the
  // fstat below refuses whatever else was opened. Nothing is truncated before that.
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0) {
    if (errno == ELOOP) refuse("is a symbolic link (not followed: name the file itself)");
    if (errno == ENXIO) refuse("not a regular file (a FIFO)");
    if (errno == EISDIR) refuse("not a regular file (a directory)");
    refuse(std::strerror(errno));
  }
  fd_.reset(fd);
  if (::fstat(fd, &st) != 0) refuse(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) refuse(std::string("not a regular file (") + kind_of(st.st_mode) + ")");
  // A second name for the file could be someone else's file linked into a directory they
  // can write (without fs.protected_hardlinks): never written through.
  if (st.st_nlink > 1) refuse("has other hard links (not written through)");
  if (::fcntl(fd, F_SETFL, 0) != 0 || ::ftruncate(fd, 0) != 0) refuse(std::strerror(errno));
  dev_ = st.st_dev;
  ino_ = st.st_ino;
}

Error OutputFile::error(const char* what) const {
  return Error::from_errno(flag_ + " " + path_ + ": " + what + ": " + std::strerror(errno));
}

Status OutputFile::write(const std::string& text) {
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd_.get(), text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return error("writing");
    }
    off += static_cast<std::size_t>(n);
  }
  return {};
}

Status OutputFile::replace(const std::string& text) {
  if (::lseek(fd_.get(), 0, SEEK_SET) != 0) return error("writing");
  if (Status written = write(text); !written.ok()) return written;
  if (::ftruncate(fd_.get(), static_cast<off_t>(text.size())) != 0) return error("writing");
  return {};
}

Status OutputFile::close() {
  Status out;
  if (fd_ && ::fsync(fd_.get()) != 0 && errno != EINVAL) out = error("writing");
  if (fd_ && ::close(fd_.release()) != 0 && out.ok()) out = error("closing");
  return out;
}

bool OutputFile::still_named() const {
  struct stat st {};
  return ::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_;
}

}  // namespace sandbox::observe
