// SPDX-License-Identifier: Apache-2.0
// jobs_memory: what the job model keeps per process, measured with the allocator's own
// counters (mallinfo2) -- the job bookkeeping of issue 13, apart from the per-process state
// the supervisor keeps whatever the scope. Prints "bytes/process <live> <ended-with-history>".
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "model/jobs.hpp"

using namespace sandbox;

namespace {

std::size_t heap_in_use() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 100000;
  Jobs jobs;
  JobSpec spec;
  spec.heap_quota_bytes = 1ull << 40;
  spec.file_quota = 1u << 30;
  spec.keep_history = true;
  const JobId job = jobs.create(spec);
  const std::size_t before = heap_in_use();
  for (int i = 0; i < n; ++i) {
    const Pid pid = 1000 + i;
    jobs.enter(job, pid);
    jobs.name(pid, "/usr/lib/gcc/x86_64-linux-gnu/12/cc1");  // a realistic argv[0], past SSO
    jobs.apply(pid, Delta{4096, +1});
  }
  const std::size_t live = heap_in_use();
  for (int i = 0; i < n; ++i) jobs.leave(1000 + i, Ending::exit, 0);
  const std::size_t ended = heap_in_use();
  std::printf("bytes/process %.1f %.1f\n", static_cast<double>(live - before) / n,
              static_cast<double>(ended - before) / n);
  return 0;
}
