#!/usr/bin/env bash
# Regenerates Sources/Protocol/Web/Proto/*.pb.swift from proto/*.proto. Run by hand when a .proto
# changes; the output is committed so the build needs neither protoc nor the plugin.
#
# Needs protoc (apt-get install protobuf-compiler) and protoc-gen-swift from swift-protobuf 1.39.0,
# the version Package.swift pins (build it with `swift build -c release --product protoc-gen-swift`
# in a checkout of apple/swift-protobuf, then pass its path as PROTOC_GEN_SWIFT).
set -euo pipefail
cd "$(dirname "$0")/.."
plugin="${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}"
if [[ -z "$plugin" ]]; then
  echo "set PROTOC_GEN_SWIFT to the protoc-gen-swift binary (swift-protobuf 1.39.0)" >&2
  exit 1
fi
out=Sources/Protocol/Web/Proto
mkdir -p "$out"
protoc --plugin=protoc-gen-swift="$plugin" --proto_path=proto \
  --swift_opt=Visibility=Internal --swift_opt=FileNaming=DropPath \
  --swift_out="$out" proto/*.proto
ls "$out"
