# CareSuite image: the four service binaries and carectl on Debian bookworm.
#   docker build -t caresuite:dev .
#   docker run --rm caresuite:dev care_loyalty --help
# One image for all four services: the Kubernetes manifests pick the binary
# with `command` (deploy/k8s/base/*.yaml). See docs/operations.md.

# Base images are pinned by digest: a rebuild gets the same bytes, and
# tests/deploy/image_test.sh checks the runtime stage's package list against
# deploy/image/bookworm-slim.packages, taken from that digest. Both digests are
# the linux/amd64 manifests of Docker Hub's debian:bookworm-20241202 and
# debian:bookworm-20241202-slim (Debian 12.8), as recorded by their build,
# https://github.com/debuerreotype/docker-debian-artifacts branch dist-amd64,
# commit f5527c9b0224 (bookworm/oci/index.json, bookworm/slim/oci/index.json).
# To move to a newer build (and for the multi-arch index digest):
#   docker buildx imagetools inspect debian:bookworm-slim   # "Digest:" line
#   docker buildx imagetools inspect debian:bookworm
# then update both FROM lines and regenerate bookworm-slim.packages (its header
# says how); the image test fails until the list matches the runtime digest.

# --- build: the same Debian 12 packages as a developer machine (tools/deps.sh)
FROM debian:bookworm@sha256:ec54b6327d5099ab29b38d70f7290e42d8769ef676fc262b34a18b688104f61b AS build
WORKDIR /src
COPY tools/deps.sh tools/deps.sh
RUN bash tools/deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# .git is not copied: `docker build --build-arg CARE_COMMIT=$(git rev-parse --short=12 HEAD)`
# names the commit in care_build_info and `carectl version`.
ARG CARE_VERSION=0.1.0-dev
ARG CARE_COMMIT=unknown
RUN rm -rf build data \
 && cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCARE_VERSION="$CARE_VERSION" -DCARE_COMMIT="$CARE_COMMIT" \
 && targets=$(ninja -C /build -t targets all \
      | grep -oE '^(care_(loyalty|promotion|complaint|notification)|carectl):' | tr -d ':') \
 && ninja -C /build $targets \
 && mkdir -p /out \
 && cp /build/services/*/care_* /out/ \
 && cp /build/tools/carectl/carectl /out/ \
 && strip /out/*

# --- runtime: only the binaries and the shared libraries they link
# The packages of the libraries the binaries link (apt adds their Depends):
# tests/deploy/image_test.sh fails when one is missing. libicu72: forbidden
# phrase matching (complaint); libcurl4: webhooks and SMTP
# (notification); ca-certificates: the roots libcurl checks gateways against.
FROM debian:bookworm-slim@sha256:b73bf02f32434c9be21adf83b9aedf33e731784d8d2dacbbd3ce5f4993f2a2de AS runtime
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      ca-certificates libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 libre2-9 libc-ares2 \
      libhiredis0.14 libpq5 libsqlite3-0 libssl3 zlib1g libicu72 libcurl4 \
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
