# Wharf: `make run` builds and starts the gateway; `make test` runs the whole suite.
SWIFT ?= swift
DATA_DIR ?= ./data
PORT ?= 5001

.PHONY: run build release test deps test-deps bench media-bench fuzz lint format clean

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: deps
	$(SWIFT) build --build-tests

release: deps
	$(SWIFT) build -c release --product wharf

run: release
	DATA_DIR=$(DATA_DIR) PORT=$(PORT) $$($(SWIFT) build -c release --show-bin-path)/wharf

test: test-deps lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	python3 Tests/peers/test_relay.py
	python3 Tests/peers/test_axolotl_peer.py
	python3 Tests/browser/test_consoles.py
	python3 Tests/n8n/test_workflows.py
	python3 Tests/api/test_event_socket.py
	python3 Tests/api/test_openapi.py

# Benchmarks print figures (see BENCHMARKS.md); they are not tests.
bench: deps
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(SWIFT) build -c release --product wharf-bench
	$$($(SWIFT) build -c release --show-bin-path)/wharf-bench --events 20000
	$(SWIFT) build -c release --product wharf-send-bench
	$$($(SWIFT) build -c release --show-bin-path)/wharf-send-bench --jobs 5000
	$(SWIFT) build -c release --product wharf-web-bench
	$$($(SWIFT) build -c release --show-bin-path)/wharf-web-bench --sessions 1000

# Resident memory of wharf while a 100 MiB document goes through it each way (needs the test peers'
# Python packages: make test-deps).
media-bench: deps
	$(SWIFT) build -c release --product wharf
	WHARF_BINARY=$$($(SWIFT) build -c release --show-bin-path)/wharf python3 Benchmarks/media_memory.py

# Swift sources must be as swift-format (the toolchain's, with .swift-format) writes them; generated
# code (protobuf, the token tables) is left as its generators wrote it.
SWIFT_SOURCES = $$(find Sources Tests Benchmarks Fuzz -name '*.swift' -not -path '*/Proto/*' -not -name TokenTables.swift 2>/dev/null)

lint:
	$(SWIFT) format lint --strict --parallel $(SWIFT_SOURCES)

format:
	$(SWIFT) format format --in-place --parallel $(SWIFT_SOURCES)

# Fuzzes the WhatsApp binary-node decoder (libFuzzer + AddressSanitizer); FUZZ_SECONDS=600 for longer.
fuzz: deps
	scripts/fuzz.sh

clean:
	rm -rf .build
