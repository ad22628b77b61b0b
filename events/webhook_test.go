package events

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/presignd/presignd/store"
)

// verifySpec checks a request as the Standard Webhooks specification
// describes it, without the library that signed it: the signed content
// is "<webhook-id>.<webhook-timestamp>.<body>", HMAC-SHA256 with the
// key, base64, listed as "v1,<signature>" among space-separated ones.
func verifySpec(key []byte, h http.Header, body []byte) bool {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return false
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for s := range strings.SplitSeq(sigs, " ") {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}

type received struct {
	header http.Header
	body   []byte
}

func receiver(t *testing.T, status func(n int) int) (*httptest.Server, func() []received) {
	var (
		mu  sync.Mutex
		got []received
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.Header.Clone(), body})
		n := len(got)
		mu.Unlock()
		w.WriteHeader(status(n))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received { mu.Lock(); defer mu.Unlock(); return append([]received(nil), got...) }
}

func renderTest(f *store.File) ([]byte, error) {
	return json.Marshal(map[string]string{"file_id": f.ID, "tenant": f.Tenant, "state": string(f.State)})
}

func TestWebhookSignsAsTheStandardWebhooksSpecificationSays(t *testing.T) {
	srv, got := receiver(t, func(int) int { return http.StatusNoContent })
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := &store.Event{ID: "0194c1d2-7a3b-7c4d-8e5f-000000000001", Type: store.EventFileReady, Tenant: "acme", Category: "avatars",
		FileID: "f1", CreatedAt: at, File: &store.File{ID: "f1", Tenant: "acme", State: store.StateReady}}
	for _, c := range []struct {
		name, secret string
		key          []byte
	}{
		{"with a whsec_ secret, the decoded key", "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")), []byte("0123456789abcdef0123456789abcdef")},
		{"with a plain secret, its bytes", "a plain shared secret", []byte("a plain shared secret")},
	} {
		t.Run(c.name, func(t *testing.T) {
			wh, err := NewWebhook(WebhookConfig{URL: srv.URL, Secret: c.secret, Render: renderTest})
			if err != nil {
				t.Fatal(err)
			}
			before := len(got())
			if err := wh.Deliver(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			r := got()[before]
			if id := r.header.Get("webhook-id"); id != ev.ID {
				t.Errorf("webhook-id %q, want the event id %q", id, ev.ID)
			}
			if !verifySpec(c.key, r.header, r.body) {
				t.Error("the specification's algorithm does not verify the signature")
			}
			lib, err := standardwebhooks.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString(c.key))
			if err != nil {
				t.Fatal(err)
			}
			if err := lib.Verify(r.body, r.header); err != nil {
				t.Errorf("the reference library does not verify it: %v", err)
			}
			if verifySpec([]byte("another secret"), r.header, r.body) {
				t.Error("a wrong secret verifies the signature")
			}
			tampered := append([]byte(nil), r.body...)
			tampered[len(tampered)-2] ^= 1
			if verifySpec(c.key, r.header, tampered) {
				t.Error("a changed body verifies")
			}
			var payload struct {
				Type      string            `json:"type"`
				Timestamp time.Time         `json:"timestamp"`
				Data      map[string]string `json:"data"`
			}
			if err := json.Unmarshal(r.body, &payload); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if payload.Type != "file.ready" || !payload.Timestamp.Equal(at) || payload.Data["file_id"] != "f1" {
				t.Errorf("payload %s, want type file.ready, the event's time and the rendered file as data", r.body)
			}
		})
	}
}

func TestWebhookFailsUnlessTheReceiverAnswers2xx(t *testing.T) {
	ev := &store.Event{ID: "e1", Type: store.EventFileReady, Tenant: "acme", File: &store.File{ID: "f1"}}
	for _, c := range []struct {
		name   string
		status int
		ok     bool
	}{
		{"200 delivers", 200, true},
		{"204 delivers", 204, true},
		{"500 fails", 500, false},
		{"404 fails", 404, false},
		{"a redirect fails and is not followed", 302, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, got := receiver(t, func(int) int { return c.status })
			wh, err := NewWebhook(WebhookConfig{URL: srv.URL, Secret: "s", Render: renderTest})
			if err != nil {
				t.Fatal(err)
			}
			err = wh.Deliver(context.Background(), ev)
			if (err == nil) != c.ok {
				t.Errorf("Deliver = %v", err)
			}
			if n := len(got()); n != 1 {
				t.Errorf("receiver got %d requests, want 1", n)
			}
		})
	}
}

func TestNewWebhookRefusesBadSettings(t *testing.T) {
	for _, c := range []struct{ name, url, secret string }{
		{"an empty secret", "http://x", ""},
		{"a whsec_ secret with bad base64", "http://x", "whsec_!!"},
		{"a whsec_ secret with an empty key", "http://x", "whsec_"},
		{"a URL that is not http", "ftp://x", "s"},
		{"no URL", "", "s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewWebhook(WebhookConfig{URL: c.url, Secret: c.secret, Render: renderTest}); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// A receiver answering 500 three times then 200 sees the same
// webhook-id four times, and the delivery is marked delivered once.
func TestWebhookRetriedThroughTheDispatcherKeepsItsID(t *testing.T) {
	srv, got := receiver(t, func(n int) int {
		if n <= 3 {
			return 500
		}
		return 200
	})
	wh, err := NewWebhook(WebhookConfig{URL: srv.URL, Secret: "s", Render: renderTest})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	ob := &memOutbox{}
	ob.add(event("e1", "acme", "avatars", store.EventFileReady, clk.now()))
	d, err := New(Config{Outbox: ob, Now: clk.now, Retry: Retry{Initial: time.Second, Max: time.Second, GiveUpAfter: time.Hour},
		Routes: []Route{{Name: "webhook:a", Sink: wh}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := d.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		clk.add(2 * time.Second)
	}
	rs := got()
	if len(rs) != 4 {
		t.Fatalf("receiver got %d requests, want 4", len(rs))
	}
	for _, r := range rs {
		if id := r.header.Get("webhook-id"); id != "e1" {
			t.Errorf("webhook-id %q, want e1 every time", id)
		}
	}
	if dl := ob.deliveries[0]; dl.State != store.DeliveryDelivered || dl.Attempts != 4 {
		t.Errorf("delivery %s after %d attempts, want DELIVERED after 4", dl.State, dl.Attempts)
	}
}
