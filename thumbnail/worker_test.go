package thumbnail_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/signer/local"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/sqlite"
	"github.com/presignd/presignd/thumbnail"
	"github.com/presignd/presignd/thumbnail/thumbnailtest"
)

type rig struct {
	st     store.Store
	signer *local.Signer
	worker *thumbnail.Worker
	reg    *prometheus.Registry
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(dir, "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := local.New(local.Config{Dir: filepath.Join(dir, "objects"), BaseURL: "http://127.0.0.1:1", PathPrefix: "/objects/media/",
		Secret: bytes.Repeat([]byte("k"), 32), Name: "media"})
	if err != nil {
		t.Fatal(err)
	}
	caps := signer.CapabilitiesOf(l)
	reg := prometheus.NewRegistry()
	w, err := thumbnail.NewWorker(thumbnail.WorkerConfig{
		Files:      st,
		Backends:   map[string]thumbnail.Backend{"media": {Reader: caps.Reader, Writer: caps.Writer, Signer: l}},
		Specs:      map[string]thumbnail.Spec{"photos": {Sizes: sizes, Format: thumbnail.FormatPNG}},
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{st, l, w, reg}
}

// ready stores body as a READY photos file and returns its file.ready event.
func (r *rig) ready(t *testing.T, body []byte) *store.Event {
	t.Helper()
	id := uuid.NewString()
	f := &store.File{ID: id, Tenant: "acme", Category: "photos", Key: "acme/photos/" + id + ".img", Backend: "media",
		ContentType: "image/jpeg", SizeBytes: int64(len(body)), State: store.StateReady}
	if err := r.signer.WriteObject(t.Context(), f.Key, bytes.NewReader(body), int64(len(body)), f.ContentType); err != nil {
		t.Fatal(err)
	}
	if err := r.st.CreateFile(t.Context(), f, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	return &store.Event{ID: uuid.NewString(), Type: store.EventFileReady, Tenant: f.Tenant, Category: f.Category, FileID: f.ID, CreatedAt: time.Now()}
}

func TestWorker(t *testing.T) {
	t.Run("a READY photo gets its thumbnails written beside it and recorded, once", func(t *testing.T) {
		r := newRig(t)
		ev := r.ready(t, thumbnailtest.JPEG(800, 600))
		if err := r.worker.Deliver(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		f, err := r.st.GetFile(t.Context(), ev.Tenant, ev.FileID)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Thumbnails) != 2 {
			t.Fatalf("thumbnails = %+v", f.Thumbnails)
		}
		for i, want := range [][2]int{{128, 96}, {800, 600}} {
			th := f.Thumbnails[i]
			if th.Key != thumbnail.Key(f.Key, th.Name, thumbnail.FormatPNG) || !strings.HasSuffix(th.Key, "~thumbs/"+th.Name+".png") {
				t.Errorf("thumbnail %s key %q", th.Name, th.Key)
			}
			body, err := r.signer.ReadObject(t.Context(), th.Key, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			buf.ReadFrom(body)
			body.Close()
			cfg, format, err := image.DecodeConfig(bytes.NewReader(buf.Bytes()))
			if err != nil || format != "png" || cfg.Width != want[0] || cfg.Height != want[1] || int64(buf.Len()) != th.SizeBytes ||
				th.Width != int32(want[0]) || th.Height != int32(want[1]) || th.ContentType != "image/png" {
				t.Errorf("thumbnail %+v holds a %s %d×%d of %d bytes (%v), want png %v", th, format, cfg.Width, cfg.Height, buf.Len(), err, want)
			}
		}
		if err := r.worker.Deliver(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		if n := testutil.ToFloat64(mustCounter(t, r.reg, "presignd_thumbnails_generated_total")); n != 2 {
			t.Errorf("generated %v thumbnails over two deliveries of one event, want 2", n)
		}
	})

	t.Run("a bomb and bytes that are not an image get no thumbnails, and their events are done", func(t *testing.T) {
		r := newRig(t)
		for _, body := range [][]byte{thumbnailtest.BombPNG(100000, 100000), []byte("%PDF-1.7 not an image")} {
			ev := r.ready(t, body)
			if err := r.worker.Deliver(t.Context(), ev); err != nil {
				t.Fatalf("Deliver = %v, want nil: a refused image is not retried", err)
			}
			if f, _ := r.st.GetFile(t.Context(), ev.Tenant, ev.FileID); f == nil || f.Thumbnails != nil {
				t.Errorf("thumbnails %+v", f)
			}
		}
	})

	t.Run("a file deleted meanwhile, another category and another event type make nothing", func(t *testing.T) {
		r := newRig(t)
		ev := r.ready(t, thumbnailtest.JPEG(64, 64))
		for _, e := range []*store.Event{
			{Type: store.EventFileReady, Tenant: ev.Tenant, Category: "docs", FileID: ev.FileID},
			{Type: store.EventFileDeleted, Tenant: ev.Tenant, Category: ev.Category, FileID: ev.FileID},
			{Type: store.EventFileReady, Tenant: "other-tenant", Category: ev.Category, FileID: ev.FileID},
		} {
			if err := r.worker.Deliver(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		}
		if f, _ := r.st.GetFile(t.Context(), ev.Tenant, ev.FileID); f == nil || f.Thumbnails != nil {
			t.Errorf("thumbnails %+v", f)
		}
	})

	t.Run("a store that is down is an error, for the dispatcher to retry", func(t *testing.T) {
		r := newRig(t)
		ev := r.ready(t, thumbnailtest.JPEG(64, 64))
		r.st.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := r.worker.Deliver(ctx, ev); err == nil || errors.Is(err, thumbnail.ErrRefused) {
			t.Errorf("Deliver with the store closed = %v, want a retryable error", err)
		}
	})
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name})
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			c.Add(sum)
			return c
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
