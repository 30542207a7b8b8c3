# zerodrop container image: one static (musl) binary on a distroless base, running as non-root.
#
#   scripts/build-image.sh                      # docker or podman, tags zerodrop:VERSION
#   docker run --rm zerodrop:0.1.0 demo         # the no-cluster demo
#   docker run --rm -p 8080:8080 zerodrop:0.1.0 demo-app --host 0.0.0.0 --port 8080
#
# The entrypoint is `zerodrop`; `zerodrop manifest job` generates the Job that runs it
# in-cluster, and the same image serves `zerodrop demo-app` as a Deployment to try it on.

# ---- build: a statically linked binary for the image's architecture --------------------------
ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
ARG TARGETARCH=amd64
# ring and mimalloc compile C for the target: musl-gcc comes from musl-tools.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
RUN case "$TARGETARCH" in \
      amd64) echo x86_64-unknown-linux-musl ;; \
      arm64) echo aarch64-unknown-linux-musl ;; \
      *) echo "unsupported architecture $TARGETARCH" >&2; exit 1 ;; \
    esac > /rust-target \
 && rustup target add "$(cat /rust-target)"
WORKDIR /src
COPY . .
# No debug info and stripped symbols: a small image (the default release profile keeps line
# tables for local profiling).
ENV CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols
# The registry and target caches survive between builds (BuildKit); the binary is copied out
# of the cached target directory so the next stage can take it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target "$(cat /rust-target)" --bin zerodrop \
 && cp "target/$(cat /rust-target)/release/zerodrop" /zerodrop \
 && /zerodrop --version

# ---- run: no shell, no package manager; CA certificates for https targets -------------------
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /zerodrop /usr/local/bin/zerodrop
# distroless' `nonroot` (65532), the user `zerodrop manifest job` runs the pod as.
USER 65532:65532
# demo-app's conventional port (pass --port 8080 or set PORT).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/zerodrop"]
CMD ["--help"]
