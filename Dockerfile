# billrelay: one static binary on a distroless base, run as a non-root user.
#   docker build -t billrelay .
#   docker run -p 8080:8080 -v billrelay-data:/data billrelay
# The configuration is the same RELAY_* environment as outside a container.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off: a static binary that needs no libc in the runtime image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/billrelay ./cmd/billrelay \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/billrelay /usr/local/bin/billrelay
# The volume's mount point belongs to the nonroot user (65532), so that a
# fresh named volume starts out writable by the relay.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV RELAY_DATA_DIR=/data \
    RELAY_HTTP_ADDR=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
# The image has no shell or curl: the binary asks its own /readyz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/billrelay", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/billrelay"]
CMD ["serve"]
