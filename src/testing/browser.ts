import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's chromium, which `.ci/run` installs. */
export const CHROMIUM = '/usr/bin/chromium';

/** Whether browser tests can run here. */
export const hasChromium = existsSync(CHROMIUM);

/** Launches headless chromium (a fresh temporary profile) with no background networking and no sandbox (CI runs as root). */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
