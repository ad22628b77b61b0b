// presignd's upload page. Uppy (static/uppy/, bundled by build.sh) does the
// uploading: its Dashboard picks files, its AwsS3 plugin sends the bytes
// straight to storage, and Golden Retriever keeps an interrupted upload
// (file, upload id, layout) across a reload of the tab. This file points
// Uppy at presignd's REST API on the page's own origin (so the API needs no
// CORS):
//
//   preprocessor          POST /v1/uploads: the server picks PUT, POST or
//                         MULTIPART (method unspecified: the category's
//                         threshold decides); shouldUseMultipart follows it
//   getUploadParameters   the PUT or POST target of that answer
//   createMultipartUpload the MULTIPART answer (its layout sets the chunks)
//   signPart              POST /v1/files/{id}/parts:sign, with each part's
//                         CRC32C (or SHA-256) when the upload binds one
//   listParts             GET /v1/files/{id}/parts (resume after a reload)
//   completeMultipart...  POST /v1/files/{id}:complete with the parts
//   abortMultipart...     POST /v1/files/{id}:abort
//   postprocessor         :complete for PUT and POST uploads, then
//                         :download, and the record with its link
"use strict";

(() => {
  const { Uppy, Dashboard, AwsS3, GoldenRetriever } = window.PresigndUppy;

  const KEY_STORAGE = "presignd.apiKey";
  // Hash files up to this size in the browser; larger ones go without a
  // whole-file checksum unless the category demands one (parts still carry
  // theirs).
  const MAX_HASH_BYTES = 256 * 1024 * 1024;
  // Golden Retriever keeps files up to this size in IndexedDB, so that a
  // reload resumes without picking the file again; a larger file comes back
  // as a "ghost" to pick again, and then resumes all the same.
  const MAX_KEPT_BYTES = 1024 * 1024 * 1024;
  // Uppy never cuts parts smaller than this (every real backend's minimum).
  const UPPY_MIN_PART = 5 * 1024 * 1024;
  // Part targets signed per SignParts call when parts carry no checksum.
  const SIGN_BATCH = 32;
  // A cached part target is used only while it has this long left.
  const TARGET_MARGIN_MS = 60 * 1000;
  // Headers a browser sets itself and refuses from scripts.
  const FORBIDDEN_HEADERS = new Set(["host", "content-length", "connection", "accept-encoding", "date"]);

  const $ = (id) => document.getElementById(id);

  function apiURL(path) {
    // Relative to the page (served at /ui/), so a path prefix in front of
    // presignd keeps working.
    return new URL("../" + path.replace(/^\//, ""), document.baseURI).toString();
  }

  // api calls one REST method and returns the decoded answer; on an error it
  // throws with the server's message and every field it names.
  async function api(method, path, body, signal) {
    const key = $("api-key").value.trim();
    if (!key) throw new Error("Paste an API key first.");
    let resp;
    try {
      resp = await fetch(apiURL(path), {
        method,
        headers: { "Authorization": "Bearer " + key, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new Error(`presignd is unreachable: ${err.message}`);
    }
    const text = await resp.text();
    let json = {};
    try { json = text ? JSON.parse(text) : {}; } catch { /* not JSON */ }
    if (!resp.ok) {
      let msg = `${path}: HTTP ${resp.status}` + (json.message ? `: ${json.message}` : text ? `: ${text.slice(0, 300)}` : "");
      const fields = [];
      for (const d of json.details || []) {
        for (const v of d.field_violations || []) {
          msg += `\n  ${v.field}: ${v.description}`;
          fields.push(v.field);
        }
      }
      if (resp.status === 401) msg += "\nCheck the API key.";
      const err = new Error(msg);
      err.code = json.code; // google.rpc.Code
      err.fields = fields;
      // Uppy's retry logic reads the HTTP status here.
      err.source = { status: resp.status };
      throw err;
    }
    return json;
  }

  const fileURL = (id, suffix) => `/v1/files/${encodeURIComponent(id)}${suffix}`;

  function humanBytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function base64(bytes) {
    let s = "";
    const b = new Uint8Array(bytes);
    for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
    return btoa(s);
  }

  // CRC32C (Castagnoli), as storage checks it: slicing by 8 over a stream,
  // so a part of any size is read in bounded memory.
  const CRC_TABLES = (() => {
    const t = Array.from({ length: 8 }, () => new Uint32Array(256));
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      t[0][n] = c >>> 0;
    }
    for (let n = 0; n < 256; n++) {
      for (let k = 1; k < 8; k++) t[k][n] = (t[k - 1][n] >>> 8) ^ t[0][t[k - 1][n] & 0xff];
    }
    return t;
  })();

  function crc32cUpdate(crc, b) {
    const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES;
    let i = 0;
    const n8 = b.length - (b.length % 8);
    for (; i < n8; i += 8) {
      const lo = (crc ^ (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24))) >>> 0;
      crc = t7[lo & 0xff] ^ t6[(lo >>> 8) & 0xff] ^ t5[(lo >>> 16) & 0xff] ^ t4[lo >>> 24] ^
        t3[b[i + 4]] ^ t2[b[i + 5]] ^ t1[b[i + 6]] ^ t0[b[i + 7]];
    }
    for (; i < b.length; i++) crc = t0[(crc ^ b[i]) & 0xff] ^ (crc >>> 8);
    return crc >>> 0;
  }

  async function crc32c(blob) {
    let crc = 0xffffffff;
    const reader = blob.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      crc = crc32cUpdate(crc, value);
    }
    crc = (crc ^ 0xffffffff) >>> 0;
    return base64(new Uint8Array([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff]));
  }
  // Checked once at start: a wrong table would bind wrong checksums that
  // storage refuses part after part.
  if (crc32cUpdate(0xffffffff, new TextEncoder().encode("123456789")) !== (0xe3069283 ^ 0xffffffff) >>> 0) {
    throw new Error("CRC32C self-test failed");
  }

  async function sha256Blob(blob) {
    return base64(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
  }

  // partChecksum computes a part's checksum in the upload's algorithm.
  function partChecksum(algorithm, blob) {
    if (algorithm === "CHECKSUM_ALGORITHM_CRC32C") return crc32c(blob);
    if (algorithm === "CHECKSUM_ALGORITHM_SHA256") {
      if (!window.crypto || !crypto.subtle) throw new Error("This upload binds SHA-256 part checksums, which this browser cannot compute here (WebCrypto needs HTTPS).");
      return sha256Blob(blob);
    }
    throw new Error(`The upload binds part checksums in ${algorithm}, which this page cannot compute.`);
  }

  // wholeChecksum returns the file's SHA-256 as a Checksum, or null where
  // the browser cannot hash (no WebCrypto outside secure contexts) or the
  // file is large.
  async function wholeChecksum(blob) {
    if (!window.crypto || !crypto.subtle || blob.size > MAX_HASH_BYTES) return null;
    return { algorithm: "CHECKSUM_ALGORITHM_SHA256", value: await sha256Blob(blob) };
  }

  function show(id, visible) { $(id).hidden = !visible; }
  function setStatus(text) { $("status").textContent = text; }

  function showError(text) {
    $("error").textContent = text;
    show("error", true);
  }

  function showRecord(file, download, method) {
    const rows = [
      ["file_id", file.file_id],
      ["name", file.display_name],
      ["size", `${file.size_display} (${file.size_bytes} bytes)`],
      ["content type", file.content_type],
      ["state", file.state.replace("FILE_STATE_", "")],
      ["category", file.category],
      ["method", file.multipart ? `MULTIPART (${file.multipart.part_count} parts of ${humanBytes(Number(file.multipart.part_size_bytes))})` : String(method || "").replace("UPLOAD_METHOD_", "")],
      ["checksum", file.checksum ? `${file.checksum.algorithm.replace("CHECKSUM_ALGORITHM_", "")} ${file.checksum.value}` : "none"],
      ["storage", file.storage_uri],
    ];
    const dl = $("record");
    dl.replaceChildren();
    for (const [k, v] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v == null || v === "" ? "—" : String(v);
      dd.dataset.field = k;
      dl.append(dt, dd);
    }
    const a = $("download");
    a.href = download.url;
    a.setAttribute("download", file.display_name || file.filename || "download");
    a.textContent = `Download ${file.display_name}`;
    $("expires").textContent = download.expire_time ? new Date(download.expire_time).toLocaleTimeString() : "?";
    show("result", true);
  }

  // --- what presignd answered, per Uppy file ---------------------------------
  //
  // The durable part lives in the file's meta (presignd_*), which Golden
  // Retriever keeps across a reload: the request (sent again unchanged, with
  // its request_id, for a fresh target), the file id, the method and the
  // layout. The rest is per page: the first answer's target, signed part
  // targets, part checksums, the completed record.

  const answers = new Map(); // Uppy file id -> CreateUploadResponse not yet used by the uploader
  const partTargets = new Map(); // presignd file id -> Map(part number -> Promise<PartTarget>)
  const partChecksums = new Map(); // presignd file id -> Map(part number -> base64)
  const completed = new Map(); // Uppy file id -> File record answered by :complete

  function newRequestID() {
    return "web-" + (crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2));
  }

  function methodOf(uppyFile) {
    return uppyFile.meta.presignd_method;
  }

  // create sends CreateUpload for an Uppy file and records the answer. A
  // request that fails only because the backend cannot bind a whole-file
  // checksum to this kind of upload (an S3 POST policy, say) is sent again
  // without one: completion still verifies size and type.
  //
  // A file's request is built once and then sent again unchanged, so that
  // presignd answers the same upload with a fresh target; fresh sends it
  // under a new request_id, for a new upload (the last one is over).
  async function create(uppyFile, { fresh = false } = {}) {
    let req = uppyFile.meta.presignd_request;
    let note = uppyFile.meta.presignd_note || "";
    completed.delete(uppyFile.id);
    if (req && fresh) req = { ...req, request_id: newRequestID() };
    if (!req) {
      const blob = uppyFile.data;
      req = {
        category: $("category").value.trim(),
        filename: uppyFile.name,
        content_type: uppyFile.type || "application/octet-stream",
        size_bytes: String(blob.size),
        method: $("method").value || "UPLOAD_METHOD_UNSPECIFIED",
        request_id: newRequestID(),
      };
      uppy.emit("preprocess-progress", uppy.getFile(uppyFile.id), { mode: "indeterminate", message: "Hashing…" });
      const checksum = await wholeChecksum(blob);
      if (checksum) req.checksum = checksum;
      note = "";
      // Ask storage to check every part of a multipart upload (CRC32C, which
      // every backend binds). The server takes part_checksum_algorithm for
      // MULTIPART uploads only: when the category picks the method, a dry
      // run (validate_only) tells which it will be.
      let multipart = req.method === "UPLOAD_METHOD_MULTIPART";
      if (req.method === "UPLOAD_METHOD_UNSPECIFIED") {
        uppy.emit("preprocess-progress", uppy.getFile(uppyFile.id), { mode: "indeterminate", message: "Asking presignd how to upload…" });
        try {
          const dry = await api("POST", "/v1/uploads", { ...req, request_id: "", validate_only: true });
          multipart = Boolean(dry.file && dry.file.multipart);
        } catch (err) {
          // The request itself says what is wrong; a refused key, say.
          if (err.code === 16 || err.code === 7) throw err;
        }
      }
      if (multipart) req.part_checksum_algorithm = "CHECKSUM_ALGORITHM_CRC32C";
    }
    uppy.emit("preprocess-progress", uppy.getFile(uppyFile.id), { mode: "indeterminate", message: "Asking presignd for an upload target…" });
    let answer;
    for (;;) {
      try {
        answer = await api("POST", "/v1/uploads", req);
        break;
      } catch (err) {
        if (err.code === 9 && req.checksum) {
          // FAILED_PRECONDITION: no whole-file checksum for this upload.
          req = { ...req, request_id: newRequestID() };
          delete req.checksum;
          note = "Stored without a whole-file checksum: the backend cannot bind one to this upload.";
          continue;
        }
        if (err.code === 3 && req.part_checksum_algorithm && (err.fields || []).includes("part_checksum_algorithm")) {
          // The category binds another part checksum: let it choose.
          req = { ...req, request_id: newRequestID() };
          delete req.part_checksum_algorithm;
          continue;
        }
        throw err;
      }
    }
    const state = answer.file && answer.file.state;
    if (state !== "FILE_STATE_PENDING" || !answer.upload_target) {
      // The same request_id names an upload that is over (FAILED, ABORTED,
      // EXPIRED): this is a new attempt.
      if (!fresh) return create(uppyFile, { fresh: true });
      throw new Error(`presignd answered a ${String(state).replace("FILE_STATE_", "")} file with no upload target.`);
    }
    const target = answer.upload_target;
    const meta = {
      presignd_request: req,
      presignd_note: note,
      presignd_file_id: answer.file.file_id,
      presignd_method: target.method,
      presignd_part_size: target.multipart ? Number(target.multipart.part_size_bytes) : 0,
      presignd_part_count: target.multipart ? target.multipart.part_count : 0,
      presignd_part_checksum: target.multipart ? target.multipart.part_checksum_algorithm || "" : "",
      // Azure Blob answers parts without an ETag: they complete by number.
      presignd_parts_without_etag: Boolean(target.multipart && target.multipart.parts_without_etag),
    };
    if (target.method === "UPLOAD_METHOD_MULTIPART" && meta.presignd_part_count > 1 && meta.presignd_part_size < UPPY_MIN_PART) {
      // Uppy would cut other parts than the targets bind: give it up now.
      await api("POST", fileURL(answer.file.file_id, ":abort"), {}).catch(() => {});
      throw new Error(`presignd cut this upload into ${humanBytes(meta.presignd_part_size)} parts; this page sends parts of at least ${humanBytes(UPPY_MIN_PART)}.`);
    }
    uppy.setFileMeta(uppyFile.id, meta);
    answers.set(uppyFile.id, answer);
    const cache = new Map();
    const expires = Date.parse(target.expire_time || "") || 0;
    for (const p of target.parts || []) {
      cache.set(p.part_number, Promise.resolve({ ...p, expires: Date.parse(p.expire_time || "") || expires }));
    }
    partTargets.set(answer.file.file_id, cache);
    return answer;
  }

  // takeAnswer returns the unused answer for a file, or asks again: the same
  // request under the same request_id gives the same file a fresh target.
  async function takeAnswer(uppyFile, wantMultipart) {
    let answer = answers.get(uppyFile.id);
    answers.delete(uppyFile.id);
    const fresh = answer && Date.parse(answer.upload_target.expire_time || "") - Date.now() > TARGET_MARGIN_MS;
    if (!fresh) answer = await create(uppy.getFile(uppyFile.id));
    const multipart = answer.upload_target.method === "UPLOAD_METHOD_MULTIPART";
    if (multipart !== wantMultipart) {
      throw new Error(`presignd changed its answer for ${uppyFile.name} to ${answer.upload_target.method}: remove the file and add it again.`);
    }
    return answer;
  }

  function headersFor(target) {
    const out = {};
    for (const [name, value] of Object.entries(target.headers || {})) {
      if (!FORBIDDEN_HEADERS.has(name.toLowerCase())) out[name] = value;
    }
    return out;
  }

  // --- the AwsS3 plugin's functions ------------------------------------------

  async function getUploadParameters(uppyFile) {
    const target = (await takeAnswer(uppyFile, false)).upload_target;
    if (target.method === "UPLOAD_METHOD_POST") {
      // The key first (some servers want it before the policy fields); the
      // plugin appends the file last, as the field "file".
      const fields = target.form_fields || {};
      const names = Object.keys(fields).sort((a, b) =>
        (a.toLowerCase() === "key" ? -1 : 0) - (b.toLowerCase() === "key" ? -1 : 0) || (a < b ? -1 : a > b ? 1 : 0));
      const ordered = {};
      for (const n of names) ordered[n] = fields[n];
      const headers = headersFor(target);
      for (const n of Object.keys(headers)) if (n.toLowerCase() === "content-type") delete headers[n];
      return { method: "POST", url: target.url, fields: ordered, headers };
    }
    return { method: "PUT", url: target.url, headers: headersFor(target) };
  }

  async function createMultipartUpload(uppyFile) {
    const answer = await takeAnswer(uppyFile, true);
    return { uploadId: answer.file.file_id, key: answer.file.key || answer.file.file_id };
  }

  // signPart returns the target of one part. Without part checksums it
  // signs a batch ahead (and uses the targets CreateUpload answered); with
  // them, it hashes the part and signs it alone.
  async function signPart(uppyFile, { uploadId, partNumber, body, signal }) {
    const file = uppy.getFile(uppyFile.id) || uppyFile;
    const algorithm = file.meta.presignd_part_checksum || "";
    let cache = partTargets.get(uploadId);
    if (!cache) partTargets.set(uploadId, (cache = new Map()));
    let target;
    if (algorithm && algorithm !== "CHECKSUM_ALGORITHM_UNSPECIFIED") {
      const sum = await partChecksum(algorithm, body);
      let sums = partChecksums.get(uploadId);
      if (!sums) partChecksums.set(uploadId, (sums = new Map()));
      sums.set(partNumber, sum);
      const answer = await api("POST", fileURL(uploadId, "/parts:sign"), { part_numbers: [partNumber], part_checksums: { [partNumber]: sum } }, signal);
      target = answer.parts[0];
    } else {
      const cached = cache.get(partNumber);
      if (cached) {
        try {
          const t = await cached;
          if (t.expires - Date.now() > TARGET_MARGIN_MS) target = t;
        } catch { /* sign it again below */ }
      }
      if (!target) {
        const count = file.meta.presignd_part_count || partNumber;
        const batch = [partNumber];
        for (let n = partNumber + 1; n <= count && batch.length < SIGN_BATCH; n++) {
          if (!cache.has(n)) batch.push(n);
        }
        const signing = api("POST", fileURL(uploadId, "/parts:sign"), { part_numbers: batch }, signal).then((answer) => {
          const byNumber = new Map(answer.parts.map((p) => [p.part_number, { ...p, expires: Date.parse(p.expire_time || "") || 0 }]));
          return byNumber;
        });
        for (const n of batch) {
          const one = signing.then((m) => {
            if (!m.has(n)) throw new Error(`presignd signed no target for part ${n}`);
            return m.get(n);
          });
          one.catch(() => cache.delete(n));
          cache.set(n, one);
        }
        target = await cache.get(partNumber);
      }
    }
    if (Number(target.size_bytes) !== body.size) {
      throw new Error(`part ${partNumber}: presignd expects ${target.size_bytes} bytes, the page cut ${body.size}`);
    }
    // part: uploadPartBytes needs this one's ETag, unless storage gives
    // parts none.
    return { method: "PUT", url: target.url, headers: headersFor(target), part: partNumber, noEtag: Boolean(file.meta.presignd_parts_without_etag) };
  }

  async function listParts(uppyFile, { uploadId, signal }) {
    const answer = await api("GET", fileURL(uploadId, "/parts"), undefined, signal);
    let sums = partChecksums.get(uploadId);
    if (!sums) partChecksums.set(uploadId, (sums = new Map()));
    const parts = answer.parts || [];
    for (const p of parts) if (p.checksum) sums.set(p.part_number, p.checksum);
    setStatus(`Resuming ${uppyFile.name}: storage holds ${parts.length} of ${(answer.multipart && answer.multipart.part_count) || "?"} parts.`);
    return parts.map((p) => ({ PartNumber: p.part_number, Size: Number(p.size_bytes), ETag: p.etag }));
  }

  async function completeMultipartUpload(uppyFile, { uploadId, parts, signal }) {
    const sums = partChecksums.get(uploadId) || new Map();
    // Parts without ETags (Azure Blob) are not named: presignd takes those
    // storage holds, each checked for its exact size.
    const file = uppy.getFile(uppyFile.id) || uppyFile;
    const named = file.meta && file.meta.presignd_parts_without_etag ? [] : parts;
    const body = {
      parts: named
        .map((p) => {
          const part = { part_number: p.PartNumber, etag: p.ETag };
          if (sums.has(p.PartNumber)) part.checksum = sums.get(p.PartNumber);
          return part;
        })
        .sort((a, b) => a.part_number - b.part_number),
    };
    const done = await api("POST", fileURL(uploadId, ":complete"), body, signal);
    partTargets.delete(uploadId);
    partChecksums.delete(uploadId);
    completed.set(uppyFile.id, done.file);
    if (done.file.state !== "FILE_STATE_READY") throw notAccepted(done.file);
    return { location: done.file.storage_uri, key: done.file.key };
  }

  async function abortMultipartUpload(uppyFile, { uploadId }) {
    partTargets.delete(uploadId);
    partChecksums.delete(uploadId);
    if (!uploadId) return;
    try {
      await api("POST", fileURL(uploadId, ":abort"), {});
    } catch (err) {
      // Already over (FAILED_PRECONDITION) or gone (NOT_FOUND): nothing to abort.
      if (err.code !== 9 && err.code !== 5) throw err;
    }
  }

  function notAccepted(file) {
    return new Error(`The upload was not accepted: ${file.state.replace("FILE_STATE_", "")}: ${file.failure_reason || "no reason given"}`);
  }

  // uploadPartBytes sends one PUT (a part, or a whole file) or one form POST
  // and resolves with the response's ETag. Unlike the plugin's own, it
  // names storage's refusal, and does not need an ETag (nor a Location)
  // from a single upload, which presignd's completion verifies instead.
  function uploadPartBytes({ signature: { url, headers, method = "PUT", part, noEtag }, body, size = body.size, onProgress, onComplete, signal }) {
    return new Promise((resolve, reject) => {
      if (signal && signal.aborted) {
        reject(new DOMException("The upload was aborted.", "AbortError"));
        return;
      }
      const xhr = new XMLHttpRequest();
      xhr.open(method, url, true);
      for (const [name, value] of Object.entries(headers || {})) xhr.setRequestHeader(name, value);
      xhr.responseType = "text";
      const onabort = () => xhr.abort();
      signal?.addEventListener("abort", onabort);
      const cleanup = () => signal?.removeEventListener("abort", onabort);
      xhr.upload.addEventListener("progress", (ev) => onProgress(ev));
      xhr.addEventListener("abort", () => {
        cleanup();
        reject(new DOMException("The upload was aborted.", "AbortError"));
      });
      xhr.addEventListener("error", () => {
        cleanup();
        const err = new Error("The upload could not reach storage (network error, or storage does not allow this origin by CORS).");
        err.source = xhr;
        reject(err);
      });
      xhr.addEventListener("load", () => {
        cleanup();
        if (xhr.status < 200 || xhr.status >= 300) {
          const text = xhr.responseText || "";
          const err = new Error(/Request has expired|expired/i.test(text) && xhr.status === 403
            ? "Request has expired"
            : `Storage refused the upload: HTTP ${xhr.status} ${text.slice(0, 500)}`);
          err.source = xhr;
          reject(err);
          return;
        }
        onProgress({ loaded: size, total: size, lengthComputable: true });
        // From the headers CORS lets the page see: getResponseHeader of
        // one it hides logs an error in the console.
        let etag = null;
        for (const line of xhr.getAllResponseHeaders().trim().split(/[\r\n]+/)) {
          const i = line.indexOf(":");
          if (i > 0 && line.slice(0, i).trim().toLowerCase() === "etag") etag = line.slice(i + 1).trim();
        }
        if (!etag && part && !noEtag) {
          const err = new Error(`Storage did not show this page part ${part}'s ETag (CORS must expose it: Access-Control-Expose-Headers: ETag).`);
          err.source = xhr;
          reject(err);
          return;
        }
        onComplete?.(etag || "");
        resolve({ ETag: etag || "" });
      });
      xhr.send(body);
    });
  }

  // --- Uppy ------------------------------------------------------------------

  const quietLogger = {
    debug: () => {},
    // Errors reach the person through the Dashboard and #error; the
    // console gets them as warnings.
    warn: (...args) => console.warn("[Uppy]", ...args),
    error: (...args) => console.warn("[Uppy]", ...args),
  };

  const uppy = new Uppy({
    id: "presignd",
    autoProceed: true,
    logger: quietLogger,
  });
  uppy.use(Dashboard, {
    inline: true,
    target: "#uppy",
    height: 330,
    width: "100%",
    theme: "auto",
    showProgressDetails: true,
    proudlyDisplayPoweredByUppy: false,
    note: "Files go straight to storage; presignd signs every request.",
  });
  uppy.use(GoldenRetriever, {
    indexedDB: { maxFileSize: MAX_KEPT_BYTES, maxTotalSize: 2 * MAX_KEPT_BYTES },
  });
  uppy.use(AwsS3, {
    limit: 4,
    shouldUseMultipart: (file) => methodOf(uppy.getFile(file.id) || file) === "UPLOAD_METHOD_MULTIPART",
    // Uppy cuts every part but the last at this size, as presignd's layout does.
    getChunkSize: (blob) => {
      for (const f of uppy.getFiles()) if (f.data === blob && f.meta.presignd_part_size) return f.meta.presignd_part_size;
      return UPPY_MIN_PART;
    },
    getUploadParameters,
    createMultipartUpload,
    signPart,
    listParts,
    completeMultipartUpload,
    abortMultipartUpload,
    uploadPartBytes,
  });

  // Before any byte moves: ask presignd, so the answer picks the method.
  uppy.addPreProcessor(async (fileIDs) => {
    for (const id of fileIDs) {
      const f = uppy.getFile(id);
      if (!f || f.error || f.progress.uploadComplete) continue;
      try {
        await create(f);
      } catch (err) {
        uppy.emit("upload-error", uppy.getFile(id), err);
      } finally {
        uppy.emit("preprocess-complete", uppy.getFile(id));
      }
    }
  });

  // After the bytes: verify (PUT and POST uploads; multipart ones were
  // completed with their parts), then a download link.
  uppy.addPostProcessor(async (fileIDs) => {
    for (const id of fileIDs) {
      const f = uppy.getFile(id);
      if (!f || f.error || !f.meta.presignd_file_id) continue;
      try {
        uppy.emit("postprocess-progress", f, { mode: "indeterminate", message: "Verifying the stored file…" });
        let record = completed.get(id);
        if (!record) {
          record = (await api("POST", fileURL(f.meta.presignd_file_id, ":complete"), {})).file;
          completed.set(id, record);
        }
        if (record.state !== "FILE_STATE_READY") throw notAccepted(record);
        const download = await api("POST", fileURL(record.file_id, ":download"), {});
        showRecord(record, download, f.meta.presignd_method);
        setStatus(`Uploaded ${f.name} (${humanBytes(f.size)}).` + (f.meta.presignd_note ? " " + f.meta.presignd_note : ""));
      } catch (err) {
        uppy.emit("upload-error", uppy.getFile(id), err);
      } finally {
        uppy.emit("postprocess-complete", uppy.getFile(id));
      }
    }
  });

  uppy.on("upload", () => {
    document.body.dataset.state = "uploading";
    show("error", false);
    show("result", false);
    setStatus("Uploading…");
  });
  uppy.on("upload-error", (file, err) => {
    showError(err && err.message ? err.message : String(err));
  });
  uppy.on("complete", (result) => {
    const failed = (result && result.failed) || [];
    if (failed.length > 0) {
      document.body.dataset.state = "failed";
      setStatus("Failed.");
      showError(failed.map((f) => `${f.name}: ${f.error}`).join("\n"));
    } else if (result && result.successful && result.successful.length > 0) {
      document.body.dataset.state = "done";
    }
    refreshList();
  });
  uppy.on("restored", () => {
    const files = uppy.getFiles();
    if (files.length === 0) return;
    document.body.dataset.state = "restored";
    const ghosts = files.filter((f) => f.isGhost).length;
    setStatus(`An interrupted upload was restored: ${ghosts ? "pick the greyed-out file again, then " : ""}press Upload to resume it.`);
  });
  // An upload given up in the Dashboard is aborted on presignd too, so its
  // reservation goes (the plugin aborts a multipart upload it is running
  // as well: a second abort changes nothing).
  uppy.on("file-removed", (file) => {
    const id = file.meta && file.meta.presignd_file_id;
    answers.delete(file.id);
    if (id && !completed.has(file.id) && !(file.progress && file.progress.uploadComplete)) {
      api("POST", fileURL(id, ":abort"), {}).catch(() => { /* over already, or not ours to abort */ });
    }
    completed.delete(file.id);
  });

  // --- the list of files ------------------------------------------------------

  async function refreshList() {
    if (!$("api-key").value.trim()) return;
    let answer;
    try {
      answer = await api("GET", "/v1/files?page_size=10");
    } catch (err) {
      $("files-note").textContent = err.message.split("\n")[0];
      return;
    }
    const tbody = $("files").querySelector("tbody");
    tbody.replaceChildren();
    for (const f of answer.files || []) {
      const tr = document.createElement("tr");
      tr.dataset.fileId = f.file_id;
      const cells = [f.display_name, f.size_display, f.state.replace("FILE_STATE_", ""), f.create_time ? new Date(f.create_time).toLocaleString() : ""];
      for (const c of cells) {
        const td = document.createElement("td");
        td.textContent = c || "—";
        tr.append(td);
      }
      const td = document.createElement("td");
      if (f.state === "FILE_STATE_READY") {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = "Download";
        b.addEventListener("click", async () => {
          try {
            const d = await api("POST", fileURL(f.file_id, ":download"), {});
            window.location.assign(d.url);
          } catch (err) {
            showError(err.message);
          }
        });
        td.append(b);
      }
      tr.append(td);
      tbody.append(tr);
    }
    $("files-note").textContent = answer.files && answer.files.length ? "" : "No files yet.";
    show("files-box", true);
  }

  function init() {
    const keyInput = $("api-key");
    keyInput.value = sessionStorage.getItem(KEY_STORAGE) || "";
    keyInput.addEventListener("input", () => sessionStorage.setItem(KEY_STORAGE, keyInput.value.trim()));
    keyInput.addEventListener("change", refreshList);
    $("refresh").addEventListener("click", refreshList);
    if (!document.body.dataset.state) document.body.dataset.state = "idle";
    refreshList();
  }

  init();
  // For people debugging in the console, and for the page's tests.
  window.presignd = { uppy };
})();
