# syntax=docker/dockerfile:1
# The cmk-operator image: Node 24 running the operator bundled into JavaScript (scripts/build.ts),
# as the non-root user 65532.
#
#   docker build -t cmk-operator:0.1.0 .
#
# Pin NODE_IMAGE by digest in CI (node:24-bookworm-slim@sha256:...) for reproducible builds.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: the operator bundled by esbuild (scripts/build.ts), laid out like /app ---------------
# One bundle of the operator and its npm dependencies: the image needs no node_modules. Bundled
# rather than compiled file by file or run through Node's type stripping: the loaded operator holds
# 20 MiB less resident memory than the compiled files, and type stripping keeps a WebAssembly
# TypeScript parser, ~22 MiB, for good (bench/results/memory-analysis.md).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build.ts ./scripts/
COPY bin ./bin
COPY src ./src
RUN node scripts/build.ts --out /app/dist

# ---- runtime ----------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# Memory bounds, measured (bench/results/memory-analysis.md). Left to itself Node sizes the heap
# from the machine's (or the pod limit's) memory: on a large node a 128 MiB young generation, and an
# old generation let grow to several times what is live (~80 MiB at 10,000 workloads). An 8 MiB young
# generation and a 512 MiB old-generation ceiling keep the resident set near what is live, at the
# same convergence times; the ceiling is far above it (only a live heap reaching it stops the
# process, to be restarted). Two malloc arenas instead of one per thread: ~15 MiB less.
# The bench (bench/processes.ts) runs the operator with this environment.
ENV NODE_OPTIONS="--max-semi-space-size=4 --max-old-space-size=512" MALLOC_ARENA_MAX=2
WORKDIR /app
# Only what `cmk-operator run` loads: the bundle (bin/cmk-operator.js, bin/chunks/) and package.json.
# Not src/dev/ (neither built nor in the context: the development
# commands, emulator, testenv, playground and crds, and the local control plane), not emulator/ (a
# development tool with no authentication), not test/, scripts/ or the devDependencies (among them
# @peculiar/x509 and reflect-metadata, which only the local control plane's certificates use).
COPY --from=build /app/dist/ ./
USER 65532:65532
EXPOSE 8080 8081
# --no-separate-gc-phases (a V8 flag NODE_OPTIONS does not accept, so it is here): V8 by default
# runs no young-generation collection while a full collection is marking, and lets the young
# generation grow meanwhile. With the memory saver on, a settled operator at 10,000 workloads marks
# about once a second; a /metrics scrape (~50,000 lines) that met a marking grew the young
# generation from 8 to 11-23 MiB, and those were the settled operator's peaks (199.9-203.8 MiB).
# With it: the young generation stayed at 8 MiB, settled 191 MiB, the same CPU in every scenario
# (bench/results/memory-analysis.md, session 24). The bench runs the operator with these flags.
ENTRYPOINT ["node", "--no-separate-gc-phases", "bin/cmk-operator.js"]
CMD ["run"]
