package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/presignd/presignd/signer/gcs/gcstest"
)

// countingProxy stands between the CLI and storage (presignd's own HTTP
// port for the local backend, MinIO for S3): it forwards every request as
// it came, Host header included so that signatures still match, each until
// storage answers it even when the client has gone, and
// counts the bytes of the PUT bodies it forwards, which are the parts the
// CLI sends. When the count first reaches trigger it calls onTrigger,
// before it forwards another byte.
type countingProxy struct {
	URL    string
	target atomic.Pointer[url.URL]
	put    atomic.Int64
	active atomic.Int64 // requests being forwarded

	mu        sync.Mutex
	trigger   int64
	onTrigger func()
}

func newCountingProxy(t *testing.T) *countingProxy {
	t.Helper()
	p := &countingProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(p.target.Load())
			r.Out.Host = r.In.Host
			// A client that goes away does not cancel what reached
			// storage: a request ends when storage answers it (or the
			// client's body breaks off), so that no forwarded request is
			// still at work once active is 0.
			r.Out = r.Out.WithContext(context.WithoutCancel(r.In.Context()))
		},
		ErrorLog: log.New(io.Discard, "", 0), // a killed client's PUTs end in errors
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.active.Add(1)
		defer p.active.Add(-1)
		// Azure's Put Block List, presignd's own, is a PUT of XML.
		if r.Method == http.MethodPut && r.URL.Query().Get("comp") != "blocklist" {
			r.Body = &countedBody{ReadCloser: r.Body, p: p}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *countingProxy) forwardTo(t *testing.T, raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p.target.Store(u)
}

// arm makes the proxy call f once its PUT byte count reaches at.
func (p *countingProxy) arm(at int64, f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trigger, p.onTrigger = at, f
}

type countedBody struct {
	io.ReadCloser
	p *countingProxy
}

func (b *countedBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	if n > 0 {
		total := b.p.put.Add(int64(n))
		b.p.mu.Lock()
		if f := b.p.onTrigger; f != nil && total >= b.p.trigger {
			b.p.onTrigger = nil
			f()
		}
		b.p.mu.Unlock()
	}
	return n, err
}

// multipartCLIInstance starts presignd on backend ("local", "s3", "gcs" or
// "azure") with the part URLs routed through a counting proxy, and the
// default category cutting uploads of 16MiB and more into 5MiB parts.
func multipartCLIInstance(t *testing.T, backend string) (*instance, *countingProxy) {
	t.Helper()
	proxy := newCountingProxy(t)
	cfg := map[string]any{"categories": map[string]any{"default": map[string]any{
		"multipart": map[string]any{"threshold": "16MiB", "part_size": "5MiB"},
	}}}
	switch backend {
	case "local":
		cfg["public_url"] = proxy.URL
	case "s3":
		b := s3Backend(t)
		s3cfg := b["s3"].(map[string]any)
		proxy.forwardTo(t, s3cfg["endpoint"].(string))
		s3cfg["endpoint"] = proxy.URL
		cfg["backends"] = map[string]any{"s3": b}
	case "azure":
		b := azureBackend(t)
		azcfg := b["azure"].(map[string]any)
		endpoint, err := url.Parse(azcfg["endpoint"].(string))
		if err != nil {
			t.Fatal(err)
		}
		proxy.forwardTo(t, endpoint.Scheme+"://"+endpoint.Host)
		azcfg["endpoint"] = proxy.URL + endpoint.Path
		cfg["backends"] = map[string]any{"azure": b}
	case "gcs":
		fake := gcstest.NewServer(t, "cli-multipart")
		creds := filepath.Join(t.TempDir(), "service-account.json")
		if err := os.WriteFile(creds, fake.CredentialsJSON, 0o600); err != nil {
			t.Fatal(err)
		}
		proxy.forwardTo(t, fake.URL)
		cfg["backends"] = map[string]any{"gcs": map[string]any{"driver": "gcs", "gcs": map[string]any{
			"bucket": fake.Bucket, "credentials_file": creds, "endpoint": proxy.URL,
		}}}
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	inst := start(t, "--config", path)
	if backend == "local" {
		proxy.forwardTo(t, inst.HTTPURL)
	}
	return inst, proxy
}

// randomFile writes size random bytes to dir/name.
func randomFile(t *testing.T, dir, name string, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// uploadUntil runs "presignd upload" with args and sends it sig once the
// proxy has forwarded at bytes of parts; it returns the CLI's stderr and
// how it ended, and fails t when the CLI finished before the signal.
func uploadUntil(t *testing.T, inst *instance, proxy *countingProxy, dir, cache string, at int64, sig os.Signal, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"upload"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PRESIGND_URL="+inst.HTTPURL, "PRESIGND_API_KEY="+inst.APIKey, "XDG_CACHE_HOME="+cache)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var signalled atomic.Bool
	started := make(chan struct{})
	proxy.arm(at, func() {
		<-started
		// Recorded before the signal: the process may end, and Wait
		// return, before Signal does.
		signalled.Store(true)
		if cmd.Process.Signal(sig) != nil {
			signalled.Store(false)
		}
	})
	defer proxy.arm(0, nil)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	close(started)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("upload did not end within 3 minutes; stderr:\n%s", stderr.String())
	}
	if !signalled.Load() {
		t.Fatalf("upload ended (%v) before it sent %d bytes of parts; stdout %q, stderr:\n%s", err, at, stdout.String(), stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("interrupted upload printed %q on stdout, want nothing", stdout.String())
	}
	// Bytes the CLI wrote before it stopped may still be on their way to
	// storage; what storage holds is settled once the proxy forwards
	// nothing.
	eventually(t, time.Minute, func() (bool, string) {
		n := proxy.active.Load()
		return n == 0, fmt.Sprintf("%d requests still being forwarded", n)
	})
	return stderr.String(), err
}

// uploadState reads the one resume state the CLI keeps in cache, checking
// its mode, and returns its file id.
func uploadState(t *testing.T, cache string) string {
	t.Helper()
	states, _ := filepath.Glob(filepath.Join(cache, "presignd", "uploads", "*.json"))
	if len(states) != 1 {
		t.Fatalf("the CLI keeps %d upload states (%v), want 1", len(states), states)
	}
	info, err := os.Stat(states[0])
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("upload state has mode %v, want 0600", info.Mode().Perm())
	}
	raw, err := os.ReadFile(states[0])
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		FileID string `json:"file_id"`
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.FileID == "" {
		t.Fatalf("upload state %s: %v: %s", states[0], err, raw)
	}
	return st.FileID
}

// heldParts asks presignd's ListParts which parts storage holds; it
// returns their number and total size.
func heldParts(t *testing.T, inst *instance, id string) (int, int64) {
	t.Helper()
	code, body := inst.rest(t, http.MethodGet, "/v1/files/"+id+"/parts", nil)
	if code != http.StatusOK {
		t.Fatalf("ListParts %s: %d %v", id, code, body)
	}
	parts, _ := body["parts"].([]any)
	var size int64
	for _, p := range parts {
		n, err := strconv.ParseInt(str(p, "size_bytes"), 10, 64)
		if err != nil {
			t.Fatalf("ListParts part %v: size_bytes: %v", p, err)
		}
		size += n
	}
	return len(parts), size
}

// downloadSHA256 downloads id through the CLI and returns its SHA-256.
func downloadSHA256(t *testing.T, inst *instance, dir, id string) [32]byte {
	t.Helper()
	out := filepath.Join(dir, "download-"+id)
	if stdout, stderr, err := cli(t, inst, dir, nil, "download", id, "--output", out); err != nil || stdout != out+"\n" {
		t.Fatalf("download %s: stdout %q, err %v\n%s", id, stdout, err, stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(out)
	return sha256.Sum256(got)
}

// TestCLIMultipartUpload: "presignd upload" of files at or above the
// multipart threshold on the local backend, on MinIO, on the verifying
// GCS fake and on Azurite.
func TestCLIMultipartUpload(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"local", "s3", "gcs", "azure"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			inst, proxy := multipartCLIInstance(t, backend)
			t.Run("a 64MiB upload killed at half resumes where it stopped", func(t *testing.T) {
				runKilledAndResumed(t, inst, proxy, syscall.SIGKILL)
			})
			if backend == "local" {
				t.Run("Ctrl-C stops cleanly, keeping the state, and the upload resumes", func(t *testing.T) {
					runKilledAndResumed(t, inst, proxy, os.Interrupt)
				})
				t.Run("a file changed after an interruption starts over and the old upload is aborted", func(t *testing.T) {
					runChangedFileStartsOver(t, inst, proxy)
				})
			}
			for _, alg := range []string{"SHA256", "CRC32C"} {
				if backend == "gcs" && alg == "SHA256" || backend == "azure" {
					continue // GCS binds CRC32C part checksums only, Azure none
				}
				t.Run("parts bound to their "+alg, func(t *testing.T) {
					dir, cache := t.TempDir(), t.TempDir()
					src, data := randomFile(t, dir, "bound.bin", 11<<20+5)
					stdout, stderr, err := cli(t, inst, dir, []string{"XDG_CACHE_HOME=" + cache}, "upload", "--method", "multipart", "--part-checksum", alg, src)
					if err != nil || !fileID.MatchString(stdout) || stderr != "" {
						t.Fatalf("upload: stdout %q, err %v, stderr:\n%s", stdout, err, stderr)
					}
					id := strings.TrimSpace(stdout)
					_, body := inst.rest(t, http.MethodGet, "/v1/files/"+id, nil)
					if got := str(body, "file.multipart.part_checksum_algorithm"); got != "CHECKSUM_ALGORITHM_"+alg {
						t.Errorf("file's part checksum %q, want %s", got, alg)
					}
					if downloadSHA256(t, inst, dir, id) != sha256.Sum256(data) {
						t.Fatal("the downloaded file differs from the uploaded one")
					}
				})
			}
		})
	}
}

// runKilledAndResumed uploads a 64MiB file in 5MiB parts, stops the CLI
// with sig once half the bytes went out, and runs the same command again:
// the second run resumes the same upload, sends exactly the parts storage
// lacked, and the file ends READY with the same SHA-256; in all, less
// than 1.6 times the file went out.
func runKilledAndResumed(t *testing.T, inst *instance, proxy *countingProxy, sig os.Signal) {
	const size = 64 << 20
	dir, cache := t.TempDir(), t.TempDir()
	src, data := randomFile(t, dir, "big.bin", size)
	before := proxy.put.Load()
	stderr, err := uploadUntil(t, inst, proxy, dir, cache, before+size/2, sig, src)
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("interrupted upload: %v, want a failed exit", err)
	}
	if sig == os.Interrupt {
		// ExitCode is -1 for a process the signal ended.
		if exit.ExitCode() <= 0 || !strings.Contains(stderr, "interrupted") || !strings.Contains(stderr, "run the same command again to resume") {
			t.Errorf("after Ctrl-C: exit %d, stderr %q; want a clean exit, interrupted, and how to resume", exit.ExitCode(), stderr)
		}
	}
	firstRun := proxy.put.Load() - before
	id := uploadState(t, cache)
	held, heldBytes := heldParts(t, inst, id)
	if held == 0 || held >= 13 {
		t.Fatalf("after the interruption storage holds %d of 13 parts; want some, not all", held)
	}

	mark := proxy.put.Load()
	stdout, stderr, err := cli(t, inst, dir, []string{"XDG_CACHE_HOME=" + cache}, "upload", src)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, stderr)
	}
	if stdout != id+"\n" || stderr != "" {
		t.Fatalf("second run: stdout %q, stderr %q; want the interrupted upload's id %s alone", stdout, stderr, id)
	}
	secondRun := proxy.put.Load() - mark
	if secondRun != size-heldBytes {
		t.Errorf("the second run sent %d bytes of parts; storage held %d of %d, so want %d", secondRun, heldBytes, size, size-heldBytes)
	}
	total := firstRun + secondRun
	t.Logf("%s: first run sent %d bytes before it was stopped, storage held %d parts (%d bytes), second run sent %d: %.2fx the file",
		sig, firstRun, held, heldBytes, secondRun, float64(total)/size)
	if float64(total) >= 1.6*size {
		t.Errorf("sent %d bytes for a %d-byte file: %.2fx, want under 1.6x", total, size, float64(total)/size)
	}

	code, body := inst.rest(t, http.MethodGet, "/v1/files/"+id, nil)
	if code != http.StatusOK || str(body, "file.state") != "FILE_STATE_READY" || str(body, "file.size_bytes") != strconv.Itoa(size) {
		t.Fatalf("file %s: %d %v; want READY, %d bytes", id, code, body, size)
	}
	if downloadSHA256(t, inst, dir, id) != sha256.Sum256(data) {
		t.Fatal("the downloaded file's SHA-256 differs from the uploaded one's")
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "presignd", "uploads", "*")); len(left) != 0 {
		t.Errorf("the CLI left %v in its cache after the upload completed", left)
	}
}

// runChangedFileStartsOver interrupts an upload, changes the file, and
// runs the same command again: it uploads the new content as a new file
// and aborts the old upload.
func runChangedFileStartsOver(t *testing.T, inst *instance, proxy *countingProxy) {
	const size = 21 << 20
	dir, cache := t.TempDir(), t.TempDir()
	src, _ := randomFile(t, dir, "changing.bin", size)
	if _, err := uploadUntil(t, inst, proxy, dir, cache, proxy.put.Load()+size/2, syscall.SIGKILL, src, "--parallel", "2"); err == nil {
		t.Fatal("killed upload exited 0")
	}
	old := uploadState(t, cache)
	changed, data := randomFile(t, dir, "changing.bin", size+1)
	stdout, stderr, err := cli(t, inst, dir, []string{"XDG_CACHE_HOME=" + cache}, "upload", changed)
	if err != nil || !fileID.MatchString(stdout) || stdout == old+"\n" {
		t.Fatalf("upload of the changed file: stdout %q (the old upload was %s), err %v\n%s", stdout, old, err, stderr)
	}
	_, body := inst.rest(t, http.MethodGet, "/v1/files/"+old, nil)
	if got := str(body, "file.state"); got != "FILE_STATE_ABORTED" {
		t.Errorf("the old upload %s is %s, want ABORTED", old, got)
	}
	if downloadSHA256(t, inst, dir, strings.TrimSpace(stdout)) != sha256.Sum256(data) {
		t.Fatal("the downloaded file differs from the changed file")
	}
}
