import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests spawn real worker processes; two cores are all there is.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
