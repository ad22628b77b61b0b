#!/usr/bin/python3
"""The whole presignd upload flow from Python over gRPC.

    PRESIGND_API_KEY=... /usr/bin/python3 clients/python/example.py [FILE]

It asks presignd for an upload target (CreateUpload, with the file's
SHA-256), sends the bytes straight to the target exactly as it says (a PUT
with its headers, or a multipart form POST with its fields and then the
file), completes the upload, downloads the file through a fresh download URL
and checks the bytes. Without FILE it uploads a short greeting.

Environment: PRESIGND_API_KEY (required), PRESIGND_GRPC_ADDR (default
localhost:8081), PRESIGND_CATEGORY (default: the server's default
category), PRESIGND_METHOD (PUT or POST; default: the category's).
Needs grpcio and protobuf (Debian: python3-grpcio).
"""

import base64
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
    method = {"PUT": pb.UPLOAD_METHOD_PUT, "POST": pb.UPLOAD_METHOD_POST}.get(
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

        # 2. Send the bytes straight to storage.
        status = send(target, data, filename)
        print(f"uploaded {len(data)} bytes: HTTP {status}")

        # 3. Tell presignd the upload is done; it verifies the stored object.
        done = files.CompleteUpload(pb.CompleteUploadRequest(file_id=file_id),
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
