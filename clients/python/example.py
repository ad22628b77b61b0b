#!/usr/bin/python3
"""The whole presignd upload flow from Python over gRPC.

    PRESIGND_API_KEY=... /usr/bin/python3 clients/python/example.py [FILE]

It asks presignd for an upload target (CreateUpload, with the file's
SHA-256), sends the bytes straight to the target exactly as it says (a PUT
with its headers, or a multipart form POST with its fields and then the
file), completes the upload, downloads the file through a fresh download URL
and checks the bytes. Without FILE it uploads a short greeting.

A MULTIPART upload (the server picks it for a file at or above the
category's multipart threshold, or PRESIGND_METHOD=MULTIPART asks for it)
goes up in parts: ListParts says which parts storage already holds (none
for a new upload; all but the missing ones for an upload resumed after an
interruption), SignParts signs targets for the others, each part is PUT
to its target, four at a time, and CompleteUpload names every part with
the ETag storage answered.

Environment: PRESIGND_API_KEY (required), PRESIGND_GRPC_ADDR (default
localhost:8081), PRESIGND_CATEGORY (default: the server's default
category), PRESIGND_METHOD (PUT, POST or MULTIPART; default: the
category's). Needs grpcio and protobuf (Debian: python3-grpcio).
"""

import base64
import concurrent.futures
import hashlib
import mimetypes
import os
import sys
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from presignd.v1 import file_service_pb2 as pb  # noqa: E402
from presignd.v1 import file_service_pb2_grpc as pb_grpc  # noqa: E402


def send(target, data, filename):
    """Sends data to an UploadTarget exactly as it says; returns the HTTP status."""
    if target.method == pb.UPLOAD_METHOD_POST:
        boundary = uuid.uuid4().hex
        parts = []
        fields = dict(target.form_fields)
        # The key first (some servers want it before the policy fields),
        # then the other fields, then the file as the last part.
        names = sorted(fields, key=lambda n: (n.lower() != "key", n))
        for name in names:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{fields[name]}\r\n".encode()
            )
        file_type = next((v for k, v in fields.items() if k.lower() == "content-type"),
                         "application/octet-stream")
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{os.path.basename(filename)}"\r\nContent-Type: {file_type}\r\n\r\n'.encode()
        )
        body = b"".join(parts) + data + f"\r\n--{boundary}--\r\n".encode()
        headers = {k: v for k, v in target.headers.items() if k.lower() != "content-type"}
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        req = urllib.request.Request(target.url, data=body, method="POST", headers=headers)
    else:
        headers = {k: v for k, v in target.headers.items()
                   if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(target.url, data=data, method="PUT", headers=headers)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.status


def send_parts(files, creds, file_id, layout, first_targets, data):
    """Sends the parts of a multipart upload storage does not hold yet, four
    at a time, and returns them all as CompletedParts for CompleteUpload."""
    sha256_parts = layout.part_checksum_algorithm == pb.CHECKSUM_ALGORITHM_SHA256
    if layout.part_checksum_algorithm not in (pb.CHECKSUM_ALGORITHM_UNSPECIFIED, pb.CHECKSUM_ALGORITHM_SHA256):
        raise RuntimeError("this example computes SHA-256 part checksums only")

    def part(n):
        start = (n - 1) * layout.part_size_bytes
        return data[start:start + layout.part_size_bytes]

    def checksum(n):
        return base64.b64encode(hashlib.sha256(part(n)).digest()).decode()

    # What storage already holds (a resumed upload) is not sent again.
    held = {p.part_number: p for p in files.ListParts(
        pb.ListPartsRequest(file_id=file_id), metadata=creds, timeout=30).parts}
    done = {n: p.etag for n, p in held.items() if p.size_bytes == len(part(n))}
    targets = {t.part_number: t for t in first_targets}
    missing = [n for n in range(1, layout.part_count + 1) if n not in done]
    unsigned = [n for n in missing if n not in targets]
    for i in range(0, len(unsigned), 1000):  # at most 1000 a call
        batch = unsigned[i:i + 1000]
        req = pb.SignPartsRequest(file_id=file_id, part_numbers=batch)
        if sha256_parts:  # each target binds its part's checksum
            for n in batch:
                req.part_checksums[n] = checksum(n)
        for t in files.SignParts(req, metadata=creds, timeout=30).parts:
            targets[t.part_number] = t

    def put(n):
        target = targets[n]
        headers = {k: v for k, v in target.headers.items()
                   if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(target.url, data=part(n), method="PUT", headers=headers)
        for attempt in range(4):  # a part that fails is sent again
            try:
                with urllib.request.urlopen(req, timeout=120) as resp:
                    return n, resp.headers["ETag"]
            except OSError:
                if attempt == 3:
                    raise

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for n, etag in pool.map(put, missing):
            done[n] = etag
    print(f"uploaded {len(data)} bytes in {layout.part_count} parts of "
          f"{layout.part_size_bytes} bytes ({len(missing)} sent, {len(held)} already held)")
    if layout.parts_without_etag:
        # Storage answers parts without an ETag (Azure Blob): complete
        # naming none, and presignd takes those storage holds, each checked
        # for its exact size.
        return []
    return [pb.CompletedPart(part_number=n, etag=done[n],
                             checksum=checksum(n) if sha256_parts else "")
            for n in range(1, layout.part_count + 1)]


def main(argv):
    key = os.environ.get("PRESIGND_API_KEY")
    if not key:
        sys.exit("example.py: set PRESIGND_API_KEY")
    addr = os.environ.get("PRESIGND_GRPC_ADDR", "localhost:8081")
    if len(argv) > 1:
        filename = argv[1]
        with open(filename, "rb") as f:
            data = f.read()
    else:
        filename, data = "hello-from-python.txt", b"hello from the Python client\n"
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    method = {"PUT": pb.UPLOAD_METHOD_PUT, "POST": pb.UPLOAD_METHOD_POST,
              "MULTIPART": pb.UPLOAD_METHOD_MULTIPART}.get(
        os.environ.get("PRESIGND_METHOD", "").upper(), pb.UPLOAD_METHOD_UNSPECIFIED)

    creds = [("authorization", "Bearer " + key)]
    with grpc.insecure_channel(addr) as channel:
        files = pb_grpc.FileServiceStub(channel)

        # 1. Ask for an upload target, bound to the bytes' SHA-256 where the
        # backend can bind one (an S3 POST policy cannot: FAILED_PRECONDITION).
        req = pb.CreateUploadRequest(
            category=os.environ.get("PRESIGND_CATEGORY", ""),
            filename=os.path.basename(filename),
            content_type=content_type,
            size_bytes=len(data),
            checksum=pb.Checksum(algorithm=pb.CHECKSUM_ALGORITHM_SHA256,
                                 value=base64.b64encode(hashlib.sha256(data).digest()).decode()),
            method=method,
        )
        try:
            created = files.CreateUpload(req, metadata=creds, timeout=30)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            req.ClearField("checksum")
            created = files.CreateUpload(req, metadata=creds, timeout=30)
            print("the backend cannot bind a checksum to this upload: sent without one")
        file_id = created.file.file_id
        target = created.upload_target
        print(f"created {file_id}: {pb.UploadMethod.Name(target.method)} upload")

        # 2. Send the bytes straight to storage: in one request, or in parts.
        parts = []
        if target.method == pb.UPLOAD_METHOD_MULTIPART:
            parts = send_parts(files, creds, file_id, target.multipart, target.parts, data)
        else:
            status = send(target, data, filename)
            print(f"uploaded {len(data)} bytes: HTTP {status}")

        # 3. Tell presignd the upload is done (naming the parts of a
        # multipart upload); it verifies the stored object.
        done = files.CompleteUpload(pb.CompleteUploadRequest(file_id=file_id, parts=parts),
                                    metadata=creds, timeout=30).file
        if done.state != pb.FILE_STATE_READY:
            sys.exit(f"example.py: {file_id} is {pb.FileState.Name(done.state)}: {done.failure_reason}")
        print(f"complete: {pb.FileState.Name(done.state)} {done.display_name} "
              f"{done.size_display} {done.storage_uri}")

        # 4. Download through a short-lived URL and compare.
        url = files.CreateDownloadUrl(pb.CreateDownloadUrlRequest(file_id=file_id),
                                      metadata=creds, timeout=30).url
        with urllib.request.urlopen(url, timeout=60) as resp:
            got = resp.read()
        if got != data:
            sys.exit(f"example.py: downloaded {len(got)} bytes that differ from the {len(data)} uploaded")
        print(f"downloaded {len(got)} bytes: identical")
        print(f"file_id={file_id}")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except grpc.RpcError as err:
        sys.exit(f"example.py: {err.code().name}: {err.details()}")
    except OSError as err:
        sys.exit(f"example.py: {err}")
