# smart-api container images, built from this repository on Debian 12.
#
#   docker build -t smart-api .                                  # the service (last stage, "api")
#   docker build --target upstream-sim -t smart-api-sim .        # the upstream simulator
#
# The build stage and the runtime stages use the same Debian release, so the
# shared libraries the binaries were linked against are exactly the ones the
# runtime packages install. Plain `docker build` (no BuildKit features) works.

# --- build --------------------------------------------------------------------
FROM debian:bookworm AS build

ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src

# The dependency layer depends on the install script alone, so editing sources
# does not reinstall the toolchain.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh

COPY . .
# The source revision for smart_build_info (.git is not in the build context):
#   docker build --build-arg REVISION=$(git rev-parse --short=12 HEAD) .
ARG REVISION=unknown
# Only the two programs are built: the tests and the benchmark are not in the
# build context (.dockerignore), and ccache would only fill a layer that is
# thrown away. The binaries are stripped on the way out (the release preset
# keeps debug info).
RUN cmake --preset release -DSMART_BUILD_TESTS=OFF -DSMART_BUILD_BENCH=OFF \
      -DSMART_USE_CCACHE=OFF -DSMART_REVISION="${REVISION}" \
 && cmake --build --preset release --target smart-api upstream-sim \
 && install -D -m 0755 -s build/release/smart-api /out/smart-api \
 && install -D -m 0755 -s build/release/upstream-sim /out/upstream-sim

# --- runtime base: shared by both images --------------------------------------
FROM debian:bookworm-slim AS runtime

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libssl3 libspdlog1.10 libfmt9 libprometheus-cpp-core1.0 libtcmalloc-minimal4 libnghttp2-14 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 smart \
 && useradd --system --uid 10001 --gid smart --home-dir /var/lib/smart-api \
      --no-create-home --shell /usr/sbin/nologin smart \
 && install -d -o smart -g smart -m 0750 /var/lib/smart-api

WORKDIR /var/lib/smart-api
STOPSIGNAL SIGTERM

# --- the upstream simulator -----------------------------------------------------
FROM runtime AS upstream-sim

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="smart-api upstream-sim" \
      org.opencontainers.image.description="Simulator of the upstream work API (GET /api/work) with configurable latency and failures" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"

COPY --from=build /out/upstream-sim /usr/local/bin/upstream-sim

ENV SIM_HOST=0.0.0.0 \
    SIM_PORT=9000

USER 10001:10001
EXPOSE 9000

# bash's /dev/tcp: no curl or wget needed in the image. The first probe runs one
# interval after start, by when the simulator has long been listening.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${SIM_PORT:-9000} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && IFS= read -r -t 2 line <&3 && [[ $line == *' 200 '* ]]"]

ENTRYPOINT ["/usr/local/bin/upstream-sim"]

# --- the service (default target) ---------------------------------------------
FROM runtime AS api

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="smart-api" \
      org.opencontainers.image.description="Hedged-request HTTP gateway: the first successful answer of an unreliable upstream, within the client's deadline" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"

COPY --from=build /out/smart-api /usr/local/bin/smart-api

# Logs go to the console (docker logs). For a log file as well, set
# SMART_LOG_FILE=/var/lib/smart-api/api.log (the working directory is writable).
# Without SMART_UPSTREAM_URL the service calls the real Exponea work API.
ENV SMART_HOST=0.0.0.0 \
    SMART_PORT=8000 \
    SMART_LOG_LEVEL=info \
    SMART_LOG_FILE=""

USER 10001:10001
EXPOSE 8000

# The first probe runs one interval after start; the service listens once it has
# resolved the upstream's name.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${SMART_PORT:-8000} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && IFS= read -r -t 2 line <&3 && [[ $line == *' 200 '* ]]"]

# Exec form: the service is PID 1 and receives SIGTERM itself, then drains the
# requests in flight (their deadlines bound them: at most --max-timeout-ms).
ENTRYPOINT ["/usr/local/bin/smart-api"]
