# rampart: `make test` is what CI runs (through .ci/run).
GO ?= go

.PHONY: test build demo fmt-check fuzz-short

# Fuzz targets and their packages; `make fuzz-short` gives each a few seconds,
# FUZZTIME=10m make fuzz-short a real run.
FUZZ_TARGETS := proxy:FuzzRawRequest proxy:FuzzRedirect proxy:FuzzHeaderPolicy proxy:FuzzCanonicalHost redact:FuzzNoCardSurvives \
	certs:FuzzHostMatch cmd/rampart:FuzzConfig
FUZZTIME ?= 5s

# The fuzzers run first so that go test's summary closes the output.
test: fmt-check
	$(GO) vet ./...
	$(MAKE) --no-print-directory fuzz-short
	$(GO) test -count=1 -timeout 20m ./...

fuzz-short:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ($$pkg) for $(FUZZTIME)"; \
		$(GO) test ./$$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) >/tmp/rampart-fuzz.log 2>&1 \
			|| { cat /tmp/rampart-fuzz.log; exit 1; }; \
	done

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# A static binary.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o rampart ./cmd/rampart

demo:
	$(GO) run ./cmd/rampart demo
