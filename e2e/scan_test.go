package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presignd/presignd/internal/testenv"
)

// eicar is the EICAR anti-virus test file: harmless bytes every scanner,
// and the test signature database of .ci/clamd.sh, reports as infected.
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// clamdProxy forwards connections to the test clamd, counts the scans
// (INSTREAM sessions) it forwards, and plays a clamd that is down (each
// connection closed at once, unanswered) while down is set.
type clamdProxy struct {
	addr    string
	down    atomic.Bool
	scans   atomic.Int64
	refused atomic.Int64
}

func newClamdProxy(t *testing.T) *clamdProxy {
	t.Helper()
	target := testenv.Get(t, "PRESIGND_TEST_CLAMD_ADDR",
		"start clamd with a test database (source .ci/clamd.sh && clamd_start) to run the scanning tests")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &clamdProxy{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				if p.down.Load() {
					p.refused.Add(1)
					return
				}
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				cmd := make([]byte, len("zINSTREAM\x00"))
				n, _ := io.ReadFull(conn, cmd)
				if string(cmd[:n]) == "zINSTREAM\x00" {
					p.scans.Add(1)
				}
				if _, err := up.Write(cmd[:n]); err != nil {
					return
				}
				go func() { _, _ = io.Copy(up, conn) }()
				_, _ = io.Copy(conn, up)
			})
		}
	})
	return p
}

// scanConfig is a config whose category "scanned" scans with the clamd at
// addr, quarantining infected objects, and whose outbox is polled often;
// events (webhooks, NATS) stay off.
func scanConfig(addr, objects string) string {
	return fmt.Sprintf(`log: {format: json}
backends:
  files:
    driver: local
    local: {dir: %q}
categories:
  scanned: {scan: true}
  plain: {}
events:
  interval: 20ms
  retry: {initial: 50ms, max: 200ms, give_up_after: 1h}
scan: {clamd: %q, on_infected: quarantine}
`, objects, addr)
}

// uploadToComplete uploads body into category and completes it; it returns
// the file id and the state CompleteUpload answered.
func uploadToComplete(t *testing.T, inst *instance, category, name string, body []byte) (id, state string) {
	t.Helper()
	code, created := inst.rest(t, http.MethodPost, "/v1/uploads", map[string]any{
		"category": category, "filename": name, "content_type": "text/plain", "size_bytes": len(body),
	})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	if code := upload(t, targetFromJSON(t, field(created, "upload_target")), body); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	id = str(created, "file.file_id")
	code, done := inst.rest(t, http.MethodPost, "/v1/files/"+id+":complete", nil)
	if code != http.StatusOK {
		t.Fatalf("CompleteUpload: %d %v", code, done)
	}
	return id, str(done, "file.state")
}

// waitForState waits until file id leaves FILE_STATE_SCANNING and returns
// the file as REST shows it.
func waitForState(t *testing.T, inst *instance, id string) map[string]any {
	t.Helper()
	var got map[string]any
	eventually(t, 20*time.Second, func() (bool, string) {
		code, f := inst.rest(t, http.MethodGet, "/v1/files/"+id, nil)
		if code != http.StatusOK {
			t.Fatalf("GetFile %s: %d %v", id, code, f)
		}
		got = f
		return str(f, "file.state") != "FILE_STATE_SCANNING", "file " + id + " is " + str(f, "file.state")
	})
	return got
}

// filesHolding lists the files under dir whose content is body. The
// local backend removes folders a deletion empties: one that goes while it
// is walked is skipped.
func filesHolding(t *testing.T, dir string, body []byte) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, body) {
			rel, _ := filepath.Rel(dir, path)
			found = append(found, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestMalwareScanning(t *testing.T) {
	proxy := newClamdProxy(t)
	objects := filepath.Join(t.TempDir(), "objects")
	inst := start(t, "--config", writeConfig(t, scanConfig(proxy.addr, objects)))

	t.Run("the EICAR file ends QUARANTINED, moved under the quarantine prefix, and its download URL is refused", func(t *testing.T) {
		id, state := uploadToComplete(t, inst, "scanned", "eicar.txt", []byte(eicar))
		if state != "FILE_STATE_SCANNING" {
			t.Fatalf("CompleteUpload answered %s, want FILE_STATE_SCANNING", state)
		}
		got := waitForState(t, inst, id)
		if s := str(got, "file.state"); s != "FILE_STATE_QUARANTINED" {
			t.Fatalf("state %s, want FILE_STATE_QUARANTINED: %v", s, got)
		}
		if r := str(got, "file.scan_result"); !strings.HasPrefix(r, "Eicar-Test-Signature") {
			t.Errorf("scan_result %q, want the EICAR signature", r)
		}
		// FailedPrecondition (gRPC code 9): a QUARANTINED file never
		// becomes READY, so REST answers 400, not 409.
		code, body := inst.rest(t, http.MethodPost, "/v1/files/"+id+":download", nil)
		if code != http.StatusBadRequest || field(body, "code") != float64(9) {
			t.Errorf("CreateDownloadUrl of a QUARANTINED file: %d %v, want 400 with code 9 (FailedPrecondition)", code, body)
		}
		eventually(t, 10*time.Second, func() (bool, string) {
			held := filesHolding(t, objects, []byte(eicar))
			return len(held) == 1 && strings.Contains(held[0], "quarantine"), fmt.Sprintf("the EICAR bytes are at %v, want only under quarantine/", held)
		})
	})

	t.Run("a clean file ends READY with scan_result clean and downloads", func(t *testing.T) {
		body := []byte("a perfectly clean text file\n")
		id, state := uploadToComplete(t, inst, "scanned", "clean.txt", body)
		if state != "FILE_STATE_SCANNING" {
			t.Fatalf("CompleteUpload answered %s, want FILE_STATE_SCANNING", state)
		}
		code, refused := inst.rest(t, http.MethodPost, "/v1/files/"+id+":download", nil)
		if s := str(waitForState(t, inst, id), "file.state"); s != "FILE_STATE_READY" {
			t.Fatalf("state %s, want FILE_STATE_READY", s)
		}
		// Asked while SCANNING (409: FailedPrecondition with a
		// PreconditionFailure, the file may get there), unless the scan was
		// faster than the call.
		if code != http.StatusConflict && code != http.StatusOK {
			t.Errorf("CreateDownloadUrl while SCANNING: %d %v, want 409", code, refused)
		}
		code, got := inst.rest(t, http.MethodGet, "/v1/files/"+id, nil)
		if code != http.StatusOK || str(got, "file.scan_result") != "clean" {
			t.Errorf("GetFile: %d scan_result %q, want clean", code, str(got, "file.scan_result"))
		}
		code, dl := inst.rest(t, http.MethodPost, "/v1/files/"+id+":download", nil)
		if code != http.StatusOK {
			t.Fatalf("CreateDownloadUrl: %d %v", code, dl)
		}
		if status, b, _ := download(t, str(dl, "url")); status != http.StatusOK || !bytes.Equal(b, body) {
			t.Errorf("download: %d %q", status, b)
		}
	})

	t.Run("a category that does not scan makes files READY at once", func(t *testing.T) {
		_, state := uploadToComplete(t, inst, "plain", "eicar-unscanned.txt", []byte(eicar))
		if state != "FILE_STATE_READY" {
			t.Fatalf("CompleteUpload in a category without scan answered %s, want FILE_STATE_READY", state)
		}
	})

	t.Run("with clamd down files wait SCANNING, and finish once it is back", func(t *testing.T) {
		proxy.down.Store(true)
		refusedBefore := proxy.refused.Load()
		clean, _ := uploadToComplete(t, inst, "scanned", "later-clean.txt", []byte("scanned later\n"))
		infected, _ := uploadToComplete(t, inst, "scanned", "later-eicar.txt", []byte(eicar))
		// Each file's scan was tried, and retried, against the dead clamd.
		eventually(t, 20*time.Second, func() (bool, string) {
			return proxy.refused.Load()-refusedBefore >= 4, "fewer than 4 attempts reached the dead clamd"
		})
		for _, id := range []string{clean, infected} {
			code, f := inst.rest(t, http.MethodGet, "/v1/files/"+id, nil)
			if code != http.StatusOK || str(f, "file.state") != "FILE_STATE_SCANNING" {
				t.Fatalf("with clamd down, file %s is %d %s, want SCANNING", id, code, str(f, "file.state"))
			}
			// FailedPrecondition with a PreconditionFailure: 409, the
			// file may become READY.
			if code, body := inst.rest(t, http.MethodPost, "/v1/files/"+id+":download", nil); code != http.StatusConflict {
				t.Errorf("CreateDownloadUrl of a SCANNING file: %d %v, want 409", code, body)
			}
		}
		if n := inst.metric(t, `presignd_scan_errors_total{stage="scan"}`); n < 4 {
			t.Errorf("presignd_scan_errors_total{stage=scan} = %v, want the failed attempts counted", n)
		}
		proxy.down.Store(false)
		if s := str(waitForState(t, inst, clean), "file.state"); s != "FILE_STATE_READY" {
			t.Errorf("clean file after clamd came back: %s, want READY", s)
		}
		if s := str(waitForState(t, inst, infected), "file.state"); s != "FILE_STATE_QUARANTINED" {
			t.Errorf("EICAR file after clamd came back: %s, want QUARANTINED", s)
		}
	})
}

func TestMalwareScanningReplicasScanEachFileOnce(t *testing.T) {
	proxy := newClamdProxy(t)
	cfg, _, _ := postgresReplicas(t, fmt.Sprintf(`categories:
  scanned: {scan: true}
events:
  interval: 10ms
  retry: {initial: 50ms, max: 200ms, give_up_after: 1h}
scan: {clamd: %q}
sweeper: {interval: 0s}
`, proxy.addr))
	a := start(t, "--config", cfg)
	b := start(t, "--config", cfg)
	const n = 12
	ids := make([]string, 0, n)
	for i := range n {
		inst, body := a, []byte(fmt.Sprintf("clean file %d\n", i))
		if i%2 == 1 {
			inst = b
		}
		if i%3 == 0 {
			body = []byte(eicar)
		}
		id, _ := uploadToComplete(t, inst, "scanned", fmt.Sprintf("f%d.txt", i), body)
		ids = append(ids, id)
	}
	for i, id := range ids {
		want := "FILE_STATE_READY"
		if i%3 == 0 {
			want = "FILE_STATE_QUARANTINED"
		}
		if s := str(waitForState(t, a, id), "file.state"); s != want {
			t.Errorf("file %d: %s, want %s", i, s, want)
		}
	}
	if got := proxy.scans.Load(); got != n {
		t.Errorf("clamd received %d scans for %d files, want one each", got, n)
	}
	total := 0.0
	per := map[string]float64{}
	for name, inst := range map[string]*instance{"A": a, "B": b} {
		for _, r := range []string{"clean", "infected"} {
			v := inst.metric(t, `presignd_scan_files_total{result="`+r+`"}`)
			per[name] += v
			total += v
		}
	}
	if total != n {
		t.Errorf("the replicas' presignd_scan_files_total sum to %v (%v), want %d", total, per, n)
	}
	t.Logf("scans per replica: %v", per)
}
