# Multi-stage build: cgo is required by github.com/mattn/go-sqlite3.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/lookout ./cmd/lookout

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /data lookout && mkdir -p /data /etc/lookout && chown lookout /data
COPY --from=build /out/lookout /usr/local/bin/lookout
COPY examples/lookout.yaml /etc/lookout/lookout.yaml
USER lookout
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/lookout"]
CMD ["serve", "--config", "/etc/lookout/lookout.yaml", "--data", "/data", "--listen", "0.0.0.0:8080"]
