// sandbox: argv -> command. Wiring only.
#include <cstdio>

#include "cli/cli.hpp"
#include "cli/ctl.hpp"
#include "cli/run.hpp"
#include "cli/serve.hpp"
#include "oci/profile.hpp"

#ifndef SANDBOX_VERSION
#define SANDBOX_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using namespace sandbox;
  try {
    const Command cmd = parse_command_line(argc, argv);
    switch (cmd.kind) {
      case Command::Kind::help: std::fputs(usage_text(), stdout); return 0;
      case Command::Kind::version: std::printf("sandbox %s\n", SANDBOX_VERSION); return 0;
      case Command::Kind::run: return run_command(cmd.run);
      case Command::Kind::serve: return serve_command(cmd.serve);
      case Command::Kind::ctl: return ctl_main(cmd.ctl_argc, cmd.ctl_argv);
      case Command::Kind::oci_profile: return oci_profile_command(cmd.oci_profile);
      case Command::Kind::plot: return plot_command(cmd.plot);
    }
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sandbox: %s (see 'sandbox --help')\n", e.what());
    return 2;
  }
  return 2;
}
