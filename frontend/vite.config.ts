/// <reference types="node" />
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { defineConfig, type Plugin } from "vite";

// `npm run dev` proxies the API and the live boards to a local backend (./dev up --port 8100).
const backend = "http://127.0.0.1:8100";

// /docs serves Swagger UI from these copies: county networks are often cut off from the CDNs.
const SWAGGER_FILES = ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"];

function swaggerUiAssets(): Plugin {
  const dir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  return {
    name: "swagger-ui-assets",
    apply: "build",
    generateBundle() {
      for (const file of SWAGGER_FILES) {
        this.emitFile({ type: "asset", fileName: `swagger-ui/${file}`, source: readFileSync(join(dir, file)) });
      }
    },
  };
}

export default defineConfig({
  base: "/",
  build: { outDir: "dist", emptyOutDir: true },
  plugins: [swaggerUiAssets()],
  server: {
    host: "127.0.0.1",
    proxy: {
      "/api": { target: backend, changeOrigin: true },
      "/ws": { target: backend.replace(/^http/, "ws"), ws: true, changeOrigin: true },
    },
  },
});
