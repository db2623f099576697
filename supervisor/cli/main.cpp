// SPDX-License-Identifier: Apache-2.0
// sandbox: argv -> command (cli/cli.cpp). Wiring only.
#include "cli/cli.hpp"

int main(int argc, char** argv) {
  return sandbox::sandbox_main(argc, argv);
}
