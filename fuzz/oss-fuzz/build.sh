#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build of keel's fuzz targets. The builder image
# provides $CC and $CFLAGS (sanitizer + coverage instrumentation), the
# engine's main() in $LIB_FUZZING_ENGINE, $SRC (sources), $WORK (scratch) and
# $OUT (where fuzz_<target>, its seed corpus zip, dictionary go).
keel="${KEEL_SRC:-$SRC/keel}"
build="${WORK:-/tmp}/keel-fuzz-build"

cmake -S "$keel" -B "$build" \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_BUILD_TYPE=Release \
    -DKEEL_FUZZ=external -DKEEL_FUZZ_ENGINE_FLAGS="$LIB_FUZZING_ENGINE" \
    -DKEEL_WERROR=OFF -DKEEL_HARDEN=OFF -DKEEL_SANITIZE= \
    -DKEEL_BUILD_TESTS=OFF -DKEEL_BUILD_EXAMPLES=OFF
cmake --build "$build" -j "$(nproc)"

for src in "$keel"/fuzz/*/fuzz_*.c; do
    name=$(basename "$src" .c)
    target=${name#fuzz_}
    if [[ ! -x "$build/fuzz/$name" ]]; then
        # fuzz/tls/ is built only with mbed TLS (libmbedtls-dev, in the Dockerfile).
        echo "build.sh: $name was not built (no mbed TLS?): not shipped" >&2
        continue
    fi
    cp "$build/fuzz/$name" "$OUT/"
    rm -f "$OUT/${name}_seed_corpus.zip"
    (cd "$keel/fuzz/corpus/$target" && zip -q -r "$OUT/${name}_seed_corpus.zip" .)
    if [[ -d "$keel/fuzz/regressions/$target" ]]; then
        (cd "$keel/fuzz/regressions/$target" && zip -q -r "$OUT/${name}_seed_corpus.zip" .)
    fi
    if [[ -f "$keel/fuzz/dict/$target.dict" ]]; then
        cp "$keel/fuzz/dict/$target.dict" "$OUT/$name.dict"
    fi
done
