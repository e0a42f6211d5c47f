import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The page only ever talks to its own origin (/v4/...). In development the
// vite server forwards those calls, SSE included, to a local ssehub.
const devApi = process.env.SSEHUB_URL ?? "http://127.0.0.1:3000";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    proxy: {
      "/v4": { target: devApi, changeOrigin: false },
    },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
    watch: false,
  },
});
