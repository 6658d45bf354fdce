#!/bin/bash -eu
# ClusterFuzzLite builds exactly what OSS-Fuzz builds.
exec "$SRC/keel/fuzz/oss-fuzz/build.sh"
