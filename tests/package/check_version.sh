#!/usr/bin/env bash
# tests/package/check_version.sh SOURCE_DIR BUILD_DIR VERSION
# The version is written once (project() in CMakeLists.txt, VERSION here);
# what derives from it must agree: the generated keel/version.h, keel.pc
# (when install rules are on) and the newest section of CHANGELOG.md.
set -euo pipefail
src=$1 build=$2 version=$3
fail() {
    echo "check_version: FAIL: $*" >&2
    exit 1
}
IFS=. read -r major minor patch <<<"$version"
h=$build/include/keel/version.h
for part in "MAJOR $major" "MINOR $minor" "PATCH $patch" "STRING \"$version\""; do
    grep -qx "#define KEEL_VERSION_${part% *} ${part#* }" "$h" ||
        fail "$h does not define KEEL_VERSION_${part% *} ${part#* }"
done
if [[ -f $build/keel.pc ]]; then
    grep -qx "Version: $version" "$build/keel.pc" || fail "keel.pc does not say Version: $version"
fi
newest=$(grep -m1 '^## ' "$src/CHANGELOG.md" || true)
[[ $newest == "## $version" || $newest == "## $version "* ]] ||
    fail "CHANGELOG.md's newest section is '$newest', not version $version"
echo "check_version: $version in keel/version.h, keel.pc and CHANGELOG.md ($newest)"
