package local_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/signer/signertest"
)

func TestConformance(t *testing.T) {
	signertest.Run(t, func(t *testing.T) signertest.Harness {
		return newHarness(t, local.Config{MinPartSize: 64 << 10})
	})
}

// harness serves a Signer over a temp dir through httptest.
type harness struct {
	s   *local.Signer
	srv *httptest.Server
	dir string
}

// newHarness starts a server for a Signer built from cfg, filling in Dir,
// BaseURL and Secret when they are empty.
func newHarness(t *testing.T, cfg local.Config) *harness {
	t.Helper()
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = srv.URL
	}
	if cfg.Secret == nil {
		cfg.Secret = []byte("0123456789abcdef0123456789abcdef")
	}
	s, err := local.New(cfg)
	if err != nil {
		srv.Close()
		t.Fatalf("local.New: %v", err)
	}
	handler = s.Handler()
	return &harness{s: s, srv: srv, dir: cfg.Dir}
}

func (h *harness) Signer() signer.Signer    { return h.s }
func (h *harness) HTTPClient() *http.Client { return h.srv.Client() }
func (h *harness) Close() {
	h.srv.Close()
	h.s.Close()
}

func (h *harness) Capabilities() signertest.Capabilities {
	return signertest.Capabilities{
		PostPolicy:         true,
		EnforcesPutMaxSize: true,
		RevokesOnDelete:    true,
		Checksums:          []string{signer.SHA256, signer.MD5, signer.CRC32C},
		Multipart:          true,
		MultipartLister:    true,
		Objects:            true,
		PartChecksums:      []string{signer.SHA256, signer.CRC32C},
		EnforcesPartSize:   true,
	}
}

// TestWriteObjectAfterDelete: a write racing a deletion does not bring the
// key back while its tombstone makes every URL answer 410.
func TestWriteObjectAfterDelete(t *testing.T) {
	h := newHarness(t, local.Config{})
	defer h.Close()
	ctx := t.Context()
	key := "derived/thumb.webp"
	if err := h.s.WriteObject(ctx, key, strings.NewReader("first"), 5, "image/webp"); err != nil {
		t.Fatalf("WriteObject: %v", err)
	}
	if err := h.s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := h.s.ReadObject(ctx, key, 0, -1); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("ReadObject after Delete: %v, want ErrNotFound", err)
	}
	if err := h.s.WriteObject(ctx, key, strings.NewReader("again"), 5, "image/webp"); err == nil {
		t.Error("WriteObject into a deleted key: nil error, want a refusal")
	}
	if _, err := h.s.Stat(ctx, key); !errors.Is(err, signer.ErrNotFound) {
		t.Errorf("Stat after the refused write: %v, want ErrNotFound", err)
	}
}
