# Antidote as a container image (issue 21, item 6). Debian (bookworm) with Node 20.
#
#   docker build -t antidote .                    # the CLI, no browser (the default, last stage)
#   docker run --rm -v "$PWD:/work" antidote audit --data data/train --model build/model --out report
#   docker build --target ci -t antidote-ci .     # + dev dependencies and Debian's chromium, for
#                                                 #   the browser tests (npm test)
#
# Only the `ci` stage carries chromium: the CLI and the server never start a browser.
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: dependencies (npm ci, lockfile exact) and dist/ ------------------------------------
FROM ${NODE_IMAGE} AS build
# better-sqlite3 downloads a prebuilt binary; these build it from source where none exists.
RUN apt-get update -qq \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
     python3 make g++ ca-certificates \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/antidote
# onnxruntime-node ships its CPU build in the npm package; its postinstall would only fetch
# optional CUDA binaries from outside the npm registry (as in .ci/run).
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
# Install without the prepare script (the sources are not here yet), so this layer is cached
# until the lockfile changes; then build, then run the install scripts (better-sqlite3).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm rebuild better-sqlite3 msgpackr-extract && npm run build

# ---- ci: everything `npm test` needs, chromium included ----------------------------------------
FROM build AS ci
RUN apt-get update -qq \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
  && rm -rf /var/lib/apt/lists/*
COPY . .
CMD ["npm", "test"]

# ---- runtime: the CLI only (production dependencies, dist/, no compiler, no browser) -----------
FROM build AS prod-deps
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production ONNXRUNTIME_NODE_INSTALL=skip
WORKDIR /opt/antidote
COPY --from=prod-deps /opt/antidote/package.json ./package.json
COPY --from=prod-deps /opt/antidote/node_modules ./node_modules
COPY --from=build /opt/antidote/dist ./dist
COPY README.md ./
RUN chmod +x dist/cli/main.js && ln -s /opt/antidote/dist/cli/main.js /usr/local/bin/antidote
# Runs as the image's unprivileged user; mount the caller's files at /work.
USER node
WORKDIR /work
ENTRYPOINT ["antidote"]
CMD ["--help"]
