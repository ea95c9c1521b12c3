// tsc compiles src/cli.ts to dist/src/cli.js (rootDir is the repo: commands/ sits beside src/);
// package.json's bin is dist/cli.js, so write that tiny executable entry point.
import { chmodSync, writeFileSync } from 'node:fs'
writeFileSync(new URL('../dist/cli.js', import.meta.url), "#!/usr/bin/env node\nimport './src/cli.js'\n")
chmodSync(new URL('../dist/cli.js', import.meta.url), 0o755)
