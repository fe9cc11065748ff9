# rampart's container image: the static binary and nothing else.
#
# These machines cannot pull a Go builder image, so `make image` builds the
# binary on the host (CGO_ENABLED=0, -trimpath, version stamped) into bin/,
# then this file with docker or podman. Where a registry is available, the
# usual multi-stage form works as well:
#
#   FROM golang:1.26 AS build
#   WORKDIR /src
#   COPY . .
#   RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o /out/rampart ./cmd/rampart \
#    && mkdir -p /out/data
#   FROM scratch
#   COPY --from=build /out/rampart /rampart
#   COPY --from=build --chown=65532:65532 /out/data /data
#   ... (the rest as below)
FROM scratch
COPY bin/rampart /rampart
# An empty directory, owned by the user rampart runs as: its certificates and ACME account.
COPY --chown=65532:65532 bin/data /data
USER 65532:65532
ENV RAMPART_DATA_DIR=/data \
    RAMPART_HTTPS_ADDR=:8443 \
    RAMPART_HTTP_ADDR=:8080 \
    RAMPART_ADMIN_ADDR=127.0.0.1:9090
VOLUME ["/data"]
# The public listeners only: the admin listener stays on the container's
# loopback, where the health check (rampart healthcheck) reaches it.
EXPOSE 8443 8080
HEALTHCHECK --interval=10s --timeout=4s --start-period=5s --retries=3 CMD ["/rampart", "healthcheck"]
ENTRYPOINT ["/rampart"]
