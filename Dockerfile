# CareSuite image: the four service binaries and carectl on Debian bookworm.
#   docker build -t caresuite:dev .
#   docker run --rm caresuite:dev care_loyalty --help
# One image for all four services: the Kubernetes manifests pick the binary
# with `command` (deploy/k8s/base/*.yaml). See docs/operations.md.

# --- build: the same Debian 12 packages as a developer machine (tools/deps.sh)
FROM debian:bookworm AS build
WORKDIR /src
COPY tools/deps.sh tools/deps.sh
RUN bash tools/deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build data \
 && cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && targets=$(ninja -C /build -t targets all \
      | grep -oE '^(care_(loyalty|promotion|complaint|notification)|carectl):' | tr -d ':') \
 && ninja -C /build $targets \
 && mkdir -p /out \
 && cp /build/services/*/care_* /out/ \
 && cp /build/tools/carectl/carectl /out/ \
 && strip /out/*

# --- runtime: only the binaries and the shared libraries they link
FROM debian:bookworm-slim AS runtime
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      ca-certificates libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libre2-9 libc-ares2 \
      libhiredis0.14 libpq5 libsqlite3-0 libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 care \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin care \
 && mkdir -p /var/lib/care && chown care:care /var/lib/care
COPY --from=build /out/ /usr/local/bin/
# Fails the build if a shared library is missing from the list above.
RUN ! ldd /usr/local/bin/care_* /usr/local/bin/carectl | grep "not found"
USER 10001:10001
WORKDIR /var/lib/care
ENV CARE_DATA_DIR=/var/lib/care CARE_LISTEN_HOST=0.0.0.0
# gRPC ports of loyalty, promotion, complaint, notification; metrics.
EXPOSE 50051 50052 50053 50054 9090
ARG SERVICE=loyalty
ENV CARE_SERVICE=${SERVICE}
# `docker run caresuite` starts $CARE_SERVICE; Kubernetes sets `command`.
ENTRYPOINT ["/bin/sh", "-c", "exec /usr/local/bin/care_${CARE_SERVICE} \"$@\"", "care"]
