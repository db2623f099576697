// SPDX-License-Identifier: Apache-2.0
// oci_profile: `sandbox oci-profile` -- prints the linux.seccomp object of oci.hpp, or sets
// it in a bundle's config.json in place (docs/containers.md).
#pragma once

#include "cli/commands.hpp"

namespace sandbox {

// Returns the exit status: 0, or 2 with a one-line error on stderr.
int oci_profile_command(const OciProfileOptions& options);

}  // namespace sandbox
