#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it (as root on a fresh Debian 12 machine): install
# dependencies, build with AddressSanitizer + UBSan and fault points, start the real servers the
# integration tests need on 127.0.0.1 (stopped again at the end), run every ctest label.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/tools/deps.sh" --test
build="$top/build-test"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDR_SANITIZE=ON -DDR_FAULTS=ON \
    >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
# the README's quickstart builds Release: -O2 without sanitizers warns differently, and
# -Werror makes every warning a broken build, so prove that configuration compiles too
cmake -S "$top" -B "$top/build-release-check" -DCMAKE_BUILD_TYPE=Release -DDR_TESTS=OFF >/dev/null
cmake --build "$top/build-release-check" -j"$(nproc)" >/dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export DR_TEST_SERVERS_DIR=${DR_TEST_SERVERS_DIR:-/tmp/drrepo-test-servers-$$}
trap 'bash "$top/tools/test-servers.sh" stop' EXIT
eval "$(bash "$top/tools/test-servers.sh" start)"
# in CI an integration test that cannot find its server fails instead of skipping
if [ "${CI:-}" = true ]; then
    export DR_TEST_REQUIRE_SERVERS=1
fi
cd "$build"
ctest -j"$(nproc)" --output-on-failure --timeout 900 "$@"
