import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The closing line CI reads ("N passed, N failed, N skipped") after vitest's own summary.
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
})
