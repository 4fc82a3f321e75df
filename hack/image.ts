/**
 * What the image runs, for the tools that must run the same thing outside Docker (bench/rss.ts, the build test):
 * its entry point and the environment its Dockerfile sets. `test/unit/build.test.ts` checks the Dockerfile says
 * the same.
 */

/** The Dockerfile's ENTRYPOINT script, relative to the image's working directory (and to the repository root). */
export const IMAGE_ENTRY = "dist/bundle/main.js";

/**
 * The Dockerfile's ENV lines.
 *
 * `MALLOC_MMAP_THRESHOLD_`: V8 compiles the bundle's one large script with zone memory it mallocs in segments of up
 * to 32 KB and frees when the compile ends. glibc serves such blocks from its brk heap and cannot give the pages
 * back while longer-lived small blocks sit between them: measured, compiling the 4.5 MB bundle alone left 48 MB of
 * freed memory resident (`[heap]` in /proc/self/smaps), 2.5 MB with the threshold at 32 KB, where glibc maps each
 * larger block on its own and unmaps it on free. A fixed threshold also stops glibc from raising it (up to 32 MB)
 * after the first large free, which would move large response buffers into the brk heap too.
 * Documented in mallopt(3) (M_MMAP_THRESHOLD, the MALLOC_MMAP_THRESHOLD_ environment variable, and that setting
 * it turns the dynamic adjustment off) and the glibc manual's "Memory Allocation Tunables".
 */
export const IMAGE_ENV: Readonly<Record<string, string>> = {
  NODE_ENV: "production",
  MALLOC_MMAP_THRESHOLD_: "32768",
};
