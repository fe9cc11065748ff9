# rampart: `make test` is what CI runs (through .ci/run).
GO ?= go

.PHONY: test build demo fmt-check

test: fmt-check
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# A static binary.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o rampart ./cmd/rampart

demo:
	$(GO) run ./cmd/rampart demo
