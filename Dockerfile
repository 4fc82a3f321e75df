# syntax=docker/dockerfile:1
# Multi-stage build: bundle the operator with its dependencies into one minified ES module (hack/build-bundle.ts,
# `npm run build:bundle`), ship only that on a distroless Node.js 24 image as a non-root user: no node_modules.
# The bundle is what keeps the process small (docs/benchmarks.md, "Whole-process RSS"). The container's root
# filesystem can be mounted read-only: the operator writes nothing to disk.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The `node` devDependency (Node 24 for local scripts) is not needed inside a Node 24 image, so scripts stay off and
# the build runs with the image's own node.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY hack/build-bundle.ts ./hack/
COPY src ./src
RUN npx tsc -p tsconfig.build.json --noEmit && node hack/build-bundle.ts

FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
# The same environment as hack/image.ts (IMAGE_ENV), which bench/rss.ts measures with; test/unit/build.test.ts
# checks the two agree. MALLOC_MMAP_THRESHOLD_: see hack/image.ts.
ENV NODE_ENV=production
ENV MALLOC_MMAP_THRESHOLD_=32768
COPY --from=build /src/dist/bundle ./dist/bundle
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/nodejs/bin/node", "dist/bundle/main.js"]
CMD ["run"]
