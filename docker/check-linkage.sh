#!/bin/sh
# Fails when a binary needs a shared library that gcr.io/distroless/cc-debian12 does not ship
# (glibc, libgcc_s, libstdc++). Runs inside the Docker builder stage.
set -eu
status=0
for bin in "$@"; do
  libs=$(ldd "$bin" | awk '$2 == "=>" { print $1 }')
  for lib in $libs; do
    case "$lib" in
      libc.so.*|libm.so.*|libgcc_s.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libstdc++.so.*) ;;
      *) echo "check-linkage: $bin needs $lib, which the runtime image does not have" >&2; status=1 ;;
    esac
  done
done
exit "$status"
