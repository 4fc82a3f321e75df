# syntax=docker/dockerfile:1
# Multi-stage build: compile TypeScript with the full toolchain, ship only production dependencies on a
# distroless Node.js 24 image as a non-root user. The container's root filesystem can be mounted read-only: the
# operator writes nothing to disk.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The `node` devDependency (Node 24 for local scripts) is not needed inside a Node 24 image.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts

FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/nodejs/bin/node", "dist/src/cli/main.js"]
CMD ["run"]
