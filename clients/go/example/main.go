// Command example runs the whole presignd upload flow from Go over gRPC,
// with the generated client in gen/presignd/v1:
//
//	PRESIGND_API_KEY=... go run ./clients/go/example [FILE]
//
// It asks for an upload target bound to the bytes' SHA-256, PUTs the bytes
// to it with exactly the headers it lists (or, for a POST target, sends a
// multipart form: its fields, then the file), completes the upload, and
// downloads the file again through a fresh URL. Without FILE it uploads a
// short greeting. PRESIGND_GRPC_ADDR (host:port, default localhost:8081)
// and PRESIGND_METHOD (PUT or POST) change where and how.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

func run() error {
	key := os.Getenv("PRESIGND_API_KEY")
	if key == "" {
		return fmt.Errorf("set PRESIGND_API_KEY")
	}
	addr := os.Getenv("PRESIGND_GRPC_ADDR")
	if addr == "" {
		addr = "localhost:8081"
	}
	name, data := "hello-from-go.txt", []byte("hello from the Go client\n")
	if len(os.Args) > 1 {
		var err error
		if data, err = os.ReadFile(os.Args[1]); err != nil {
			return err
		}
		name = filepath.Base(os.Args[1])
	}
	method := presigndv1.UploadMethod_UPLOAD_METHOD_UNSPECIFIED
	if os.Getenv("PRESIGND_METHOD") == "POST" {
		method = presigndv1.UploadMethod_UPLOAD_METHOD_POST
	}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	files := presigndv1.NewFileServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)

	// 1. Ask for an upload target bound to the bytes' SHA-256 where the
	// backend can bind one (an S3 POST policy cannot: FailedPrecondition).
	sum := sha256.Sum256(data)
	req := &presigndv1.CreateUploadRequest{
		Filename:    name,
		ContentType: http.DetectContentType(data),
		SizeBytes:   int64(len(data)),
		Checksum: &presigndv1.Checksum{
			Algorithm: presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256,
			Value:     base64.StdEncoding.EncodeToString(sum[:]),
		},
		Method: method,
	}
	created, err := files.CreateUpload(ctx, req)
	if status.Code(err) == codes.FailedPrecondition {
		req.Checksum = nil
		created, err = files.CreateUpload(ctx, req)
		fmt.Println("the backend cannot bind a checksum to this upload: sent without one")
	}
	if err != nil {
		return err
	}
	id := created.GetFile().GetFileId()
	fmt.Printf("created %s: %s upload\n", id, created.GetUploadTarget().GetMethod())

	// 2. Send the bytes straight to storage, exactly as the target says.
	if err := send(ctx, created.GetUploadTarget(), name, data); err != nil {
		return err
	}

	// 3. Complete: presignd verifies the stored object.
	done, err := files.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: id})
	if err != nil {
		return err
	}
	if f := done.GetFile(); f.GetState() != presigndv1.FileState_FILE_STATE_READY {
		return fmt.Errorf("%s is %s: %s", id, f.GetState(), f.GetFailureReason())
	}
	fmt.Printf("complete: %s %s %s\n", done.GetFile().GetState(), done.GetFile().GetDisplayName(), done.GetFile().GetSizeDisplay())

	// 4. Download through a short-lived URL and compare.
	link, err := files.CreateDownloadUrl(ctx, &presigndv1.CreateDownloadUrlRequest{FileId: id})
	if err != nil {
		return err
	}
	resp, err := http.Get(link.GetUrl())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("downloaded %d bytes that differ from the %d uploaded", len(got), len(data))
	}
	fmt.Printf("downloaded %d bytes: identical\nfile_id=%s\n", len(got), id)
	return nil
}

// send uploads data to target: a PUT with the target's headers, or a
// multipart form POST with its fields and then the file, named "file".
func send(ctx context.Context, target *presigndv1.UploadTarget, name string, data []byte) error {
	var req *http.Request
	var err error
	if target.GetMethod() == presigndv1.UploadMethod_UPLOAD_METHOD_POST {
		var body bytes.Buffer
		form := multipart.NewWriter(&body)
		if k, ok := target.GetFormFields()["key"]; ok {
			_ = form.WriteField("key", k) // the key first, for S3
		}
		for k, v := range target.GetFormFields() {
			if k != "key" {
				_ = form.WriteField(k, v)
			}
		}
		part, err := form.CreateFormFile("file", name)
		if err != nil {
			return err
		}
		part.Write(data)
		form.Close()
		if req, err = http.NewRequestWithContext(ctx, http.MethodPost, target.GetUrl(), &body); err != nil {
			return err
		}
		req.Header.Set("Content-Type", form.FormDataContentType())
	} else {
		if req, err = http.NewRequestWithContext(ctx, http.MethodPut, target.GetUrl(), bytes.NewReader(data)); err != nil {
			return err
		}
		for k, v := range target.GetHeaders() {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("storage refused the upload: %s: %s", resp.Status, msg)
	}
	fmt.Printf("uploaded %d bytes: %s\n", len(data), resp.Status)
	return nil
}
