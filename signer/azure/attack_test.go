package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/presignd/presignd/signer"
)

// TestUploadTargetAbuse sends what a client holding an upload target might
// try instead of the upload it was given, against Azurite, and checks that
// each is refused by Azure or stored so that Stat shows the difference
// (which CompleteUpload then refuses).
func TestUploadTargetAbuse(t *testing.T) {
	s := newServerSigner(t, nil)
	body := []byte("the bytes the client declared, 40 bytes.")
	evil := []byte("THE BYTES THE CLIENT SENT INSTEAD, 40 B.")
	bound := md5Of(body)
	blockID := base64.StdEncoding.EncodeToString([]byte("block-000001"))
	blockList := []byte(`<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>` + blockID + `</Latest></BlockList>`)

	type step struct {
		query   string // appended to the target's URL
		headers map[string]string
		body    []byte
		status  int // the answer Azure must give
	}
	cases := []struct {
		name  string
		steps []step
		// stat checks the blob after the steps; nil means none must exist.
		stat func(t *testing.T, info signer.ObjectInfo)
	}{
		{
			name: "an upload target used a second time cannot replace the object it stored",
			steps: []step{
				{body: body, status: http.StatusCreated},
				{headers: map[string]string{"Content-MD5": ""}, body: evil, status: http.StatusForbidden},
			},
			stat: func(t *testing.T, info signer.ObjectInfo) {
				if info.Checksums[signer.MD5] != bound {
					t.Errorf("Stat MD5 = %q, want the first upload's %q", info.Checksums[signer.MD5], bound)
				}
			},
		},
		{
			name:  "a PUT that leaves out Content-MD5 is stored with the MD5 of the bytes sent, which Stat reports",
			steps: []step{{headers: map[string]string{"Content-MD5": ""}, body: evil, status: http.StatusCreated}},
			stat: func(t *testing.T, info signer.ObjectInfo) {
				if got, want := info.Checksums[signer.MD5], md5Of(evil); got != want {
					t.Errorf("Stat MD5 = %q, want the MD5 of the bytes sent %q", got, want)
				}
			},
		},
		{
			name:  "a PUT that declares the bound MD5 as the blob's property over other bytes is refused",
			steps: []step{{headers: map[string]string{"Content-MD5": "", "x-ms-blob-content-md5": bound}, body: evil, status: http.StatusBadRequest}},
		},
		{
			name:  "a PUT that sets the blob's type in x-ms-blob-content-type is stored with that type, which Stat reports",
			steps: []step{{headers: map[string]string{"x-ms-blob-content-type": "text/html"}, body: body, status: http.StatusCreated}},
			stat: func(t *testing.T, info signer.ObjectInfo) {
				if info.ContentType != "text/html" {
					t.Errorf("Stat ContentType = %q, want text/html", info.ContentType)
				}
			},
		},
		{
			name: "an upload target cannot stage a block or commit a block list",
			steps: []step{
				{query: "&comp=block&blockid=" + blockID, headers: map[string]string{"x-ms-blob-type": "", "Content-Type": "", "Content-MD5": ""}, body: evil, status: http.StatusForbidden},
				{query: "&comp=blocklist", headers: map[string]string{"x-ms-blob-type": "", "Content-MD5": "", "x-ms-blob-content-md5": bound}, body: blockList, status: http.StatusForbidden},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := "attack/" + randomHex()
			target, err := s.SignUpload(t.Context(), signer.UploadRequest{
				Key: key, ContentType: "image/png", Size: int64(len(body)),
				Checksum: signer.Checksum{Algorithm: signer.MD5, Value: bound},
				Expires:  time.Now().Add(10 * time.Minute),
			})
			if err != nil {
				t.Fatalf("SignUpload: %v", err)
			}
			for i, st := range tc.steps {
				h := map[string]string{}
				for k, v := range target.Headers {
					h[k] = v
				}
				for k, v := range st.headers {
					h[k] = v
				}
				if got, msg := send(t, http.MethodPut, target.URL+st.query, h, st.body); got != st.status {
					t.Fatalf("step %d: status %d, want %d; body %.300s", i+1, got, st.status, msg)
				}
			}
			info, err := s.Stat(t.Context(), key)
			if tc.stat == nil {
				if err == nil {
					t.Fatalf("Stat = %+v, want ErrNotFound", info)
				}
				return
			}
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			tc.stat(t, info)
		})
	}
}

// TestStatOmitsDeclaredMD5OfCommittedBlocks commits a blob from blocks
// with a declared MD5 that Azure does not check, and requires Stat to
// leave it out: only an MD5 Azure computed or verified is reported.
func TestStatOmitsDeclaredMD5OfCommittedBlocks(t *testing.T) {
	s := newServerSigner(t, nil)
	ctx := t.Context()
	bc := s.client.NewBlockBlobClient("blocks/declared-md5")
	id := base64.StdEncoding.EncodeToString([]byte("block-000001"))
	if _, err := bc.StageBlock(ctx, id, nopCloser{bytes.NewReader([]byte("staged bytes"))}, nil); err != nil {
		t.Fatalf("StageBlock: %v", err)
	}
	lie, _ := base64.StdEncoding.DecodeString(md5Of([]byte("other bytes")))
	if _, err := bc.CommitBlockList(ctx, []string{id}, &blockblob.CommitBlockListOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("image/png"), BlobContentMD5: lie},
	}); err != nil {
		t.Fatalf("CommitBlockList: %v", err)
	}
	info, err := s.Stat(ctx, "blocks/declared-md5")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if v, ok := info.Checksums[signer.MD5]; ok {
		t.Errorf("Stat Checksums[MD5] = %q for a blob committed from blocks, want none", v)
	}
}

func send(t *testing.T, method, u string, headers map[string]string, body []byte) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, got
}

func md5Of(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }
