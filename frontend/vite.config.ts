import { defineConfig } from "vite";

// `npm run dev` proxies the API and the live boards to a local backend (./dev up --port 8100).
const backend = "http://127.0.0.1:8100";

export default defineConfig({
  base: "/",
  build: { outDir: "dist", emptyOutDir: true },
  server: {
    host: "127.0.0.1",
    proxy: {
      "/api": { target: backend, changeOrigin: true },
      "/ws": { target: backend.replace(/^http/, "ws"), ws: true, changeOrigin: true },
    },
  },
});
