// SPDX-License-Identifier: Apache-2.0
// The doctest main for the unit test binary; the tests live in the other *_test.cpp files.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
