# syntax=docker/dockerfile:1
#
# stripe-graphql: multi-stage build.
#   docker build -t stripe-graphql .
#   docker run --rm -p 8000:8000 -e DEMO=true stripe-graphql
#
# Builder: pinned to the toolchain the project is developed with (Cargo.toml's rust-version is
# the minimum; dependencies in Cargo.lock may need newer). Override with --build-arg RUST_VERSION.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /build

# 1) Dependencies only. This layer is rebuilt only when a Cargo.toml or Cargo.lock changes, so
#    editing the sources does not recompile the dependency tree. Placeholder crates stand in for
#    the workspace's two packages (the server at the top, the sandbox in crates/stripe-sandbox,
#    which the default `demo` feature builds in); their own artefacts are deleted so the real
#    build below cannot reuse them.
COPY Cargo.toml Cargo.lock ./
COPY crates/stripe-sandbox/Cargo.toml crates/stripe-sandbox/Cargo.toml
RUN mkdir -p src crates/stripe-sandbox/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs crates/stripe-sandbox/src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src crates/stripe-sandbox/src \
        target/release/stripe-graphql* \
        target/release/deps/stripe_graphql-* \
        target/release/deps/libstripe_graphql-* \
        target/release/.fingerprint/stripe-graphql-* \
        target/release/deps/stripe_sandbox-* \
        target/release/deps/libstripe_sandbox-* \
        target/release/.fingerprint/stripe-sandbox-*

# 2) The real sources (.dockerignore keeps target/, .git and the Hasura/docs trees out).
COPY . .
RUN touch src/main.rs src/lib.rs crates/stripe-sandbox/src/lib.rs \
    && cargo build --release --locked --bin stripe-graphql \
    && install -D -m 0755 target/release/stripe-graphql /out/stripe-graphql

# Runtime: glibc + libgcc only, no shell, no package manager, runs as uid 65532 ("nonroot").
# TLS uses rustls with bundled webpki roots, so no CA bundle or OpenSSL is needed (the image
# ships ca-certificates anyway). Same Debian release as the builder, so the glibc matches.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/stripe-graphql /usr/local/bin/stripe-graphql
ENV LISTEN_ADDR=0.0.0.0:8000
EXPOSE 8000
USER 65532:65532
# Exec form: there is no /bin/sh. The subcommand GETs http://127.0.0.1:<port of LISTEN_ADDR>/healthz
# and exits 0 on HTTP 200.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/stripe-graphql", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/stripe-graphql"]
