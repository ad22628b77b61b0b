// upload.mjs drives presignd's upload page (/ui/, Uppy's Dashboard) in
// headless Chromium the way a person would: a wrong API key first (the page
// must say so), then a PUT upload through the file picker and a form POST
// upload by drag and drop, each followed by a download of the link the page
// shows, compared byte for byte with what was uploaded. Then, unless
// PRESIGND_MULTIPART=0, two 20 MiB multipart uploads, each interrupted once
// storage holds one part: one by a reload of the page (the page restores it
// and resumes it from the parts storage holds), one by the Dashboard's
// pause button (then resume). Each must end READY as the same file, the
// bytes identical, the part already stored not sent again. A third is
// cancelled, and must be ABORTED on presignd. It saves a screenshot of the
// page with the last result.
//
//	PRESIGND_URL=http://127.0.0.1:8080 PRESIGND_API_KEY=... \
//	PRESIGND_SCREENSHOT=upload.png node upload.mjs
//
// PRESIGND_BACKEND (local, s3 or azure) says what to expect of checksums;
// on azure, which has no form uploads, the POST step is left out, and
// multipart parts carry no ETag.
// PRESIGND_MULTIPART_CATEGORY names the category of the multipart upload,
// whose multipart threshold must be at most 20 MiB: the page leaves the
// method to the server (PRESIGND_MULTIPART_METHOD=UPLOAD_METHOD_MULTIPART
// asks for it instead, in any category).
// CHROMIUM names the browser (default /usr/bin/chromium, Debian's package).
// It prints one line per step and exits non-zero on the first failure.
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.PRESIGND_URL;
const apiKey = process.env.PRESIGND_API_KEY;
const screenshot = process.env.PRESIGND_SCREENSHOT || "upload.png";
const backend = process.env.PRESIGND_BACKEND || "local"; // local, s3 or azure
const multipart = process.env.PRESIGND_MULTIPART !== "0";
const multipartMethod = process.env.PRESIGND_MULTIPART_METHOD || "";
const multipartCategory = process.env.PRESIGND_MULTIPART_CATEGORY || "";
if (!base || !apiKey) {
  console.error("upload.mjs: set PRESIGND_URL and PRESIGND_API_KEY");
  process.exit(2);
}
const presignd = new URL(base);

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

const sha256 = (b) => createHash("sha256").update(b).digest("hex");

// isStorage tells a request to storage (an upload or download target) from
// one to presignd's API or page.
function isStorage(url) {
  const u = new URL(url);
  return !(u.origin === presignd.origin && (u.pathname.startsWith("/v1/") || u.pathname.startsWith("/ui/")));
}

const userDataDir = await mkdtemp(join(tmpdir(), "presignd-chromium-"));
const filesDir = await mkdtemp(join(tmpdir(), "presignd-files-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 900, height: 1100 },
  timeout: 60_000,
});
const problems = [];
let failed = false;
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(60_000);
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  // Failed requests are checked by their responses below; other console
  // errors (a CSP refusal, say) are problems.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  const refused = [];
  const requests = []; // every request, as "METHOD path-or-storage"
  page.on("request", (r) => {
    requests.push({ method: r.method(), url: r.url(), storage: isStorage(r.url()), request: r });
  });
  // Refusals of the wrong key are checked where it is used; any other
  // refusal is listed.
  page.on("response", (r) => {
    if (r.status() < 400 || r.request().headers()["authorization"] === "Bearer not-the-key") return;
    refused.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
  });
  const wrongKey = [];
  page.on("response", (r) => {
    if (r.request().headers()["authorization"] === "Bearer not-the-key") wrongKey.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
  });

  await page.goto(new URL("/ui/", base).toString());
  check((await page.title()).includes("presignd"), `unexpected title ${await page.title()}`);
  await page.waitForSelector(".uppy-Dashboard");
  console.log("page loaded, Uppy's Dashboard shown");

  // pick picks files through the Dashboard's file input, after pressing
  // "Add more" when the Dashboard shows the files of an earlier upload.
  async function pick(files) {
    const addMore = page.locator(".uppy-DashboardContent-addMore");
    if (await addMore.isVisible()) await addMore.click();
    await page.locator('input.uppy-Dashboard-input[name="files[]"]').first().setInputFiles(files);
  }
  // run resets the page's state marker, runs start and waits until the
  // page reports the upload done or failed.
  async function run(start) {
    await page.evaluate(() => { document.body.dataset.state = "test"; });
    await start();
    await page.waitForSelector('body[data-state="done"], body[data-state="failed"]');
    return page.getAttribute("body", "data-state");
  }

  // A wrong key: the page must name the problem, not hang or go blank.
  await page.fill("#api-key", "not-the-key");
  const state = await run(() => pick({ name: "refused.txt", mimeType: "text/plain", buffer: Buffer.from("nope\n") }));
  check(state === "failed", `wrong key: page state ${state}`);
  const refusal = await page.textContent("#error");
  check(/401/.test(refusal) && /API key/.test(refusal), `wrong key: error text ${JSON.stringify(refusal)}`);
  check(wrongKey.includes("POST /v1/uploads 401") && wrongKey.every((r) => r.endsWith(" 401")),
    `wrong key: requests ${wrongKey}`);
  check(!requests.some((r) => r.storage), "wrong key: the page sent something to storage");
  check(refused.length === 0, `wrong key: refused requests ${refused}`);
  // Take the refused file off the Dashboard, as a person would.
  await page.click(".uppy-Dashboard-Item-action--remove");
  await page.waitForSelector(".uppy-Dashboard-Item", { state: "detached" });
  console.log("wrong key refused with a clear message");

  // verify checks the page's record and its download link against body.
  async function verify(label, body, method) {
    if ((await page.getAttribute("body", "data-state")) === "failed") {
      throw new Error(`${label}: the page reports ${await page.textContent("#error")}`);
    }
    const state = await page.textContent('dd[data-field="state"]');
    check(state === "READY", `${label}: state ${state}`);
    const size = await page.textContent('dd[data-field="size"]');
    check(size.includes(`(${body.length} bytes)`), `${label}: size ${size}`);
    const shown = await page.textContent('dd[data-field="method"]');
    check(shown.startsWith(method), `${label}: method ${shown}, want ${method}`);
    // S3 POST policies cannot carry a checksum, nor S3 multipart uploads a
    // whole-file one, and Azure binds MD5 only: the page goes without and
    // says so.
    const checksum = await page.textContent('dd[data-field="checksum"]');
    const status = await page.textContent("#status");
    if (checksum === "none") {
      check(((backend === "s3" && method !== "PUT") || backend === "azure") && status.includes("without a whole-file checksum"),
        `${label}: checksum ${checksum}, status ${status}`);
    } else {
      check(checksum.startsWith("SHA256 "), `${label}: checksum ${checksum}, want SHA256`);
    }
    const href = await page.getAttribute("#download", "href");
    check(href && href.startsWith("http"), `${label}: download link ${href}`);
    const resp = await fetch(href);
    check(resp.ok, `${label}: download link answered HTTP ${resp.status}`);
    const got = Buffer.from(await resp.arrayBuffer());
    check(got.length === body.length && sha256(got) === sha256(body),
      `${label}: downloaded ${got.length} bytes that differ from the ${body.length} uploaded`);
    // Uppy's Dashboard shows the file uploaded.
    await page.waitForSelector(".uppy-StatusBar.is-complete");
    const fileId = await page.textContent('dd[data-field="file_id"]');
    const row = page.locator(`#files tr[data-file-id="${fileId}"]`);
    await row.waitFor();
    check((await row.textContent()).includes("READY"), `${label}: the list of files shows ${await row.textContent()}`);
    return fileId;
  }

  // PUT through the file picker, with a file big enough for progress events.
  await page.fill("#api-key", apiKey);
  await page.selectOption("#method", "UPLOAD_METHOD_PUT");
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 10)) & 0xff;
  requests.length = 0;
  await run(() => pick({ name: "picked.bin", mimeType: "application/octet-stream", buffer: big }));
  let id = await verify("PUT via file picker", big, "PUT");
  const puts = requests.filter((r) => r.storage && r.method === "PUT");
  check(puts.length === 1, `PUT via file picker: ${puts.length} PUTs to storage, want 1`);
  console.log(`PUT via file picker: ${id} READY, ${big.length} bytes downloaded back identical`);

  // The key survives a reload of the tab (sessionStorage); a finished
  // upload is not restored.
  await page.reload();
  await page.waitForSelector(".uppy-Dashboard");
  check((await page.inputValue("#api-key")) === apiKey, "API key not kept across a reload");
  check((await page.locator(".uppy-Dashboard-Item").count()) === 0, "a finished upload came back after a reload");
  console.log("API key kept in sessionStorage across a reload");

  // A form POST by dragging a file onto the Dashboard (Azure has none).
  if (backend !== "azure") {
    await page.selectOption("#method", "UPLOAD_METHOD_POST");
    const text = Buffer.from("Dropped onto presignd's upload page.\n".repeat(2000));
    requests.length = 0;
    await run(async () => {
      const dt = await page.evaluateHandle((t) => {
        const dt = new DataTransfer();
        dt.items.add(new File([t], "dropped.txt", { type: "text/plain" }));
        return dt;
      }, text.toString());
      await page.dispatchEvent(".uppy-Dashboard", "dragenter", { dataTransfer: dt });
      await page.dispatchEvent(".uppy-Dashboard", "dragover", { dataTransfer: dt });
      await page.dispatchEvent(".uppy-Dashboard", "drop", { dataTransfer: dt });
    });
    id = await verify("form POST via drag and drop", text, "POST");
    check(requests.filter((r) => r.storage && r.method === "POST").length === 1, "form POST via drag and drop: not one POST to storage");
    console.log(`form POST via drag and drop: ${id} READY, ${text.length} bytes downloaded back identical`);
  }

  // The one refusal expected: S3 cannot bind a checksum to a POST policy,
  // Azure a SHA-256 to a PUT.
  const expected = backend === "s3" || backend === "azure" ? ["POST /v1/uploads 400"] : [];
  check(JSON.stringify(refused) === JSON.stringify(expected), `refused requests: ${refused.join(", ")}; want ${expected}`);
  refused.length = 0;

  // bodySize is the size of a request's body, as its Content-Length told
  // storage.
  async function bodySize(request) {
    const n = Number((await request.allHeaders())["content-length"]);
    return Number.isFinite(n) ? n : 0;
  }

  // interrupted uploads a 20 MiB file that presignd makes MULTIPART (in
  // multipartCategory), interrupts it once storage holds one part, with a
  // reload of the page or with the Dashboard's pause button, resumes it,
  // and checks that it ends READY as the same file, the bytes identical,
  // with the stored part not sent again.
  async function interrupted(label, seed, how) {
    const MiB = 1024 * 1024;
    const body = Buffer.alloc(20 * MiB);
    for (let i = 0; i < body.length; i += 4) body.writeUInt32LE((Math.imul(i + seed, 2654435761) ^ (i >>> 7)) >>> 0, i);
    const name = `${how}.bin`;
    await page.selectOption("#method", multipartMethod);
    await page.fill("#category", multipartCategory);
    // Storage gets the first part PUT; the others are held, never answered,
    // until the interruption cancels them. After it every request passes.
    let passed = 0;
    let holding = true;
    const held = [];
    await page.route((url) => isStorage(url.toString()), (route) => {
      if (!holding || route.request().method() !== "PUT") return route.continue();
      if (passed === 0) {
        passed++;
        return route.continue();
      }
      held.push(route.request().url());
    });
    requests.length = 0;
    await page.evaluate(() => { document.body.dataset.state = "test"; });
    const firstPart = page.waitForResponse((r) => isStorage(r.url()) && r.request().method() === "PUT", { timeout: 120_000 });
    firstPart.catch(() => { /* awaited below */ });
    // From a file: a buffer this large is too slow to hand to the browser.
    const path = join(filesDir, name);
    await writeFile(path, body);
    await pick(path);
    const partResp = await firstPart;
    check(partResp.ok(), `${label}: storage answered the first part with HTTP ${partResp.status()}`);
    // Wait until Golden Retriever holds what a reload needs: the upload's
    // id (localStorage) and the file (IndexedDB).
    await page.waitForFunction((n) => {
      const state = JSON.parse(localStorage.getItem("uppyState:presignd") || "{}");
      const f = Object.values((state.metadata || {}).files || {}).find((f) => f.name === n);
      return Boolean(f && f.s3Multipart && f.s3Multipart.uploadId);
    }, name);
    await page.waitForFunction(() => new Promise((resolve) => {
      const open = indexedDB.open("uppy-blobs");
      open.onerror = () => resolve(false);
      open.onsuccess = () => {
        const db = open.result;
        try {
          const req = db.transaction(["files"], "readonly").objectStore("files").count();
          req.onsuccess = () => { db.close(); resolve(req.result > 0); };
          req.onerror = () => { db.close(); resolve(false); };
        } catch { db.close(); resolve(false); }
      };
    }));
    const stored = JSON.parse(await page.evaluate(() => localStorage.getItem("uppyState:presignd")));
    const file = Object.values(stored.metadata.files).find((f) => f.name === name);
    check(file.meta.presignd_method === "UPLOAD_METHOD_MULTIPART", `${label}: presignd did not answer MULTIPART: ${file.meta.presignd_method}`);
    const fileId = file.meta.presignd_file_id;
    const partCount = file.meta.presignd_part_count;
    const partSize = file.meta.presignd_part_size;
    check(partCount >= 2, `${label}: ${partCount} parts, want at least 2 to resume`);
    if (backend === "azure") {
      // Azure binds no part checksum and answers parts without an ETag:
      // the page asked for CRC32C, was refused, and went without.
      check(["", "CHECKSUM_ALGORITHM_UNSPECIFIED"].includes(file.meta.presignd_part_checksum), `${label}: parts bound by ${file.meta.presignd_part_checksum}, want none`);
      check(file.meta.presignd_parts_without_etag === true, `${label}: the upload does not say its parts have no ETag`);
      const want = ["POST /v1/uploads 400"]; // the part checksum
      check(JSON.stringify(refused) === JSON.stringify(want), `${label}: refused requests ${refused.join(", ")}; want ${want}`);
      refused.length = 0;
    } else {
      check(file.meta.presignd_part_checksum === "CHECKSUM_ALGORITHM_CRC32C", `${label}: parts bound by ${file.meta.presignd_part_checksum}, want CRC32C`);
    }
    const before = requests.filter((r) => r.storage && r.method === "PUT");
    const completes = requests.filter((r) => !r.storage && new URL(r.url).pathname.endsWith(":complete"));
    check(before.length >= 1 && completes.length === 0, `${label}: ${before.length} part PUTs and ${completes.length} completions before the ${how}`);
    console.log(`${label}: ${fileId} in ${partCount} parts of ${partSize} bytes; one part stored, ${held.length} held; ${how}`);

    if (how === "cancel") {
      // The Dashboard's cancel gives the upload up: presignd aborts it.
      requests.length = 0;
      const aborted = page.waitForResponse((r) => new URL(r.url()).pathname === `/v1/files/${fileId}:abort`);
      await page.click('[data-cy="cancel"]');
      const resp = await aborted;
      check(resp.ok(), `${label}: :abort answered HTTP ${resp.status()}`);
      holding = false;
      await page.unrouteAll({ behavior: "ignoreErrors" });
      const got = await fetch(new URL(`/v1/files/${fileId}`, base), { headers: { Authorization: `Bearer ${apiKey}` } });
      const record = await got.json();
      check(record.file && record.file.state === "FILE_STATE_ABORTED", `${label}: the file is ${JSON.stringify(record.file && record.file.state)} after the cancel, want ABORTED`);
      const parts = await fetch(new URL(`/v1/files/${fileId}/parts`, base), { headers: { Authorization: `Bearer ${apiKey}` } });
      check(parts.status === 400, `${label}: ListParts of the aborted upload answered HTTP ${parts.status}, want 400 (not PENDING)`);
      check((await page.locator(".uppy-Dashboard-Item").count()) === 0, `${label}: the Dashboard still shows files after the cancel`);
      check(refused.length === 0, `${label}: refused requests: ${refused.join(", ")}`);
      console.log(`${label}: ${fileId} ABORTED on presignd when the Dashboard's upload was cancelled`);
      return;
    }
    // What storage holds, asked the way the page asks: one part.
    async function storedParts() {
      const resp = await fetch(new URL(`/v1/files/${fileId}/parts`, base), { headers: { Authorization: `Bearer ${apiKey}` } });
      check(resp.ok, `${label}: ListParts answered HTTP ${resp.status}`);
      return (await resp.json()).parts || [];
    }
    let storedBytes = 0;
    if (how === "reload") {
      requests.length = 0;
      await page.reload();
      // The reload cancelled the held requests: nothing is held any more.
      holding = false;
      await page.unrouteAll({ behavior: "ignoreErrors" });
      await page.waitForSelector('body[data-state="restored"]');
      check((await page.inputValue("#api-key")) === apiKey, "API key not kept across a reload");
      const parts = await storedParts();
      check(parts.length === 1, `${label}: storage holds ${parts.length} parts after the reload, want 1`);
      storedBytes = Number(parts[0].size_bytes);
      // The Dashboard offers to resume; a person presses its upload button.
      await page.click(".uppy-StatusBar-actionBtn--upload");
    } else {
      await page.click('[data-cy="togglePauseResume"][title="Pause"]');
      await page.waitForSelector('[data-cy="togglePauseResume"][title="Resume"]');
      // The pause aborted the held requests: nothing is held any more.
      holding = false;
      await page.unrouteAll({ behavior: "ignoreErrors" });
      const parts = await storedParts();
      check(parts.length === 1, `${label}: storage holds ${parts.length} parts after the pause, want 1`);
      storedBytes = Number(parts[0].size_bytes);
      requests.length = 0;
      await page.click('[data-cy="togglePauseResume"][title="Resume"]');
    }
    await page.waitForSelector('body[data-state="done"], body[data-state="failed"]');
    const doneId = await verify(label, body, "MULTIPART");
    check(doneId === fileId, `${label}: finished ${doneId}, not the upload it resumed (${fileId})`);
    const method = await page.textContent('dd[data-field="method"]');
    check(method.startsWith(`MULTIPART (${partCount} parts`), `${label}: method ${method}`);
    const after = requests.filter((r) => r.storage && r.method === "PUT");
    const creates = requests.filter((r) => !r.storage && r.method === "POST" && new URL(r.url).pathname === "/v1/uploads");
    const lists = requests.filter((r) => !r.storage && r.method === "GET" && new URL(r.url).pathname === `/v1/files/${fileId}/parts`);
    check(creates.length === 0, `${label}: the page created ${creates.length} new uploads after the ${how}`);
    check(lists.length >= 1, `${label}: the page never listed the parts storage held`);
    check(after.length === partCount - 1, `${label}: ${after.length} part PUTs after the ${how}, want ${partCount - 1} (the stored part is not sent again)`);
    let sentAfter = 0;
    for (const r of after) sentAfter += await bodySize(r.request);
    check(storedBytes > 0 && sentAfter === body.length - storedBytes,
      `${label}: ${sentAfter} bytes sent after the ${how}, want the ${body.length}-byte file less the ${storedBytes}-byte part stored before`);
    console.log(`${label}: ${fileId} READY: ${after.length} of ${partCount} parts sent after the ${how} (${sentAfter} bytes), SHA-256 of the download identical`);
    check(refused.length === 0, `${label}: refused requests: ${refused.join(", ")}`);
  }

  if (multipart) {
    await interrupted("multipart, reloaded mid-upload", 1, "reload");
    await interrupted("multipart, paused and resumed", 2, "pause");
    await interrupted("multipart, cancelled", 3, "cancel");
  }
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
  await rm(filesDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
