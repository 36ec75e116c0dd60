# syntax=docker/dockerfile:1
# Secure Message Server: a multi-stage build on Node.js 24 LTS (docs/DEPLOY.md).
#   build:   the full install (compilers, dev dependencies) and `npm run build`
#   runtime: the production install (`npm ci --omit=dev`) of that built tree, as a non-root user

FROM node:24-slim AS build
# better-sqlite3 builds from source where no prebuilt binary fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build \
 && npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    ADMIN_HOST=127.0.0.1 \
    ADMIN_PORT=8001 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The embedded store lives in /data: a volume, owned by the unprivileged user that runs the server.
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
VOLUME ["/data"]
USER node
EXPOSE 8000 8001
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) stops it cleanly within SHUTDOWN_TIMEOUT_SECONDS; docker's default grace is 10 s.
STOPSIGNAL SIGTERM
CMD ["node", "dist/server/main.js"]
