#!/usr/bin/env bash
# Cold page views per second against a running frontend: every file a first visit loads (the
# page, its script and chunks, stylesheet and icon, the plate boundaries, the offline basemap) and the
# page's first list request (the last 24 h, `since` rounded down to the minute, as the page asks).
#   workloads/frontend/web/bench/cold-views.sh URL [wrk options, default -t2 -c64 -d10s]
# The asset names are content-hashed: they are read from the page and the bundle first.
set -euo pipefail
url=${1:?usage: cold-views.sh URL [wrk options]}
shift
here="$(cd "$(dirname "$0")" && pwd)"
page=$(curl -fsS "$url/")
js=$(grep -o '/assets/app-[0-9a-f]*\.js' <<<"$page" | head -1)
css=$(grep -o '/assets/app-[0-9a-f]*\.css' <<<"$page" | head -1)
icon=$(grep -o '/assets/icon-[0-9a-f]*\.svg' <<<"$page" | head -1)
entry=$(curl -fsS "$url$js")
# esbuild's chunks (NAME-HASH.js), named by the entry; the data files are named inside them.
chunks=$(grep -o '[a-z]*-[A-Z2-7]\{8\}\.js' <<<"$entry" | sort -u | sed 's#^#/assets/#' | tr '\n' ' ')
code="$entry"
for c in $chunks; do code+=$(curl -fsS "$url$c"); done
plates=$(grep -o '/assets/plates-[0-9a-f]*\.json' <<<"$code" | head -1)
countries=$(grep -o '/assets/countries-[0-9a-f]*\.json' <<<"$code" | head -1)
since=$(date -u -d '-24 hours' +%Y-%m-%dT%H%%3A%M%%3A00Z)
paths="/ $js $chunks$css $icon $plates $countries /api/quakes?since=$since&limit=20000"
echo "paths: $paths"
[ $# -gt 0 ] || set -- -t2 -c64 -d10s
QS_PATHS="$paths" wrk "$@" --latency -s "$here/cold-views.lua" "$url"
