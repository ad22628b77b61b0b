// upload.mjs drives presignd's upload page (/ui/) in headless Chromium the
// way a person would: a wrong API key first (the page must say so), then a
// PUT upload through the file picker and a form POST upload by drag and
// drop, each followed by a download of the link the page shows, compared
// byte for byte with what was uploaded. It saves a screenshot of the page
// with the last result.
//
//	PRESIGND_URL=http://127.0.0.1:8080 PRESIGND_API_KEY=... \
//	PRESIGND_SCREENSHOT=upload.png node upload.mjs
//
// PRESIGND_BACKEND (local or s3) says what to expect of checksums.
// CHROMIUM names the browser (default /usr/bin/chromium, Debian's package).
// It prints one line per step and exits non-zero on the first failure.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.PRESIGND_URL;
const apiKey = process.env.PRESIGND_API_KEY;
const screenshot = process.env.PRESIGND_SCREENSHOT || "upload.png";
const backend = process.env.PRESIGND_BACKEND || "local"; // local or s3
if (!base || !apiKey) {
  console.error("upload.mjs: set PRESIGND_URL and PRESIGND_API_KEY");
  process.exit(2);
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const userDataDir = await mkdtemp(join(tmpdir(), "presignd-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 900, height: 820 },
  timeout: 60_000,
});
const problems = [];
let failed = false;
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  // Failed requests are checked by their responses below; other console
  // errors are problems.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  const refused = [];
  page.on("response", (r) => { if (r.status() >= 400) refused.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`); });

  await page.goto(new URL("/ui/", base).toString());
  check((await page.title()).includes("presignd"), `unexpected title ${await page.title()}`);
  console.log("page loaded");

  // A wrong key: the page must name the problem, not hang or go blank.
  await page.fill("#api-key", "not-the-key");
  await page.setInputFiles("#file", { name: "refused.txt", mimeType: "text/plain", buffer: Buffer.from("nope\n") });
  await page.waitForSelector('body[data-state="failed"]');
  const refusal = await page.textContent("#error");
  check(/401/.test(refusal) && /API key/.test(refusal), `wrong key: error text ${JSON.stringify(refusal)}`);
  check(refused.length === 1 && refused[0] === "POST /v1/uploads 401", `wrong key: refused requests ${refused}`);
  refused.length = 0;
  console.log("wrong key refused with a clear message");

  // uploadAndVerify runs one upload that start() begins and checks the
  // page's record and its download link against body.
  async function uploadAndVerify(label, name, body, method, start) {
    await page.selectOption("#method", method);
    await page.evaluate(() => {
      window.__statuses = [];
      new MutationObserver(() => window.__statuses.push(document.getElementById("status").textContent))
        .observe(document.getElementById("status"), { childList: true, characterData: true, subtree: true });
    });
    await start();
    await page.waitForSelector('body[data-state="done"], body[data-state="failed"]');
    if ((await page.getAttribute("body", "data-state")) === "failed") {
      throw new Error(`${label}: the page reports ${await page.textContent("#error")}`);
    }
    const state = await page.textContent('dd[data-field="state"]');
    check(state === "READY", `${label}: state ${state}`);
    const size = await page.textContent('dd[data-field="size"]');
    check(size.includes(`(${body.length} bytes)`), `${label}: size ${size}`);
    // S3 POST policies cannot carry a checksum: the page goes without one
    // there and says so.
    const checksum = await page.textContent('dd[data-field="checksum"]');
    if (backend === "s3" && method === "UPLOAD_METHOD_POST") {
      check(checksum === "none" && (await page.textContent("#status")).includes("without a checksum"),
        `${label}: checksum ${checksum}, status ${await page.textContent("#status")}`);
    } else {
      check(checksum.startsWith("SHA256 "), `${label}: checksum ${checksum}, want SHA256`);
    }
    check((await page.$eval("#progress", (p) => p.value)) === 100, `${label}: progress bar not full`);
    const statuses = await page.evaluate(() => window.__statuses);
    check(statuses.some((s) => s.startsWith("Uploading ")), `${label}: no upload progress shown (${statuses.join(" | ")})`);
    const href = await page.getAttribute("#download", "href");
    check(href && href.startsWith("http"), `${label}: download link ${href}`);
    const resp = await fetch(href);
    check(resp.ok, `${label}: download link answered HTTP ${resp.status}`);
    const got = Buffer.from(await resp.arrayBuffer());
    check(got.equals(body), `${label}: downloaded ${got.length} bytes that differ from the ${body.length} uploaded`);
    const fileId = await page.textContent('dd[data-field="file_id"]');
    console.log(`${label}: ${fileId} READY, ${body.length} bytes downloaded back identical`);
  }

  // PUT through the file picker, with a file big enough for progress events.
  await page.fill("#api-key", apiKey);
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 10)) & 0xff;
  await uploadAndVerify("PUT via file picker", "picked.bin", big, "UPLOAD_METHOD_PUT", () =>
    page.setInputFiles("#file", { name: "picked.bin", mimeType: "application/octet-stream", buffer: big }));

  // The key survives a reload of the tab (sessionStorage).
  await page.reload();
  check((await page.inputValue("#api-key")) === apiKey, "API key not kept across a reload");
  console.log("API key kept in sessionStorage across a reload");

  // A form POST by dragging a file onto the drop zone.
  const text = Buffer.from("Dropped onto presignd's upload page.\n".repeat(2000));
  await uploadAndVerify("form POST via drag and drop", "dropped.txt", text, "UPLOAD_METHOD_POST", async () => {
    const dt = await page.evaluateHandle((t) => {
      const dt = new DataTransfer();
      dt.items.add(new File([t], "dropped.txt", { type: "text/plain" }));
      return dt;
    }, text.toString());
    await page.dispatchEvent("#drop", "dragenter", { dataTransfer: dt });
    await page.dispatchEvent("#drop", "dragover", { dataTransfer: dt });
    await page.dispatchEvent("#drop", "drop", { dataTransfer: dt });
  });

  // The one refusal expected: S3 cannot bind a checksum to a POST policy.
  const expected = backend === "s3" ? ["POST /v1/uploads 400"] : [];
  check(JSON.stringify(refused) === JSON.stringify(expected), `refused requests: ${refused.join(", ")}; want ${expected}`);
  check(problems.length === 0, `browser reported problems:\n${problems.join("\n")}`);
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);
  console.log("upload page: all checks passed");
} catch (err) {
  failed = true;
  console.error(`upload.mjs: ${err.message}`);
  if (problems.length) console.error(problems.join("\n"));
  try {
    const page = context.pages()[0];
    if (page) {
      await page.screenshot({ path: screenshot, fullPage: true });
      console.error(`screenshot of the failure: ${screenshot}`);
    }
  } catch { /* the browser is gone */ }
} finally {
  await context.close();
  await rm(userDataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
