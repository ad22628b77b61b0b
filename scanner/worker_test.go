package scanner_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/presignd/presignd/scanner"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
)

// verdictScanner answers every scan with its fields, after reading the
// whole stream, and counts the scans.
type verdictScanner struct {
	sig   string
	err   error
	scans atomic.Int64
	read  bytes.Buffer
}

func (v *verdictScanner) Scan(_ context.Context, r io.Reader) (string, error) {
	v.scans.Add(1)
	v.read.Reset()
	if _, err := io.Copy(&v.read, r); err != nil {
		return "", err
	}
	return v.sig, v.err
}

func (v *verdictScanner) Ping(context.Context) error { return v.err }

type fixture struct {
	st      *sqlite.Store
	signer  *local.Signer
	worker  *scanner.Worker
	scanner *verdictScanner
	reg     *prometheus.Registry
}

func newFixture(t *testing.T, sc *verdictScanner, quarantine bool) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "s.db"), Events: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sg, err := local.New(local.Config{Dir: t.TempDir(), BaseURL: "http://127.0.0.1:1", Secret: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	caps := signer.CapabilitiesOf(sg)
	reg := prometheus.NewRegistry()
	w, err := scanner.NewWorker(scanner.WorkerConfig{
		Scanner: sc, Files: st, Quarantine: quarantine, QuarantinePrefix: "quarantine/", Registerer: reg,
		Backends: map[string]scanner.Backend{"files": {Signer: sg, Reader: caps.Reader, Writer: caps.Writer}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, signer: sg, worker: w, scanner: sc, reg: reg}
}

// scanning stores body as a SCANNING file's object and returns the file
// and its file.scanning event.
func (fx *fixture) scanning(t *testing.T, body string) (*store.File, *store.Event) {
	t.Helper()
	ctx := t.Context()
	f := &store.File{ID: "f-" + strings.ReplaceAll(t.Name(), "/", "-"), Tenant: "acme", Category: "docs",
		Key: "acme/docs/" + strings.ReplaceAll(t.Name(), "/", "-") + ".txt", Backend: "files",
		ContentType: "text/plain", SizeBytes: int64(len(body)), State: store.StatePending}
	if err := fx.st.CreateFile(ctx, f, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	caps := signer.CapabilitiesOf(fx.signer)
	if err := caps.Writer.WriteObject(ctx, f.Key, strings.NewReader(body), int64(len(body)), "text/plain"); err != nil {
		t.Fatal(err)
	}
	f, err := fx.st.UpdateFile(ctx, "acme", f.ID, func(f *store.File) error { f.State = store.StateScanning; return nil })
	if err != nil {
		t.Fatal(err)
	}
	evs, err := fx.st.ClaimEvents(ctx, f.UpdatedAt.Add(1), f.UpdatedAt.Add(1), 10)
	if err != nil || len(evs) != 1 || evs[0].Type != store.EventFileScanning {
		t.Fatalf("events after SCANNING: %v, %v; want one file.scanning", evs, err)
	}
	return f, evs[0]
}

func (fx *fixture) object(t *testing.T, key string) (string, bool) {
	t.Helper()
	r, err := signer.CapabilitiesOf(fx.signer).Reader.ReadObject(t.Context(), key, 0, -1)
	if errors.Is(err, signer.ErrNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func TestWorker(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sig        string
		err        error
		quarantine bool
		wantState  store.State
		wantResult string
		wantAt     string // where the bytes end up; "" for nowhere
		wantErr    bool
	}{
		{name: "a clean file becomes READY and keeps its object", wantState: store.StateReady, wantResult: "clean", wantAt: "key"},
		{name: "an infected file is QUARANTINED and its object deleted", sig: "Eicar-Test-Signature", wantState: store.StateQuarantined, wantResult: "Eicar-Test-Signature"},
		{name: "an infected file is QUARANTINED and its object moved under the prefix", sig: "Eicar-Test-Signature", quarantine: true, wantState: store.StateQuarantined, wantResult: "Eicar-Test-Signature", wantAt: "quarantine"},
		{name: "a file over the scanner's size limit is QUARANTINED, never served unscanned", err: scanner.ErrTooLarge, wantState: store.StateQuarantined, wantResult: scanner.ResultTooLarge},
		{name: "a scanner that fails leaves the file SCANNING for a retry", err: errors.New("clamd: connection refused"), wantState: store.StateScanning, wantAt: "key", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := &verdictScanner{sig: tc.sig, err: tc.err}
			fx := newFixture(t, sc, tc.quarantine)
			body := "the bytes of " + tc.name
			f, ev := fx.scanning(t, body)
			err := fx.worker.Deliver(t.Context(), ev)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Deliver = %v, want an error: %v", err, tc.wantErr)
			}
			if sc.read.String() != body {
				t.Errorf("the scanner read %q, want the object's bytes", sc.read.String())
			}
			got, err := fx.st.GetFile(t.Context(), "acme", f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.wantState || got.ScanResult != tc.wantResult {
				t.Errorf("file is %s with ScanResult %q, want %s with %q", got.State, got.ScanResult, tc.wantState, tc.wantResult)
			}
			atKey, inKey := fx.object(t, f.Key)
			atQ, inQ := fx.object(t, "quarantine/"+f.Key)
			switch tc.wantAt {
			case "key":
				if !inKey || atKey != body || inQ {
					t.Errorf("object at key %v, in quarantine %v; want at its key only", inKey, inQ)
				}
			case "quarantine":
				if inKey || !inQ || atQ != body {
					t.Errorf("object at key %v, in quarantine %v; want moved to quarantine/ whole", inKey, inQ)
				}
			default:
				if inKey || inQ {
					t.Errorf("object at key %v, in quarantine %v; want gone", inKey, inQ)
				}
			}
		})
	}
}

func TestWorkerRepeatedEvents(t *testing.T) {
	t.Run("a repeated event of a READY file scans nothing again", func(t *testing.T) {
		sc := &verdictScanner{}
		fx := newFixture(t, sc, false)
		_, ev := fx.scanning(t, "clean")
		for range 2 {
			if err := fx.worker.Deliver(t.Context(), ev); err != nil {
				t.Fatal(err)
			}
		}
		if n := sc.scans.Load(); n != 1 {
			t.Errorf("%d scans, want 1", n)
		}
		if n := testutil.ToFloat64(scanCounter(t, fx.reg, "clean")); n != 1 {
			t.Errorf("presignd_scan_files_total{result=clean} = %v, want 1", n)
		}
	})

	t.Run("an infected object whose removal failed is removed when the event is retried, without a second scan", func(t *testing.T) {
		sc := &verdictScanner{sig: "Bad"}
		fx := newFixture(t, sc, true)
		f, ev := fx.scanning(t, "infected")
		flaky := &flakyDelete{Signer: fx.signer, fails: 1}
		caps := signer.CapabilitiesOf(fx.signer)
		w, err := scanner.NewWorker(scanner.WorkerConfig{Scanner: sc, Files: fx.st, Quarantine: true, QuarantinePrefix: "quarantine/",
			Backends: map[string]scanner.Backend{"files": {Signer: flaky, Reader: caps.Reader, Writer: caps.Writer}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Deliver(t.Context(), ev); err == nil {
			t.Fatal("Deliver succeeded although the infected object could not be removed")
		}
		if got, _ := fx.st.GetFile(t.Context(), "acme", f.ID); got.State != store.StateQuarantined {
			t.Fatalf("file is %s after the failed removal, want QUARANTINED", got.State)
		}
		if _, there := fx.object(t, f.Key); !there {
			t.Fatal("the object is gone although its removal failed")
		}
		if err := w.Deliver(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		if _, there := fx.object(t, f.Key); there {
			t.Error("the infected object is still at its key")
		}
		if n := sc.scans.Load(); n != 1 {
			t.Errorf("%d scans, want 1", n)
		}
	})

	t.Run("events of other types and of deleted files are nothing to do", func(t *testing.T) {
		sc := &verdictScanner{}
		fx := newFixture(t, sc, false)
		f, ev := fx.scanning(t, "x")
		other := *ev
		other.Type = store.EventFileReady
		if err := fx.worker.Deliver(t.Context(), &other); err != nil {
			t.Fatal(err)
		}
		if err := fx.st.DeleteFile(t.Context(), "acme", f.ID); err != nil {
			t.Fatal(err)
		}
		if err := fx.worker.Deliver(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		if n := sc.scans.Load(); n != 0 {
			t.Errorf("%d scans, want none", n)
		}
	})
}

func scanCounter(t *testing.T, reg *prometheus.Registry, result string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "presignd_scan_files_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
					c.Add(m.GetCounter().GetValue())
					return c
				}
			}
		}
	}
	t.Fatalf("no presignd_scan_files_total{result=%q}", result)
	return nil
}

func TestNewWorkerRefusesBackendsThatCannotReadOrWrite(t *testing.T) {
	sg, err := local.New(local.Config{Dir: t.TempDir(), BaseURL: "http://127.0.0.1:1", Secret: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	caps := signer.CapabilitiesOf(sg)
	for _, tc := range []struct {
		name       string
		b          scanner.Backend
		quarantine bool
	}{
		{name: "a backend without a reader", b: scanner.Backend{Signer: sg}},
		{name: "a backend without a writer, with quarantine", b: scanner.Backend{Signer: sg, Reader: caps.Reader}, quarantine: true},
	} {
		_, err := scanner.NewWorker(scanner.WorkerConfig{Scanner: &verdictScanner{}, Files: stubFiles{},
			Backends: map[string]scanner.Backend{"b": tc.b}, Quarantine: tc.quarantine})
		if err == nil {
			t.Errorf("%s: NewWorker succeeded", tc.name)
		}
	}
}

type stubFiles struct{ scanner.Files }

// flakyDelete is a signer whose first fails deletions fail.
type flakyDelete struct {
	signer.Signer
	fails int
}

func (f *flakyDelete) Delete(ctx context.Context, key string) error {
	if f.fails > 0 {
		f.fails--
		return errors.New("storage unavailable")
	}
	return f.Signer.Delete(ctx, key)
}
