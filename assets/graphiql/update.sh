#!/usr/bin/env bash
# Re-fetches the vendored GraphiQL page assets from the npm registry, at the given versions:
#
#   assets/graphiql/update.sh [GRAPHIQL_VERSION [REACT_VERSION]]    # default: 4.1.2 18.3.1
#
# 1. `npm pack graphiql@G react@R react-dom@R` (tarballs checked against the registry's
#    integrity by npm), then copies the four served files, named with their version, and each
#    package's LICENSE here;
# 2. writes SHA256SUMS (a unit test in src/graphiql.rs checks the embedded files against it);
# 3. `npm install graphiql@G` in a scratch folder and writes THIRD-PARTY-NOTICES.md from it
#    (third-party-notices.mjs: what the bundle contains, per its source map);
# 4. prints the tarballs' integrity for README.md.
# Then set the versions in src/graphiql.rs (`graphiql_version!`, `react_version!`) and in
# README.md, and run `cargo test` and tests/browser/run.sh.
#
# Needs node and npm. Neither the build nor CI runs this: the committed files are what ships.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
graphiql="${1:-4.1.2}"
react="${2:-18.3.1}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

npm pack --silent --json "graphiql@$graphiql" "react@$react" "react-dom@$react" >pack.json
for package in graphiql react react-dom; do
    mkdir "$package"
done
tar -xzf "graphiql-$graphiql.tgz" -C graphiql
tar -xzf "react-$react.tgz" -C react
tar -xzf "react-dom-$react.tgz" -C react-dom

cd "$here"
rm -f graphiql-*.min.js graphiql-*.min.css react-*.production.min.js react-dom-*.production.min.js
cp "$tmp/graphiql/package/graphiql.min.js" "graphiql-$graphiql.min.js"
cp "$tmp/graphiql/package/graphiql.min.css" "graphiql-$graphiql.min.css"
cp "$tmp/react/package/umd/react.production.min.js" "react-$react.production.min.js"
cp "$tmp/react-dom/package/umd/react-dom.production.min.js" "react-dom-$react.production.min.js"
cp "$tmp/graphiql/package/LICENSE" LICENSE-graphiql
cp "$tmp/react/package/LICENSE" LICENSE-react
cp "$tmp/react-dom/package/LICENSE" LICENSE-react-dom
sha256sum "graphiql-$graphiql.min.js" "graphiql-$graphiql.min.css" \
    "react-$react.production.min.js" "react-dom-$react.production.min.js" >SHA256SUMS

mkdir "$tmp/install"
(cd "$tmp/install" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund "graphiql@$graphiql")
node "$here/third-party-notices.mjs" "$tmp/graphiql/package" "$tmp/install/node_modules" \
    >THIRD-PARTY-NOTICES.md

echo "updated $here:"
cat SHA256SUMS
node -e 'for (const p of require(process.argv[1])) console.log(`${p.name}@${p.version} ${p.filename} ${p.integrity}`)' \
    "$tmp/pack.json"
