# rampart: `make test` is what CI runs (through .ci/run).
GO ?= go

.PHONY: test build image demo acme-local fmt-check fuzz-short bench

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
# The image's name: `make image` tags it $(VERSION) and latest, the tag the
# README, the compose file and the Kubernetes overlays run.
IMAGE ?= localhost/rampart
# docker if its daemon answers, else podman (no daemon needed).
ENGINE ?= $(shell docker info >/dev/null 2>&1 && echo docker || echo podman)

# Fuzz targets and their packages; `make fuzz-short` gives each 5,000 inputs (a count,
# not a duration: a wall-clock -fuzztime can end in "context deadline exceeded" on a
# loaded machine before the baseline is done),
# FUZZTIME=10m make fuzz-short a real run.
FUZZ_TARGETS := proxy:FuzzRawRequest proxy:FuzzRedirect proxy:FuzzHeaderPolicy hostname:FuzzCanonical proxy:FuzzPathAllowed proxy:FuzzRouteMatch config:FuzzParse \
	redact:FuzzNoCardSurvives redact:FuzzNoSecretSurvives audit:FuzzServerHello certs:FuzzHostMatch cmd/rampart:FuzzConfig \
	cmd/rampart:FuzzLogNeverHoldsCard
FUZZTIME ?= 5000x

# The Kubernetes tests' API server and etcd, if .ci/kube/build has built them
# on this machine (.ci/run does); without, those tests skip (fail under CI=true).
KUBEBUILDER_ASSETS ?= $(shell bash .ci/kube/build --cached)
export KUBEBUILDER_ASSETS

# The fuzzers run first so that go test's summary closes the output; the race
# run of the packages with concurrency (rampart built with -race) comes last.
test: fmt-check
	$(GO) vet ./...
	$(MAKE) --no-print-directory fuzz-short
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -race -count=1 -timeout 30m ./proxy ./cmd/rampart

fuzz-short:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ($$pkg) for $(FUZZTIME)"; \
		$(GO) test ./$$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) >/tmp/rampart-fuzz.log 2>&1 \
			|| { cat /tmp/rampart-fuzz.log; exit 1; }; \
	done

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# A static binary, version stamped.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/rampart ./cmd/rampart

# The FROM scratch image (see Dockerfile): the binary is built here, not in a
# builder image, because these machines cannot pull one. --format docker keeps
# the HEALTHCHECK under podman.
image: build
	mkdir -p bin/data
	$(ENGINE) build $(if $(filter podman,$(ENGINE)),--format docker) -t $(IMAGE):$(VERSION) -t $(IMAGE):latest .

demo:
	$(GO) run ./cmd/rampart demo

# Pebble (a real ACME CA, from its Go module) and rampart ordering from it, on
# loopback; README "Try ACME locally". Ctrl-C stops it.
acme-local:
	bash deploy/acme-local/run.sh

# Side by side with nginx, HAProxy and Caddy (bench/README.md); about 25 minutes
# for everything. BENCH_ARGS narrows it, e.g. BENCH_ARGS="--rounds 1 --scenarios small,h2".
bench:
	bash bench/run.sh $(BENCH_ARGS)
