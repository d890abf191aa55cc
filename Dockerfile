# syntax=docker/dockerfile:1
# Wharf: a release build with the Swift standard library linked statically, on a slim runtime.

# Package.swift needs tools 6.2 or later; 6.3 matches the toolchain Wharf is developed with.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libsqlite3-dev libssl-dev libcurl4-openssl-dev libqrencode-dev libsodium-dev zlib1g-dev pkg-config \
      libvips-dev libopusfile-dev libavformat-dev libffmpegthumbnailer-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Resolve dependencies first so that source edits reuse the cached layer.
COPY Package.swift ./
RUN swift package resolve
# Package.swift names targets in all three folders, so all three must be present to load it.
COPY Sources ./Sources
COPY Tests ./Tests
COPY Benchmarks ./Benchmarks
RUN swift build -c release --product wharf --static-swift-stdlib \
 && mkdir -p /out \
 && cp "$(swift build -c release --show-bin-path)/wharf" /out/wharf

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libsqlite3-0 libcurl4 libqrencode4 libsodium23 zlib1g libvips42 libopusfile0 libavformat59 libffmpegthumbnailer4v5 \
      curl ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin wharf \
 && mkdir -p /app/data \
 && chown -R wharf:wharf /app
COPY --from=build /out/wharf /usr/local/bin/wharf
COPY config /app/config
WORKDIR /app
USER wharf
ENV DATA_DIR=/app/data PORT=5001 LOG_LEVEL=info
VOLUME ["/app/data"]
EXPOSE 5001
HEALTHCHECK --interval=30s --timeout=3s CMD ["curl", "-fsS", "http://127.0.0.1:5001/health"]
ENTRYPOINT ["/usr/local/bin/wharf"]
