#!/usr/bin/env bash
# Renders a comparison's report.html in headless Chromium (Debian's package `chromium`) and saves
# a full-width screenshot, to look at the page as a reader would. Opt-in, run by hand; not in
# .ci/run (it needs the browser, which the CI image does not carry).
#
#   scripts/report-screenshot.sh [RESULTS_DIR] [OUT.png]
#
# RESULTS_DIR defaults to results/ (its comparison/report.html must exist: `profcmp compare
# --results DIR` writes it); OUT.png defaults to RESULTS_DIR/comparison/report.png. The browser
# runs with a fresh profile, no network services and no sandbox (it runs as root here), and
# the page needs no network: it is one file with inline CSS and SVG.
set -euo pipefail

results="${1:-results}"
page="$results/comparison/report.html"
out="${2:-$results/comparison/report.png}"
height="${PROFCMP_SCREENSHOT_HEIGHT:-6000}"

if [ ! -f "$page" ]; then
    echo "error: $page not found: run \`profcmp compare --results $results\` first" >&2
    exit 1
fi
browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
    echo "error: chromium not found: install Debian's package (apt-get install chromium)" >&2
    exit 1
fi

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
    --hide-scrollbars --window-size="1280,$height" --screenshot="$(realpath -m "$out")" \
    "file://$(realpath "$page")" 2>"$profile/chromium.log" || {
    echo "error: chromium failed; its log:" >&2
    cat "$profile/chromium.log" >&2
    exit 1
}
if [ ! -s "$out" ]; then
    echo "error: chromium wrote no screenshot to $out; its log:" >&2
    cat "$profile/chromium.log" >&2
    exit 1
fi
echo "wrote $out"
