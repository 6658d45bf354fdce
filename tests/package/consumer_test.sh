#!/usr/bin/env bash
# tests/package/consumer_test.sh MODE BUILD_DIR SOURCE_DIR VERSION SOVERSION CC
#
# Builds the program in tests/package/consumer/ out of keel's tree, as a
# user would, and runs it (it echoes a line over loopback):
#   cmake         `cmake --install BUILD_DIR --prefix P`, then the consumer
#                 finds keel with find_package(keel CONFIG): keel::keel
#                 (shared: the program needs libkeel.so.SOVERSION) and
#                 keel::keel_static (static: it needs no libkeel at all).
#                 keel's own flags (-Werror, -Wconversion, _GNU_SOURCE,
#                 hardening) must not reach the consumer.
#   pkg-config    the same prefix, with `pkg-config keel` and the compiler
#                 alone, shared and static (--static: Libs.private).
#   fetchcontent  FetchContent with SOURCE_DIR: keel built inside the
#                 consumer's build, with no tests, examples, fuzzing or proofs.
set -euo pipefail

mode=$1 build=$2 src=$3 version=$4 soversion=$5 cc=$6
work=$(mktemp -d)
trap '[[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT
prefix=$work/prefix
fail() {
    echo "FAIL (consumer $mode): $*" >&2
    local f
    for f in "$work"/*.log; do
        [[ -s $f ]] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
    done
    exit 1
}

# run_consumer EXE: it must exit 0 and print the echoed line.
run_consumer() {
    local out rc=0
    out=$(timeout 20 "$1" 2>&1) || rc=$?
    [[ $rc == 0 ]] || fail "${1##*/} exited with $rc: $out"
    [[ $out =~ ^consumer:\ keel\ ${version//./\\.}\ echoed\ over\ 127\.0\.0\.1:[0-9]+:\ hello\ from\ a\ keel\ consumer$ ]] ||
        fail "${1##*/} printed: $out"
    echo "${1##*/}: $out"
}

# needs_libkeel EXE yes|no: whether the program needs libkeel.so.SOVERSION.
needs_libkeel() {
    local needed
    needed=$(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    if [[ $2 == yes ]]; then
        [[ " $needed" == *" libkeel.so.$soversion "* ]] || fail "${1##*/} does not need libkeel.so.$soversion (needs: $needed)"
    else
        [[ " $needed" != *" libkeel"* ]] || fail "${1##*/} is static but needs a shared libkeel ($needed)"
    fi
}

install_prefix() {
    cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 || fail "cmake --install failed"
    local f
    for f in include/keel.h include/keel/result.h include/keel/version.h lib*/libkeel.a \
        "lib*/libkeel.so.$soversion" lib*/cmake/keel/keelConfig.cmake \
        lib*/cmake/keel/keelConfigVersion.cmake lib*/cmake/keel/keelTargets.cmake lib*/pkgconfig/keel.pc; do
        compgen -G "$prefix/$f" >/dev/null || fail "not installed: $f"
    done
    ! compgen -G "$prefix/include/keel/*.in" >/dev/null || fail "a template was installed"
    if grep -nE -- '-W[a-z]|_GNU_SOURCE|_FORTIFY_SOURCE|-fstack|keel_flags' "$prefix"/lib*/cmake/keel/*.cmake; then
        fail "the installed CMake package passes keel's own flags on to users"
    fi
}

case $mode in
cmake)
    install_prefix
    cmake -S "$src/tests/package/consumer" -B "$work/build" -DKEEL_VIA=package \
        -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" >"$work/configure.log" 2>&1 ||
        fail "configuring the consumer failed"
    grep -q "keel $version from $prefix" "$work/configure.log" || fail "keel $version not found in $prefix"
    cmake --build "$work/build" -j2 --verbose >"$work/build.log" 2>&1 || fail "building the consumer failed"
    if grep -E -- '-Wconversion|-D_GNU_SOURCE|_FORTIFY_SOURCE|-fstack-protector' "$work/build.log"; then
        fail "keel's own flags reached the consumer's compile lines"
    fi
    needs_libkeel "$work/build/consumer_shared" yes
    needs_libkeel "$work/build/consumer_static" no
    run_consumer "$work/build/consumer_shared"
    run_consumer "$work/build/consumer_static"
    ;;
pkg-config)
    install_prefix
    command -v pkg-config >/dev/null || fail "pkg-config is not installed"
    export PKG_CONFIG_PATH
    PKG_CONFIG_PATH=$(dirname "$(compgen -G "$prefix/lib*/pkgconfig/keel.pc")")
    [[ $(pkg-config --modversion keel) == "$version" ]] || fail "pkg-config --modversion keel: $(pkg-config --modversion keel)"
    cflags=$(pkg-config --cflags keel)
    libs=$(pkg-config --libs keel)
    static_libs=$(pkg-config --static --libs keel)
    libdir=$(pkg-config --variable=libdir keel)
    [[ " $static_libs " == *" -lpthread "* ]] || fail "pkg-config --static --libs keel lacks -lpthread: $static_libs"
    echo "pkg-config --cflags keel: $cflags"
    echo "pkg-config --libs keel: $libs"
    echo "pkg-config --static --libs keel: $static_libs"
    # shellcheck disable=SC2086 # the flags are words
    "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror $cflags "$src/tests/package/consumer/consumer.c" \
        -o "$work/consumer_shared" $libs -Wl,-rpath,"$libdir" >"$work/cc-shared.log" 2>&1 ||
        fail "compiling against keel.pc (shared) failed"
    # Static: the archive by name, and Libs.private for what it needs.
    # shellcheck disable=SC2086
    "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror $cflags "$src/tests/package/consumer/consumer.c" \
        -o "$work/consumer_static" ${static_libs/-lkeel/-l:libkeel.a} >"$work/cc-static.log" 2>&1 ||
        fail "compiling against keel.pc (static) failed"
    needs_libkeel "$work/consumer_shared" yes
    needs_libkeel "$work/consumer_static" no
    run_consumer "$work/consumer_shared"
    run_consumer "$work/consumer_static"
    ;;
fetchcontent | subdirectory)
    cmake -S "$src/tests/package/consumer" -B "$work/build" -DKEEL_VIA="$mode" \
        -DKEEL_SOURCE_DIR="$src" -DCMAKE_C_COMPILER="$cc" >"$work/configure.log" 2>&1 ||
        fail "configuring the consumer failed"
    cmake --build "$work/build" -j2 >"$work/build.log" 2>&1 || fail "building the consumer failed"
    needs_libkeel "$work/build/consumer_shared" yes
    needs_libkeel "$work/build/consumer_static" no
    run_consumer "$work/build/consumer_shared"
    run_consumer "$work/build/consumer_static"
    ;;
*)
    echo "usage: consumer_test.sh cmake|pkg-config|fetchcontent|subdirectory BUILD_DIR SOURCE_DIR VERSION SOVERSION CC" >&2
    exit 2
    ;;
esac
echo "PASS (consumer $mode)"
