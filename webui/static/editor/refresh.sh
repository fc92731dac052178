#!/bin/sh
# Rebuild codemirror.min.js and its LICENSE.txt from the npm registry.
#
# The versions are pinned in package.json (exact versions, no ranges); to upgrade, change them
# there, run `refresh.sh --update`, check the editor in the dashboard and commit the three files. Needs
# node >= 18 and npm; node_modules is built in a temporary directory and never committed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/entry.js" "$work/"
cd "$work"
# package-lock.json pins the whole tree (CodeMirror's own dependencies too): `npm ci` installs
# exactly it. Without one (or with --update) npm resolves package.json again and writes it.
if [ -f "$here/package-lock.json" ] && [ "${1:-}" != "--update" ]; then
  cp "$here/package-lock.json" .
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null
else
  npm install --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null
  cp package-lock.json "$here/package-lock.json"
fi
# esbuild's own binary package needs its install script; run it alone.
node node_modules/esbuild/install.js >/dev/null 2>&1 || true
node_modules/.bin/esbuild entry.js --bundle --minify --format=esm --target=es2020 \
  --legal-comments=none --outfile="$here/codemirror.min.js"
# Every package inside the bundle, with its version and licence text.
node - "$here/LICENSE.txt" <<'JS'
const fs = require("fs"), path = require("path");
const out = process.argv[2];
const meta = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages;
const parts = ["Third-party software bundled in codemirror.min.js (built by refresh.sh).\n"];
for (const key of Object.keys(meta).sort()) {
  const info = meta[key];
  if (info.dev || !key.startsWith("node_modules/")) continue;
  const dir = key, name = key.slice("node_modules/".length);
  const file = fs.readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  const text = file ? fs.readFileSync(path.join(dir, file), "utf8").trim() : "(no licence file)";
  parts.push(`${"=".repeat(72)}\n${name} ${info.version} — ${info.license}\n\n${text}\n`);
}
fs.writeFileSync(out, parts.join("\n"));
JS
echo "built $(wc -c < "$here/codemirror.min.js") bytes into $here/codemirror.min.js"
