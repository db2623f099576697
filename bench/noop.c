// SPDX-License-Identifier: Apache-2.0
/* bench_noop: a static program that does nothing (linked with -static): the launch probe. */
int main(void) {
  return 0;
}
