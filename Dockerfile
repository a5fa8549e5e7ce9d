# Slipway's one image: every executable, built in release mode, on a slim Debian runtime.
# Build from the repository root:  docker build -t slipway:local .
# compose/docker-compose.yml builds it; Kubernetes manifests (k8s/) expect it pushed as `slipway` (set the
# registry and tag with `kustomize edit set image slipway=<registry>/slipway:<tag>` in an overlay).

ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends librdkafka-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a source change does not fetch them again.
COPY Package.swift ./
RUN swift package resolve
COPY . .
# The Swift runtime is linked statically: the runtime stage needs no toolchain.
RUN swift build -c release --static-swift-stdlib \
    && bin="$(swift build -c release --static-swift-stdlib --show-bin-path)" \
    && mkdir -p /out \
    && for executable in training-svc registry-svc schedule-svc deploy-svc testing-svc metrics-svc \
                         gateway serving-router model-server slipway-trainer slipway slipway-devbroker; do \
           install -m 0755 "$bin/$executable" /out/; \
       done

FROM ${RUNTIME_IMAGE} AS runtime
# librdkafka1: the Kafka client; tzdata: schedules in named time zones; curl: container health checks;
# libcurl4 and libxml2: what Foundation's networking and XML parts load at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends librdkafka1 ca-certificates tzdata curl libcurl4 libxml2 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --create-home slipway \
    # Where volumes are mounted: an empty named volume takes its owner from the image's directory.
    && mkdir -p /data/artifacts /data/serving /data/gateway /data/schedule /data/testing-keys \
    && chown -R slipway:slipway /data
COPY --from=build /out/ /usr/local/bin/
USER slipway
WORKDIR /data
# Every service listens on all interfaces inside a container; each container's command names its executable.
ENV SLIPWAY_HOST=0.0.0.0
CMD ["slipway", "--help"]
