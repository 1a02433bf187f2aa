// Builds the console into the backend's static folder, served at /console/ (backend/app/console).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const outDir = fileURLToPath(new URL("../backend/app/console/static", import.meta.url));
// `npm run dev` proxies the API to a backend started by hand (make run, or uvicorn).
const backend = process.env.CONSOLE_BACKEND_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/console/",
  build: {
    outDir,
    emptyOutDir: true,
    target: "es2022",
    // One small bundle: no inline scripts or styles, so the page's CSP can stay 'self'-only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: true,
  },
  server: {
    proxy: { "/api": backend, "/health": backend },
  },
});
