# Build the manager binary
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
# Version stamped into the binary (main.version), as `make build` does; `make docker-build` passes it.
ARG VERSION=dev

WORKDIR /workspace
# Copy the Go Modules manifests
COPY go.mod go.mod
COPY go.sum go.sum
# cache deps before building and copying source so that we don't need to re-download as much
# and so that source changes don't invalidate our downloaded layer
RUN go mod download

# Copy the go source
COPY main.go main.go
COPY api/ api/
COPY controllers/ controllers/

# Build
# GOARCH is left empty when TARGETARCH is unset, so plain `docker build` targets the host's
# architecture while `docker buildx --platform=...` cross-compiles. The build command itself is
# the one `make build` runs.
ENV GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH}
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o bin/manager .

# Use distroless as minimal base image to package the manager binary
# Refer to https://github.com/GoogleContainerTools/distroless for more details
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="heimdall-operator" \
      org.opencontainers.image.description="Kubernetes operator for the Heimdall auth service" \
      org.opencontainers.image.source="https://github.com/heimdall-io/heimdall-operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /
COPY --from=builder /workspace/bin/manager /manager
USER 65532:65532

ENTRYPOINT ["/manager"]
