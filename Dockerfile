# One Dockerfile, one target per service (the demo camera has its own: deploy/demo-camera/):
#   docker build --target stream-handle -t crispy/stream-handle .
#   docker build --target upload-worker -t crispy/upload-worker .
#   docker build --target cloud-function -t crispy/cloud-function .
# Plain instructions and no `# syntax` line, for the legacy builder (DOCKER_BUILDKIT=0, what the
# compose check runs) and BuildKit's built-in frontend alike. Besides the base image (NODE_IMAGE)
# no step needs any registry but npm's and Debian's. No credentials, keys or camera URLs are copied
# in: they arrive at run time.
#
# Stage order matters to the legacy builder, which builds every stage above its target: the shared
# stages first, then each service after the stages only it needs, stream-handle and its ffmpeg last
# (so building the worker or the function never fetches ffmpeg).

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- npm packages: only the manifests, so that editing code keeps these layers cached.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY stream-handle/package.json stream-handle/
COPY upload-worker/package.json upload-worker/
COPY cloud-function/package.json cloud-function/
COPY scripts/npm-ci.sh scripts/

# Everything, dev dependencies included: the compiler needs them.
FROM manifests AS deps
RUN bash scripts/npm-ci.sh

FROM deps AS build
COPY tsconfig.base.json tsconfig.json ./
COPY shared shared
COPY stream-handle stream-handle
COPY upload-worker upload-worker
COPY cloud-function cloud-function
RUN npx tsc -b shared stream-handle upload-worker cloud-function

# Production packages of each service and of shared, nothing else, from npm's cache of `deps`;
# one tree per service in /modules/SERVICE. typescript comes along as an optional peer of valibot
# (under @bull-board/api), for its types only; packages' coverage reports are not code.
FROM deps AS modules
RUN for service in upload-worker cloud-function stream-handle; do \
      rm -rf node_modules \
      && bash scripts/npm-ci.sh --prefer-offline --omit=dev --workspace shared --workspace "$service" \
      && rm -rf node_modules/typescript \
      && find node_modules -type d -name coverage -prune -exec rm -rf {} + \
      && mkdir -p "/modules/$service" && mv node_modules "/modules/$service/" \
      || exit 1; \
    done

# ---- upload-worker
FROM ${NODE_IMAGE} AS upload-worker
ENV NODE_ENV=production LOG_FORMAT=json
WORKDIR /app
COPY --from=modules /modules/upload-worker/node_modules node_modules
COPY --from=build /app/package.json ./
COPY --from=build /app/shared/package.json shared/
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/upload-worker/package.json upload-worker/
COPY --from=build /app/upload-worker/dist upload-worker/dist
RUN mkdir -p /bucket && chown node:node /bucket
USER node
ENV HTTP_HOST=0.0.0.0 HTTP_PORT=3000
EXPOSE 3000
# /healthz answers 200 only while Redis answers and the BullMQ worker runs.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "upload-worker/dist/main.js"]

# ---- cloud-function: no Debian ffmpeg; it brings the static one it deploys with to Cloud Functions.
FROM ${NODE_IMAGE} AS cloud-function
ENV NODE_ENV=production LOG_FORMAT=json
WORKDIR /app
COPY --from=modules /modules/cloud-function/node_modules node_modules
COPY --from=build /app/package.json ./
COPY --from=build /app/shared/package.json shared/
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/cloud-function/package.json cloud-function/
COPY --from=build /app/cloud-function/dist cloud-function/dist
COPY deploy/images/function-healthcheck.mjs /usr/local/lib/crispy/
USER node
ENV PORT=8080
EXPOSE 8080
# functions-framework has no health endpoint, and GET / makes the CloudEvent handler fail (500):
# the check delivers a Pub/Sub push the function acknowledges without work (see the script).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "/usr/local/lib/crispy/function-healthcheck.mjs"]
CMD ["node_modules/.bin/functions-framework", "--target=describeChunk", "--signature-type=cloudevent", "--source=cloud-function/dist/index.js"]

# ---- stream-handle: Node, Debian's ffmpeg 5.1 cut down to what it loads (deploy/images/slim-ffmpeg.sh).
# Debian's ffmpeg, not the 2018 static build npm offers: x264 2-3x faster, and it resolves host names.
FROM ${NODE_IMAGE} AS ffmpeg
COPY deploy/images/slim-ffmpeg.sh /usr/local/bin/
RUN slim-ffmpeg.sh /slim

FROM ${NODE_IMAGE} AS stream-handle
COPY --from=ffmpeg /slim/ /
COPY deploy/images/check-ffmpeg.sh /usr/local/bin/
RUN ldconfig && check-ffmpeg.sh
ENV NODE_ENV=production LOG_FORMAT=json
WORKDIR /app
COPY --from=modules /modules/stream-handle/node_modules node_modules
COPY --from=build /app/package.json ./
COPY --from=build /app/shared/package.json shared/
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/stream-handle/package.json stream-handle/
COPY --from=build /app/stream-handle/dist stream-handle/dist
RUN mkdir -p /spool && chown node:node /spool
USER node
ENV SPOOL_DIR=/spool STATUS_HOST=127.0.0.1 STATUS_PORT=3001
# The status server answers /healthz while the process's event loop runs.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://' + (process.env.STATUS_HOST || '127.0.0.1') + ':' + (process.env.STATUS_PORT || 3001) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "stream-handle/dist/main.js"]
