# One image for the simulator, the callback gateway and the worker; the compose file picks the command.
FROM node:20-bookworm-slim
# better-sqlite3 compiles from source when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci && npm cache clean --force
COPY . .
ENV NODE_ENV=production DATA_DIR=/data
USER node
CMD ["npx", "tsx", "workers/main.ts"]
