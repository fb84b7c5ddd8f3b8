# syntax=docker/dockerfile:1
# One Dockerfile, one target per service:
#   docker build --target stream-handle -t crispy/stream-handle .
#   docker build --target upload-worker -t crispy/upload-worker .
#   docker build --target cloud-function -t crispy/cloud-function .
# No credentials, keys or camera URLs are copied in: they arrive at run time.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json tsconfig.json ./
COPY shared/package.json shared/
COPY stream-handle/package.json stream-handle/
COPY upload-worker/package.json upload-worker/
COPY cloud-function/package.json cloud-function/
# npm ci, else npm install: a lock written against a registry that serves only linux-x64 builds lacks
# other platforms' optional packages, and npm 11's ci refuses it.
RUN npm ci --no-audit --no-fund || npm install --no-audit --no-fund
COPY shared shared
COPY stream-handle stream-handle
COPY upload-worker upload-worker
COPY cloud-function cloud-function
RUN npx tsc -b shared stream-handle upload-worker cloud-function \
 && npm prune --omit=dev --no-audit --no-fund

# Debian's ffmpeg (5.1): 2-3x faster x264 than the static build bundled through npm.
FROM ${NODE_IMAGE} AS runtime-ffmpeg
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production LOG_FORMAT=json
WORKDIR /app

FROM runtime-ffmpeg AS stream-handle
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/package.json ./
COPY --from=build /app/shared/package.json shared/
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/stream-handle/package.json stream-handle/
COPY --from=build /app/stream-handle/dist stream-handle/dist
RUN mkdir -p /spool && chown node:node /spool
USER node
ENV SPOOL_DIR=/spool
CMD ["node", "stream-handle/dist/main.js"]

FROM ${NODE_IMAGE} AS upload-worker
ENV NODE_ENV=production LOG_FORMAT=json
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/package.json ./
COPY --from=build /app/shared/package.json shared/
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/upload-worker/package.json upload-worker/
COPY --from=build /app/upload-worker/dist upload-worker/dist
RUN mkdir -p /bucket && chown node:node /bucket
USER node
ENV HTTP_HOST=0.0.0.0 HTTP_PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:3000/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "upload-worker/dist/main.js"]

# No Debian ffmpeg here: the function decodes one frame per chunk with the static ffmpeg it brings
# through @ffmpeg-installer, as it does on Cloud Functions (and it starts faster for that).
FROM ${NODE_IMAGE} AS cloud-function
ENV NODE_ENV=production LOG_FORMAT=json
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/package.json ./
COPY --from=build /app/shared/package.json shared/
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/cloud-function/package.json cloud-function/
COPY --from=build /app/cloud-function/dist cloud-function/dist
USER node
ENV PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/').then(() => process.exit(0), () => process.exit(1))"]
CMD ["node_modules/.bin/functions-framework", "--target=describeChunk", "--signature-type=cloudevent", "--source=cloud-function/dist/index.js"]
