#!/usr/bin/env bash
# checksrc.sh: source rules that the compiler does not enforce (STYLE.md 1.3):
#  - banned functions: sprintf strcpy strcat strncpy strtok gets atoi atol
#  - every public header compiles on its own (self-contained)
#  - only src/cmd/ and src/main.c may call exit()
set -u
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 2
fail=0
banned='\b(sprintf|strcpy|strcat|strncpy|strtok|gets|atoi|atol)[[:space:]]*\('
if grep -rEn "$banned" src include tests/helper tests/unit tests/support tests/fuzz --include='*.[ch]' \
    | grep -v 'snprintf\|vsnprintf'; then
  echo "checksrc: banned function used (see STYLE.md 1.3)"
  fail=1
fi
if grep -rEn '\bexit[[:space:]]*\(' src --include='*.c' | grep -v '^src/cmd/\|^src/main.c\|_exit'; then
  echo "checksrc: exit() outside src/cmd/ (library code returns errors)"
  fail=1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in include/drrepo/*.h; do
  printf '#include "drrepo/%s"\n' "$(basename "$h")" > "$tmp/h.c"
  if ! cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -fsyntax-only "$tmp/h.c"; then
    echo "checksrc: $h is not self-contained"
    fail=1
  fi
done
if [ $fail -eq 0 ]; then
  echo "checksrc: ok"
fi
exit $fail
