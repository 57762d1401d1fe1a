#!/bin/sh
# Tools for the rendering tests (never needed by the normal test run: those tests skip without
# them). Headless Chromium opens the HTML report (tests/test_html_report.py); mermaid's own
# parser, run by Node with a DOM from jsdom, parses the Mermaid we write (tests/test_drawing.py).
#
#   sh scripts/setup_render_tests.sh          (as root, or with sudo for apt-get)
#
# Chromium comes from the Debian packages; mermaid and jsdom are installed from npm into
# .cache/render-tests/ (ignored by git).
set -eu
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
    apt-get update
    apt-get install -y chromium
fi
mkdir -p .cache/render-tests
cd .cache/render-tests
[ -f package.json ] || echo '{"private": true}' > package.json
npm install --no-audit --no-fund mermaid@11 jsdom@29
echo "render tests ready: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), mermaid $(node -p 'require("./node_modules/mermaid/package.json").version')"
