# syntax=docker/dockerfile:1
#
# echod container image.
#
#   docker build -t echod .                  # Node.js image (the default, last stage)
#   docker build --target bun -t echod:bun . # the same app served by Bun (TCP through Bun.listen)
#   docker run --rm --read-only -p 8080:8080 -p 127.0.0.1:9090:9090 echod
#
# The runtime stages hold only dist/, bin/, package.json and the production node_modules: no
# compiler, no sources, no dev dependencies. Files belong to root and the process runs as
# 1000:1000, so it can read the app but not change it. Nothing is written at run time (logs go
# to stdout), so the image runs with a read-only root filesystem and no writable volume.
#
# Configuration is by ECHOD_* environment variables (each flag's `ECHOD_<FLAG>`, see
# `echod --help`); flags given as arguments win over them: `docker run echod --mode raw`.
#
# test/e2e/container.test.ts reads this file (its ARG, FROM, ENV, EXPOSE, USER, HEALTHCHECK,
# ENTRYPOINT, CMD and COPY lines), lays out the same files, and runs echod as the image would:
# keep the instructions one per line, in the forms used here, so it can follow them.

# Pinned by tag; pin by digest too (node:20.20.2-bookworm-slim@sha256:…) where builds must be
# reproducible. The Node.js version satisfies package.json's engines; the Bun version is the
# devDependency the test suite runs (both checked by test/e2e/container.test.ts).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim
ARG BUN_IMAGE=oven/bun:1.4.4-slim

# ---- build: compile TypeScript with the dev dependencies --------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; the build is run below.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- prod-deps: the production dependencies only ----------------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` needs the compiler, which --omit=dev leaves out; no production
# dependency has an install script.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- bun: the runtime image served by Bun -----------------------------------------------------
FROM ${BUN_IMAGE} AS bun
LABEL org.opencontainers.image.title="echod" \
      org.opencontainers.image.description="A production TCP line-echo server (Bun runtime)" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY package.json ./
# The same configuration as the Node.js image below (the test checks they agree); see there.
ENV ECHOD_ADMIN_HOST=0.0.0.0
ENV ECHOD_ADMIN_PORT=9090
ENV ECHOD_LOG_FORMAT=json
ENV ECHOD_DRAIN_TIMEOUT=8s
# Bun caches transpiled large files on disk; with a read-only root there is nowhere to put them.
ENV BUN_RUNTIME_TRANSPILER_CACHE_PATH=0
USER 1000:1000
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["bun", "-e", "fetch('http://127.0.0.1:' + (process.env.ECHOD_ADMIN_PORT || '9090') + '/healthz', { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["bun", "/app/bin/echod.js"]
CMD []

# ---- node: the runtime image (default target) -------------------------------------------------
FROM ${NODE_IMAGE} AS node
LABEL org.opencontainers.image.title="echod" \
      org.opencontainers.image.description="A production TCP line-echo server" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production
# The runtime needs only `node`: drop the package managers the base image carries (less to
# patch, and nothing a vulnerability scanner reports for code that never runs).
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-v*
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY package.json ./
# echod's default, line echo on 0.0.0.0:8080 (every address of the container: its own interface
# is its only way in), needs no ENV. Leaving ECHOD_HOST/ECHOD_PORT unset keeps ECHOD_LISTEN (as
# the Kubernetes manifests set it) free of the "--port has no effect with --listen" warning.
# The admin endpoint defaults to 127.0.0.1, which nothing outside the container can reach:
# Kubernetes' kubelet probes the pod's IP and Prometheus scrapes it, so the image opens it on
# every address. Publish it only to trusted networks (`-p 127.0.0.1:9090:9090`), never to the
# internet: /metrics and /stats describe the traffic.
ENV ECHOD_ADMIN_HOST=0.0.0.0
ENV ECHOD_ADMIN_PORT=9090
# JSON lines even under `docker run -t`, for log collectors.
ENV ECHOD_LOG_FORMAT=json
# `docker stop` sends SIGTERM and kills 10 s later: drain within that by default. Kubernetes
# manifests set their own values together with terminationGracePeriodSeconds.
ENV ECHOD_DRAIN_TIMEOUT=8s
# The base image's `node` user, by number so that Kubernetes can verify runAsNonRoot. Any other
# UID works too (OpenShift's random ones): the app files are world-readable and nothing is written.
USER 1000:1000
EXPOSE 8080 9090
# Docker's own health status (Kubernetes ignores it and uses the manifests' probes). Node.js
# itself makes the request: the image has no curl or wget. It asks 127.0.0.1, which an admin
# endpoint on 0.0.0.0 or :: answers; set ECHOD_ADMIN_HOST to one address and this fails.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.ECHOD_ADMIN_PORT || '9090') + '/healthz', { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# echod is PID 1 (exec form, no shell, the base image's entrypoint script replaced) and handles
# SIGTERM itself: /readyz turns 503, it serves on for ECHOD_SHUTDOWN_DELAY, drains for up to
# ECHOD_DRAIN_TIMEOUT, exits 0. A second SIGTERM exits at once. With --workers it reaps its own
# worker processes, so no init process (`docker run --init`, tini) is needed.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/bin/echod.js"]
CMD []
