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
// and PRESIGND_METHOD (PUT, POST or MULTIPART) change where and how.
//
// A MULTIPART upload (the server picks it for a file at or above the
// category's multipart threshold) goes up in parts: ListParts says which
// parts storage already holds (none for a new upload, the finished ones
// for one resumed after an interruption), SignParts signs targets for the
// others, four parts are PUT at a time, and CompleteUpload names every
// part with the ETag storage answered.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"sync"
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
	switch os.Getenv("PRESIGND_METHOD") {
	case "POST":
		method = presigndv1.UploadMethod_UPLOAD_METHOD_POST
	case "MULTIPART":
		method = presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART
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

	// 2. Send the bytes straight to storage, exactly as the target says:
	// in one request, or in parts.
	var parts []*presigndv1.CompletedPart
	if created.GetUploadTarget().GetMethod() == presigndv1.UploadMethod_UPLOAD_METHOD_MULTIPART {
		if parts, err = sendParts(ctx, files, id, created.GetUploadTarget(), data); err != nil {
			return err
		}
	} else if err := send(ctx, created.GetUploadTarget(), name, data); err != nil {
		return err
	}

	// 3. Complete (naming the parts of a multipart upload): presignd
	// verifies the stored object.
	done, err := files.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: id, Parts: parts})
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

// sendParts sends the parts of a multipart upload that storage does not
// hold yet, four at a time, each tried up to four times, and returns every
// part for CompleteUpload.
func sendParts(ctx context.Context, files presigndv1.FileServiceClient, id string, target *presigndv1.UploadTarget, data []byte) ([]*presigndv1.CompletedPart, error) {
	layout := target.GetMultipart()
	size := layout.GetPartSizeBytes()
	part := func(n int32) []byte { return data[int64(n-1)*size : min(int64(n)*size, int64(len(data)))] }
	sha256Parts := layout.GetPartChecksumAlgorithm() == presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_SHA256
	if !sha256Parts && layout.GetPartChecksumAlgorithm() != presigndv1.ChecksumAlgorithm_CHECKSUM_ALGORITHM_UNSPECIFIED {
		return nil, fmt.Errorf("this example computes SHA-256 part checksums only")
	}
	checksum := func(n int32) string {
		if !sha256Parts {
			return ""
		}
		sum := sha256.Sum256(part(n))
		return base64.StdEncoding.EncodeToString(sum[:])
	}

	// What storage already holds (a resumed upload) is not sent again.
	held, err := files.ListParts(ctx, &presigndv1.ListPartsRequest{FileId: id})
	if err != nil {
		return nil, err
	}
	// Storage without part ETags (Azure Blob) leaves them empty: a held
	// part of the right size is kept all the same.
	etags := make([]string, layout.GetPartCount()+1)
	have := make([]bool, layout.GetPartCount()+1)
	for _, p := range held.GetParts() {
		if n := p.GetPartNumber(); n >= 1 && n <= layout.GetPartCount() && p.GetSizeBytes() == int64(len(part(n))) &&
			(p.GetEtag() != "" || layout.GetPartsWithoutEtag()) {
			etags[n], have[n] = p.GetEtag(), true
		}
	}
	targets := map[int32]*presigndv1.PartTarget{}
	for _, t := range target.GetParts() {
		targets[t.GetPartNumber()] = t
	}
	var missing, unsigned []int32
	for n := int32(1); n <= layout.GetPartCount(); n++ {
		if !have[n] {
			missing = append(missing, n)
			if targets[n] == nil {
				unsigned = append(unsigned, n)
			}
		}
	}
	for len(unsigned) > 0 {
		batch := unsigned[:min(len(unsigned), 1000)] // at most 1000 a call
		unsigned = unsigned[len(batch):]
		req := &presigndv1.SignPartsRequest{FileId: id, PartNumbers: batch}
		if sha256Parts { // each target binds its part's checksum
			req.PartChecksums = map[int32]string{}
			for _, n := range batch {
				req.PartChecksums[n] = checksum(n)
			}
		}
		signed, err := files.SignParts(ctx, req)
		if err != nil {
			return nil, err
		}
		for _, t := range signed.GetParts() {
			targets[t.GetPartNumber()] = t
		}
	}

	put := func(t *presigndv1.PartTarget) (string, error) {
		var err error
		for attempt := 1; attempt <= 4; attempt++ {
			req, rerr := http.NewRequestWithContext(ctx, http.MethodPut, t.GetUrl(), bytes.NewReader(part(t.GetPartNumber())))
			if rerr != nil {
				return "", rerr
			}
			for k, v := range t.GetHeaders() {
				req.Header.Set(k, v)
			}
			var resp *http.Response
			if resp, err = http.DefaultClient.Do(req); err == nil {
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					return resp.Header.Get("ETag"), nil
				}
				err = fmt.Errorf("storage refused part %d: %s: %s", t.GetPartNumber(), resp.Status, msg)
			}
		}
		return "", err
	}
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, 4)
		errs  = make([]error, len(missing))
	)
	for i, n := range missing {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			etags[n], errs[i] = put(targets[n])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	fmt.Printf("uploaded %d bytes in %d parts of %d bytes (%d sent, %d already held)\n",
		len(data), layout.GetPartCount(), size, len(missing), len(held.GetParts()))
	// Parts without ETags (Azure Blob) are not named: CompleteUpload takes
	// those storage holds, each checked for its exact size.
	parts := make([]*presigndv1.CompletedPart, 0, layout.GetPartCount())
	for n := int32(1); n <= layout.GetPartCount() && !layout.GetPartsWithoutEtag(); n++ {
		parts = append(parts, &presigndv1.CompletedPart{PartNumber: n, Etag: etags[n], Checksum: checksum(n)})
	}
	return parts, nil
}
