# syntax=docker/dockerfile:1
# One image for the simulator, the callback gateway, the worker and register-callbacks; the compose file picks
# the command. Multi-stage: TypeScript is compiled in `build`; the final image holds the compiled JavaScript and
# production dependencies only, and runs as the unprivileged `node` user. The base image is pinned to an exact
# Node release; pin it by digest too in your registry (docs/security.md#the-production-image).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
# better-sqlite3 compiles from source when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci && npm cache clean --force
COPY . .
# Compiles to dist/ and copies the files tsc does not emit (the failure converter, the simulator's fixtures).
RUN npm run build:prod
# Production dependencies only, keeping the native modules built above.
RUN npm prune --omit=dev && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production DATA_DIR=/data
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json /app/package-lock.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
# The code is root-owned and read-only to the process; only DATA_DIR is writable.
RUN mkdir -p /data && chown node:node /data
USER node
CMD ["node", "dist/workers/main.js"]
