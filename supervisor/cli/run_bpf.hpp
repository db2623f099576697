// SPDX-License-Identifier: Apache-2.0
// run_bpf: `sandbox run --engine bpf|auto` (docs/design.md, "The BPF engine"). The BPF
// programs account and kill in the calling task; the seccomp filter notifies only the five
// ABI calls, answered here from the maps; every other call runs natively.
#pragma once

#include <linux/filter.h>

#include <functional>
#include <optional>
#include <vector>

#include "cli/cli.hpp"
#include "policy/policy.hpp"

namespace sandbox {

// The run's exit status under the bpf engine, or nullopt when the notify engine is to run
// it (--engine notify, or auto where bpf is unavailable: said on stderr). `split_guard` is
// run.cpp's: it forks the guard, which returns the run's status (>= 0), and the supervisor
// goes on (-1); the guard kills whatever the supervisor leaves behind if it dies.
std::optional<int> run_with_engine(const RunOptions& options, const Policy& policy, char* const argv[],
                                   const std::function<int()>& split_guard);

// The seccomp filter of the bpf engine (exposed for the unit tests).
std::vector<sock_filter> bpf_engine_filter(const Policy& policy);

}  // namespace sandbox
