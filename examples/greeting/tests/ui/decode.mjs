// Opens a workflow page of the Temporal Web UI in headless Chromium and waits for the decoded
// result text. Usage: node decode.mjs <url> <expected text> <screenshot.png>
// Exit 0 when the text shows and the UI reports no codec server error; 1 otherwise.
import { chromium } from 'playwright-core';

const [url, expected, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let ok = false;
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const codecCalls = [];
  page.on('request', (r) => { if (r.url().includes('/decode')) codecCalls.push(`${r.method()} ${r.url()}`); });
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  try {
    await page.getByText(expected, { exact: false }).first().waitFor({ timeout: 30000 });
    ok = true;
  } catch (e) {
    console.error(`expected text not shown: ${expected}`);
  }
  const banner = await page.getByText('Codec Server could not connect').count();
  if (banner > 0) {
    console.error('the UI shows "Codec Server could not connect"');
    ok = false;
  }
  console.log(JSON.stringify({ ok, codecCalls }));
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
