# Stand-in for the public redis:7-bookworm, for machines that cannot reach the public image registry
# (scripts/compose-check/base-images.sh builds it): Debian's redis-server (7.0), run the way the
# compose file runs the public image: `redis-server ARGS` as the command, data in /data, `redis-cli`
# for the health check. The public image runs Redis as uid 999; so does this one.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
RUN groupadd --system --gid 999 redis \
 && useradd --system --uid 999 --gid redis --home-dir /data --no-create-home redis \
 && apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server"]
