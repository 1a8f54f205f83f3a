# syntax=docker/dockerfile:1.7
#
# QuakeStream container images, one multi-stage file, three targets:
#
#   docker build -t ghcr.io/quakestream/quakestream:0.1.0          --target quakestream .
#   docker build -t ghcr.io/quakestream/quakestream-operator:0.1.0 --target operator .
#   docker build -t ghcr.io/quakestream/dynoxide:3.2.0             --target dynoxide .
#
# The builder is glibc (Debian bookworm): rdkafka builds librdkafka from C with cmake, and
# aws-lc-rs builds its C core; the frontend's build.rs bundles its web page with Node.js/npm
# (esbuild from npm, `npm ci` against web/package-lock.json).
# The runtime is distroless `cc` (glibc, libgcc, CA certificates, tzdata, no shell), running
# as the non-root uid/gid 65532, which is also what the operator sets in every pod's
# securityContext. Build with BuildKit (`docker buildx build`, the default builder).
#
# The cargo command below is the README's build command, word for word;
# scripts/check-cluster-files.sh fails when the two drift apart.

ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ARG NODE_IMAGE=docker.io/library/node:22-bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS node

FROM ${RUST_IMAGE} AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
# Node.js and npm for the frontend's build.rs (build time only; nothing of it is in the images).
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && node --version && npm --version
# Link zlib statically (the runtime image has no libz); no incremental state in release builds.
ENV LIBZ_SYS_STATIC=1 \
    CARGO_INCREMENTAL=0 \
    CARGO_TERM_COLOR=never \
    CARGO_NET_RETRY=5

# The only shared libraries a binary may need: the ones distroless/cc ships.
COPY docker/check-linkage.sh /usr/local/bin/check-linkage

# ---------------------------------------------------------------------------------------------
FROM toolchain AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    --mount=type=cache,target=/root/.npm,sharing=locked \
    cargo build --release --locked -p quakestream -p quakestream-operator \
 && install -D -m 0755 target/release/quakestream /out/quakestream \
 && install -D -m 0755 target/release/quakestream-operator /out/quakestream-operator \
 && check-linkage /out/quakestream /out/quakestream-operator

# ---------------------------------------------------------------------------------------------
# dynoxide: the DynamoDB-API server (SQLite inside) for local clusters.
FROM toolchain AS dynoxide-builder
ARG DYNOXIDE_VERSION=3.2.0
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    cargo install dynoxide-rs --locked --version "${DYNOXIDE_VERSION}" \
      --no-default-features --features native-sqlite,http-server,cli --root /opt/dynoxide \
 && check-linkage /opt/dynoxide/bin/dynoxide \
 && mkdir -p /out/data

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS dynoxide
ARG DYNOXIDE_VERSION=3.2.0
LABEL org.opencontainers.image.title="dynoxide" \
      org.opencontainers.image.description="DynamoDB-API server (dynoxide-rs ${DYNOXIDE_VERSION}) for QuakeStream on kind" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=dynoxide-builder /opt/dynoxide/bin/dynoxide /usr/local/bin/dynoxide
COPY --from=dynoxide-builder --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/dynoxide"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--db-path", "/data/dynoxide.db"]

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS operator
LABEL org.opencontainers.image.title="quakestream-operator" \
      org.opencontainers.image.description="Kubernetes operator reconciling QuakeStream resources" \
      org.opencontainers.image.source="https://github.com/quakestream/quakestream" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/quakestream-operator /usr/local/bin/quakestream-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/quakestream-operator"]
CMD ["run"]

# ---------------------------------------------------------------------------------------------
# The data plane (last stage, so a plain `docker build .` produces it). The operator runs it as
# `quakestream producer|consumer|frontend`; ports 9090, 9091 and 8080 respectively.
FROM ${RUNTIME_IMAGE} AS quakestream
LABEL org.opencontainers.image.title="quakestream" \
      org.opencontainers.image.description="QuakeStream: EMSC feed -> Kafka -> DynamoDB -> live map" \
      org.opencontainers.image.source="https://github.com/quakestream/quakestream" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/quakestream /usr/local/bin/quakestream
USER 65532:65532
EXPOSE 8080 9090 9091
ENTRYPOINT ["/usr/local/bin/quakestream"]
CMD ["--help"]
