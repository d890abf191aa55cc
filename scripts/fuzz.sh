#!/usr/bin/env bash
# Builds the binary-node decoder with libFuzzer and AddressSanitizer and runs it for FUZZ_SECONDS
# (default 60), starting from the recorded frames. Crashes land in .build/fuzz/ as crash-* files.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build/fuzz
mkdir -p "$out/corpus"
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name WharfFuzz \
  -I Sources/CZlib -lz Fuzz/BinaryDecoderFuzz.swift Sources/Protocol/Web/Binary/*.swift \
  -o "$out/binary-decoder"
python3 - "$out/corpus" <<'PY'
import json, pathlib, sys, zlib
corpus = pathlib.Path(sys.argv[1])
fixtures = pathlib.Path("Tests/WhatsAppProtocolTests/Fixtures/whatsapp")
success = bytes.fromhex(json.loads((fixtures / "binary-success-node.json").read_text())["hex"])
ib = bytes.fromhex(json.loads((fixtures / "binary-ib-dirty-v2.json").read_text())["hex"])
(corpus / "success").write_bytes(b"\x00" + success)
(corpus / "success-compressed").write_bytes(b"\x02" + zlib.compress(success))
(corpus / "ib-dirty").write_bytes(ib)
PY
cd "$out"
./binary-decoder -max_total_time="${FUZZ_SECONDS:-60}" -max_len=4096 corpus
