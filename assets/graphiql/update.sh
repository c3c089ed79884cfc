#!/usr/bin/env bash
# Re-fetches the vendored GraphiQL page assets from the npm registry at pinned versions.
# Not run by the build or CI: the files are committed, so the server works offline.
#
#   assets/graphiql/update.sh [GRAPHIQL_VERSION] [REACT_VERSION]
#
# After running it with new versions: rename the files' version in src/graphiql.rs, regenerate
# THIRD-PARTY-NOTICES.md (see its header), update README.md's table, and run the browser test
# (tests/browser/run.sh).
set -euo pipefail
graphiql="${1:-4.1.2}"
react="${2:-18.3.1}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "graphiql@$graphiql" "react@$react" "react-dom@$react" >/dev/null
for package in "graphiql-$graphiql" "react-$react" "react-dom-$react"; do
    mkdir "$package"
    tar -xzf "$package.tgz" -C "$package"
done
cp "graphiql-$graphiql/package/graphiql.min.js" "$here/graphiql-$graphiql.min.js"
cp "graphiql-$graphiql/package/graphiql.min.css" "$here/graphiql-$graphiql.min.css"
cp "react-$react/package/umd/react.production.min.js" "$here/react-$react.production.min.js"
cp "react-dom-$react/package/umd/react-dom.production.min.js" "$here/react-dom-$react.production.min.js"
cp "graphiql-$graphiql/package/LICENSE" "$here/LICENSE-graphiql"
cp "react-$react/package/LICENSE" "$here/LICENSE-react"
cp "react-dom-$react/package/LICENSE" "$here/LICENSE-react-dom"
cd "$here"
sha256sum ./*.js ./*.css
