/**
 * Debian's Chromium, driven by playwright-core, for the tests of pages: never a browser that
 * playwright would download. A missing Chromium fails the test with how to install it; nothing is
 * skipped. Screenshots go to the run's artefacts: `$ARTIFACTS_DIR`, else `test-artifacts/` at the
 * repository's root (gitignored; `.ci/run` prints where).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Launches headless Chromium; throws with how to install it when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `Chromium is not installed at ${chromiumPath}: install it with \`apt-get install -y chromium\` (Debian), ` +
        'or set CHROMIUM_PATH to a Chromium or Chrome binary; .ci/run installs it where missing',
    );
  }
  return chromium.launch({ executablePath: chromiumPath, headless: true });
}

/** The folder a test's artefacts (screenshots) go to, created if need be. */
export function artifactsDir(): string {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const dir = process.env.ARTIFACTS_DIR ?? join(root, 'test-artifacts');
  mkdirSync(dir, { recursive: true });
  return dir;
}
