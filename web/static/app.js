// presignd's upload page. It talks to the REST API on its own origin (so the
// API needs no CORS), sends the bytes straight to the upload target the API
// returns (a cross-origin request when the backend is S3 or GCS), completes
// the upload and shows the record with a download link.
"use strict";

const KEY_STORAGE = "presignd.apiKey";
// Hash files up to this size in the browser; larger ones go without a
// checksum unless the category demands one.
const MAX_HASH_BYTES = 256 * 1024 * 1024;
// Headers a browser sets itself and refuses from scripts.
const FORBIDDEN_HEADERS = new Set(["host", "content-length", "connection", "accept-encoding"]);

const $ = (id) => document.getElementById(id);

function apiURL(path) {
  // Relative to the page (served at /ui/), so a path prefix in front of
  // presignd keeps working.
  return new URL("../" + path.replace(/^\//, ""), document.baseURI).toString();
}

// api calls one REST method and returns the decoded answer; on an error it
// throws with the server's message and every field it names.
async function api(method, path, body) {
  const key = $("api-key").value.trim();
  if (!key) throw new Error("Paste an API key first.");
  let resp;
  try {
    resp = await fetch(apiURL(path), {
      method,
      headers: { "Authorization": "Bearer " + key, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new Error(`presignd is unreachable: ${err.message}`);
  }
  const text = await resp.text();
  let json = {};
  try { json = text ? JSON.parse(text) : {}; } catch { /* not JSON */ }
  if (!resp.ok) {
    let msg = `${path}: HTTP ${resp.status}` + (json.message ? `: ${json.message}` : text ? `: ${text.slice(0, 300)}` : "");
    for (const d of json.details || []) {
      for (const v of d.field_violations || []) msg += `\n  ${v.field}: ${v.description}`;
    }
    if (resp.status === 401) msg += "\nCheck the API key.";
    const err = new Error(msg);
    err.code = json.code; // google.rpc.Code
    throw err;
  }
  return json;
}

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

// sha256 returns the file's SHA-256 as a Checksum, or null where the browser
// cannot hash (no WebCrypto outside secure contexts) or the file is large.
async function sha256(file) {
  if (!window.crypto || !crypto.subtle || file.size > MAX_HASH_BYTES) return null;
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return { algorithm: "CHECKSUM_ALGORITHM_SHA256", value: base64(digest) };
}

// send uploads file to target exactly as the target says: a PUT of the raw
// bytes with its headers, or a multipart form POST with its form fields and
// then the file as the last field, named "file". It reports progress and
// resolves with the HTTP status.
function send(target, file, onProgress) {
  return new Promise((resolve, reject) => {
    const post = target.method === "UPLOAD_METHOD_POST";
    const xhr = new XMLHttpRequest();
    xhr.open(post ? "POST" : "PUT", target.url);
    const headers = target.headers || {};
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      if (FORBIDDEN_HEADERS.has(lower) || (post && lower === "content-type")) continue;
      xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.status);
      else reject(new Error(`Storage refused the upload: HTTP ${xhr.status} ${xhr.responseText.slice(0, 500)}`));
    };
    xhr.onerror = () => reject(new Error("The upload could not reach storage (network error, or storage does not allow this origin by CORS)."));
    xhr.onabort = () => reject(new Error("The upload was aborted."));
    if (post) {
      const fields = target.form_fields || {};
      // The key first (some servers want it before the policy fields).
      const names = Object.keys(fields).sort((a, b) =>
        (a.toLowerCase() === "key" ? -1 : 0) - (b.toLowerCase() === "key" ? -1 : 0) || (a < b ? -1 : a > b ? 1 : 0));
      const form = new FormData();
      for (const name of names) form.append(name, fields[name]);
      form.append("file", file, file.name);
      xhr.send(form);
    } else {
      xhr.send(file);
    }
  });
}

function show(id, visible) { $(id).hidden = !visible; }

function setProgress(percent, text) {
  show("progress-box", true);
  $("progress").value = percent;
  $("status").textContent = text;
}

function showRecord(file, download) {
  const rows = [
    ["file_id", file.file_id],
    ["name", file.display_name],
    ["size", `${file.size_display} (${file.size_bytes} bytes)`],
    ["content type", file.content_type],
    ["state", file.state.replace("FILE_STATE_", "")],
    ["category", file.category],
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

let busy = false;

// upload runs the whole flow for one file.
async function upload(file) {
  if (busy) return;
  busy = true;
  document.body.dataset.state = "uploading";
  show("error", false);
  show("result", false);
  try {
    setProgress(0, `Hashing ${file.name}…`);
    const checksum = await sha256(file);
    const req = {
      category: $("category").value.trim(),
      filename: file.name,
      content_type: file.type || "application/octet-stream",
      size_bytes: String(file.size),
      method: $("method").value || "UPLOAD_METHOD_UNSPECIFIED",
    };
    if (checksum) req.checksum = checksum;
    setProgress(0, `Asking presignd for an upload target…`);
    let created, note = "";
    try {
      created = await api("POST", "/v1/uploads", req);
    } catch (err) {
      // FAILED_PRECONDITION: the backend cannot bind this checksum to this
      // kind of upload (an S3 POST policy, say). Completion still verifies
      // the size and type, so go on without it, and say so.
      if (err.code !== 9 || !req.checksum) throw err;
      delete req.checksum;
      note = " Stored without a checksum: the backend cannot bind one to this upload.";
      created = await api("POST", "/v1/uploads", req);
    }
    const id = created.file.file_id;
    const target = created.upload_target;
    await send(target, file, (loaded, total) => {
      setProgress(Math.floor((loaded / total) * 100), `Uploading ${file.name}: ${humanBytes(loaded)} of ${humanBytes(total)}`);
    });
    setProgress(100, "Verifying the stored file…");
    const done = await api("POST", `/v1/files/${encodeURIComponent(id)}:complete`, {});
    if (done.file.state !== "FILE_STATE_READY") {
      throw new Error(`The upload was not accepted: ${done.file.state.replace("FILE_STATE_", "")}: ${done.file.failure_reason || "no reason given"}`);
    }
    const download = await api("POST", `/v1/files/${encodeURIComponent(id)}:download`, {});
    showRecord(done.file, download);
    setProgress(100, `Uploaded ${file.name} (${humanBytes(file.size)}).` + note);
    document.body.dataset.state = "done";
  } catch (err) {
    $("error").textContent = err.message;
    show("error", true);
    $("status").textContent = "Failed.";
    document.body.dataset.state = "failed";
  } finally {
    busy = false;
    $("file").value = "";
  }
}

function init() {
  const keyInput = $("api-key");
  keyInput.value = sessionStorage.getItem(KEY_STORAGE) || "";
  keyInput.addEventListener("input", () => sessionStorage.setItem(KEY_STORAGE, keyInput.value.trim()));

  $("file").addEventListener("change", (e) => {
    const f = e.target.files && e.target.files[0];
    if (f) upload(f);
  });
  const drop = $("drop");
  for (const ev of ["dragenter", "dragover"]) {
    drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const ev of ["dragleave", "drop"]) {
    drop.addEventListener(ev, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) upload(f);
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file").click(); }
  });
  // A file dropped next to the zone must not navigate away from the page.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  document.body.dataset.state = "idle";
}

init();
