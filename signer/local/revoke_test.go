package local_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/signer/signertest"
)

// clock is a settable time source for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestUploadTargetDoesNotOutliveItsFile: once Delete removed a key (a file
// deleted, or failed), its upload targets are spent: the same PUT or POST
// is refused with 410 and stores nothing, also after a restart, and the
// download URLs signed before answer 410.
func TestUploadTargetDoesNotOutliveItsFile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		post     bool
		uploaded bool // whether the first upload happened before Delete
		restart  bool // whether a new Signer on the same Dir serves the retry
	}{
		{name: "PUT, deleted after the upload", uploaded: true},
		{name: "POST, deleted after the upload", post: true, uploaded: true},
		{name: "PUT, failed before any upload"},
		{name: "POST, failed before any upload", post: true},
		{name: "PUT, deleted, then the server restarted", uploaded: true, restart: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			h := newHarness(t, local.Config{Dir: dir})
			defer func() { h.Close() }()
			body := []byte("the original bytes")
			req := signer.UploadRequest{Key: "t/f/" + strings.ReplaceAll(tc.name, " ", "_"), ContentType: "text/plain",
				Size: int64(len(body)), Expires: time.Now().Add(10 * time.Minute)}
			sign := h.s.SignUpload
			if tc.post {
				sign = h.s.SignPostUpload
			}
			target, err := sign(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			download, err := h.s.SignDownload(ctx, signer.DownloadRequest{Key: req.Key, Expires: time.Now().Add(10 * time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			if tc.uploaded {
				if status := send(t, h, target, body); status/100 != 2 {
					t.Fatalf("first upload: %d", status)
				}
			}
			if err := h.s.Delete(ctx, req.Key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if tc.restart {
				h.Close()
				old := baseURL(target)
				h = newHarness(t, local.Config{Dir: dir})
				target.URL = strings.Replace(target.URL, old, h.srv.URL, 1)
				download = strings.Replace(download, old, h.srv.URL, 1)
			}
			resp, err := signertest.Upload(ctx, h.HTTPClient(), target, body)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusGone || !strings.Contains(string(msg), "spent") {
				t.Errorf("upload after Delete: %d %s, want 410 saying the target is spent", resp.StatusCode, msg)
			}
			if _, err := h.s.Stat(ctx, req.Key); err == nil {
				t.Errorf("upload after Delete stored an object")
			}
			get, err := h.HTTPClient().Get(download)
			if err != nil {
				t.Fatal(err)
			}
			get.Body.Close()
			if get.StatusCode != http.StatusGone {
				t.Errorf("download URL signed before Delete: %d, want 410", get.StatusCode)
			}
		})
	}
}

// baseURL returns the scheme and host of target's URL.
func baseURL(target signer.UploadTarget) string {
	i := strings.Index(target.URL, "/local/")
	return target.URL[:i]
}

// send uploads body to target (PUT or POST) and returns the status.
func send(t *testing.T, h *harness, target signer.UploadTarget, body []byte) int {
	t.Helper()
	resp, err := signertest.Upload(context.Background(), h.HTTPClient(), target, body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestUploadInFlightAtDeleteIsNotPublished: a PUT whose body is still
// arriving when Delete runs does not publish its object.
func TestUploadInFlightAtDeleteIsNotPublished(t *testing.T) {
	h := newHarness(t, local.Config{})
	defer h.Close()
	ctx := context.Background()
	target, err := h.s.SignUpload(ctx, signer.UploadRequest{Key: "in/flight", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		req, _ := http.NewRequest(http.MethodPut, target.URL, pr)
		req.ContentLength = 8
		resp, err := h.HTTPClient().Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte("half")); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Delete(ctx, "in/flight"); err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("done"))
	pw.Close()
	if status := <-done; status != http.StatusGone {
		t.Errorf("PUT in flight at Delete: %d, want 410", status)
	}
	if _, err := h.s.Stat(ctx, "in/flight"); err == nil {
		t.Error("PUT in flight at Delete published its object")
	}
}

// TestSweepRemovesAbandonedTempFiles: a .part left by a killed upload is
// removed by Sweep once it has been idle for longer than MaxURLTTL, without
// a restart; recent ones (uploads in progress) stay. Lapsed tombstones go
// too, and the key then answers as any never-used key.
func TestSweepRemovesAbandonedTempFiles(t *testing.T) {
	clk := &clock{t: time.Now()}
	h := newHarness(t, local.Config{MaxURLTTL: time.Hour, Now: clk.Now})
	defer h.Close()
	ctx := context.Background()
	tmp := filepath.Join(h.dir, "tmp")
	for name, age := range map[string]time.Duration{"killed.part": 2 * time.Hour, "running.part": time.Minute} {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		mtime := clk.Now().Add(-age)
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.s.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	c, err := h.s.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(t, tmp); len(got) != 1 || got[0] != "running.part" || c.TempFiles != 1 {
		t.Errorf("tmp/ after Sweep: %v (removed %d), want only running.part", got, c.TempFiles)
	}
	if c.Tombstones != 0 || len(entries(t, filepath.Join(h.dir, "revoked"))) != 1 {
		t.Errorf("Sweep removed a tombstone still in force")
	}

	// Past MaxURLTTL every target signed before the Delete has expired.
	clk.Add(time.Hour + time.Second)
	for _, e := range entries(t, filepath.Join(h.dir, "revoked")) {
		p := filepath.Join(h.dir, "revoked", e)
		var ts struct{ Until time.Time }
		b, _ := os.ReadFile(p)
		if json.Unmarshal(b, &ts) != nil || ts.Until.After(clk.Now()) {
			t.Fatalf("tombstone %s: %s", e, b)
		}
		old := clk.Now().Add(-2 * time.Hour)
		os.Chtimes(p, old, old)
	}
	if c, err = h.s.Sweep(ctx); err != nil || c.Tombstones != 1 {
		t.Errorf("Sweep past the tombstone's time: %+v, %v; want 1 tombstone removed", c, err)
	}
}

// TestSignUploadCapsTheLifetime: an upload target lives at most MaxURLTTL,
// so a tombstone kept that long outlives every target signed before it.
func TestSignUploadCapsTheLifetime(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	h := newHarness(t, local.Config{MaxURLTTL: time.Hour, Now: clk.Now})
	defer h.Close()
	target, err := h.s.SignUpload(context.Background(), signer.UploadRequest{Key: "k", Expires: clk.Now().Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(time.Hour); !target.Expires.Equal(want) {
		t.Errorf("target expires %s, want %s", target.Expires, want)
	}
}
