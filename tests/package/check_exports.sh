#!/usr/bin/env bash
# tests/package/check_exports.sh LIBKEEL_SO SOVERSION SOURCES_LIST SRC_DIR INCLUDE_DIR...
#
# libkeel.so exports exactly the public API, in both directions:
#  - every function declared in a public header (except static inline ones)
#    and every object declared extern there is exported;
#  - nothing else is exported: no internal ksys_/knet_/kloop_/kjson_/
#    ktimer_ name, no name without the keel_ prefix, functions and data alike;
#  - every name a public header declares starts with keel_;
#  - the SONAME is libkeel.so.SOVERSION.
# Which headers: the public headers (keel/NAME.h in the INCLUDE_DIRs: the
# source tree's include/ and the build's, for the generated version.h) that
# the sources compiled into the library (one path a line in SOURCES_LIST)
# include, directly or through src/'s internal headers (gcc -MM says).
# A header that no compiled source includes belongs to a layer this build
# does not compile (an optional one, or one whose implementation has not
# landed yet): it is named and skipped, not silently ignored.
# The declarations come from gcc itself (-aux-info), not from a regex over
# the headers; extern objects (which -aux-info does not list) from the
# headers with comments stripped.
set -euo pipefail

lib=$1 soversion=$2 sources=$3 srcdir=$4
shift 4
incdirs=("$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
    echo "check_exports: FAIL: $*" >&2
    exit 1
}

command -v gcc >/dev/null || fail "gcc is needed (for -aux-info)"
[[ -f $lib ]] || fail "no library at $lib"

# Headers the compiled sources include, then every public header.
incflags=()
for dir in "${incdirs[@]}"; do incflags+=(-I "$dir"); done
mapfile -t srcs <"$sources"
gcc -std=c11 -D_GNU_SOURCE "${incflags[@]}" -I "$srcdir" -MM "${srcs[@]}" >"$work/deps.txt"
checked=() skipped=()
for dir in "${incdirs[@]}"; do
    for f in "$dir"/keel/*.h; do
        [[ -e $f ]] || continue
        if grep -qF -- " $f" "$work/deps.txt"; then
            checked+=("$f")
        else
            skipped+=("keel/${f##*/}")
        fi
    done
done
[[ ${#checked[@]} -gt 0 ]] || fail "no public header to check"

# Declared functions: gcc's own list of the prototypes it saw, keeping the
# ones whose declaration lies in a checked header.
for f in "${checked[@]}"; do printf '#include "%s"\n' "$f"; done >"$work/all.c"
gcc -std=c11 -D_GNU_SOURCE "${incflags[@]}" -fsyntax-only -aux-info "$work/aux.txt" "$work/all.c"
printf '%s\n' "${checked[@]}" >"$work/checked.txt"
perl -ne '
    BEGIN { open my $c, "<", "'"$work"'/checked.txt" or die; chomp(my @h = <$c>); %h = map { $_ => 1 } @h; }
    next unless m{^/\* (\S+):\d+:\w+ \*/ (.*)$};
    my ($file, $decl) = ($1, $2);
    next unless $h{$file};
    next if $decl =~ /^\s*static\b/;          # static inline: not a symbol
    $decl =~ /(\w+)\s*\((?:[^()]|\([^()]*\))*\)\s*;\s*$/ or die "cannot read: $decl\n";
    print "$1\n";' "$work/aux.txt" | sort -u >"$work/declared_fn.txt"

# Declared objects: "extern TYPE keel_name;" (or an array) in a checked header.
perl -0777 -ne '
    s{/\*.*?\*/}{}gs; s{//[^\n]*}{}g;
    while (/\bextern\s+(?!"C")[^;(){}]*?\b(\w+)\s*(?:\[[^\]]*\]\s*)*;/g) { print "$1\n"; }' \
    "${checked[@]}" | sort -u >"$work/declared_data.txt"
sort -u "$work/declared_fn.txt" "$work/declared_data.txt" >"$work/declared.txt"

# Exported: every defined dynamic symbol, functions and data alike.
nm -D --defined-only "$lib" | awk '{ sub(/@.*/, "", $3); print $3 }' | sort -u >"$work/exported.txt"

status=0
unprefixed=$(grep -v '^keel_' "$work/declared.txt" || true)
if [[ -n $unprefixed ]]; then
    echo "check_exports: public headers declare names without the keel_ prefix:" >&2
    sed 's/^/  /' <<<"$unprefixed" >&2
    status=1
fi
missing=$(comm -23 "$work/declared.txt" "$work/exported.txt")
if [[ -n $missing ]]; then
    echo "check_exports: declared in a public header but not exported by ${lib##*/}:" >&2
    sed 's/^/  /' <<<"$missing" >&2
    status=1
fi
extra=$(comm -13 "$work/declared.txt" "$work/exported.txt")
if [[ -n $extra ]]; then
    echo "check_exports: exported by ${lib##*/} but declared in no public header checked:" >&2
    sed 's/^/  /' <<<"$extra" >&2
    status=1
fi
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [[ $soname != "libkeel.so.$soversion" ]]; then
    echo "check_exports: SONAME is '$soname', expected libkeel.so.$soversion" >&2
    status=1
fi
[[ $status -eq 0 ]] || fail "the exported symbols of ${lib##*/} do not match the public headers"

for h in "${skipped[@]}"; do
    echo "check_exports: $h: no source compiled into the library includes it (layer not built): not checked"
done
echo "check_exports: $(wc -l <"$work/exported.txt") symbols exported by ${lib##*/} (SONAME $soname)," \
    "$(wc -l <"$work/declared_fn.txt") functions and $(wc -l <"$work/declared_data.txt") objects" \
    "declared in ${#checked[@]} headers: they match"
