# Stands in for prom/prometheus in tests/e2e/containers_test.py, where no
# registry can be reached: Debian's Prometheus, laid out like the upstream
# image (its entrypoint, user nobody, data in /prometheus), with busybox's wget
# for the compose file's health check, as in the upstream image.
FROM debian:bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends prometheus busybox \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /bin/busybox /usr/local/bin/wget \
 && install -d -o nobody -g nogroup /prometheus

USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
