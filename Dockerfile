# syntax=docker/dockerfile:1
# The cmk-operator image: Node 24 running the TypeScript sources directly (type stripping, no build
# step), production dependencies only, as the non-root user 65532.
#
#   docker build -t cmk-operator:0.1.0 .
#
# Pin NODE_IMAGE by digest in CI (node:24-bookworm-slim@sha256:...) for reproducible builds.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- dependencies: production only, no install scripts (none of them needs one) ----------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime ----------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Only what `cmk-operator run` loads: the entry point, the sources and their production
# dependencies. Not src/dev/ (.dockerignore: the development commands, emulator, testenv,
# playground and crds, and the local control plane), not emulator/ (a development tool with no
# authentication), not test/, scripts/ or the devDependencies (among them @peculiar/x509 and
# reflect-metadata, which only the local control plane's certificates use).
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["node", "bin/cmk-operator.ts"]
CMD ["run"]
