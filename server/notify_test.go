package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/store"
)

const (
	testS3Token  = "s3-notification-secret"
	testGCSToken = "gcs-notification-secret"
)

// notifyEnv is a testEnv with the notification endpoints in front of it;
// bucket "uploads" is the local backend's.
type notifyEnv struct {
	*testEnv
	url string
	reg *prometheus.Registry
}

func newNotifyEnv(t testing.TB) *notifyEnv {
	t.Helper()
	env := newTestEnv(t)
	reg := prometheus.NewRegistry()
	files, ok := env.store.(store.PendingFiles)
	if !ok {
		t.Fatal("the SQLite store does not find PENDING files by key")
	}
	h, err := env.server.NotificationHandler(NotificationConfig{
		S3Token: testS3Token, GCSToken: testGCSToken, Buckets: map[string][]string{"uploads": {"local"}},
		Files: files, MaxBodyBytes: 4096, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &notifyEnv{testEnv: env, url: srv.URL, reg: reg}
}

// pending creates an upload of body's size for tenant and sends body
// unless send is false; it returns the file.
func (e *notifyEnv) pending(t *testing.T, tenant string, body []byte, send bool) *presigndv1.File {
	t.Helper()
	created, err := e.client.CreateUpload(e.as(tenant), &presigndv1.CreateUploadRequest{Filename: "n.txt", ContentType: "text/plain", SizeBytes: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	if send {
		if code := sendUpload(t, targetOf(t, created.GetUploadTarget()), body); code/100 != 2 {
			t.Fatalf("upload: %d", code)
		}
	}
	return created.GetFile()
}

func (e *notifyEnv) post(t *testing.T, path, auth string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (e *notifyEnv) state(t *testing.T, tenant, id string) *store.File {
	t.Helper()
	f, err := e.store.GetFile(context.Background(), tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// s3Body is a MinIO webhook notification of one object (key URL-encoded
// as MinIO encodes it).
func s3Body(event, bucket, key string) []byte {
	b, _ := json.Marshal(map[string]any{
		"EventName": event, "Key": bucket + "/" + key,
		"Records": []any{map[string]any{
			"eventVersion": "2.0", "eventSource": "minio:s3", "eventName": event,
			"s3": map[string]any{"bucket": map[string]any{"name": bucket}, "object": map[string]any{"key": url.QueryEscape(key), "size": 5}},
		}},
	})
	return b
}

func gcsBody(event, bucket, key string) []byte {
	b, _ := json.Marshal(map[string]any{
		"message":      map[string]any{"attributes": map[string]string{"eventType": event, "bucketId": bucket, "objectId": key}, "data": "e30=", "messageId": "1"},
		"subscription": "projects/p/subscriptions/presignd",
	})
	return b
}

func TestS3NotificationsCompleteOnlyWhatTheyMay(t *testing.T) {
	env := newNotifyEnv(t)
	tests := []struct {
		name       string
		send       bool   // the bytes are uploaded
		event      string // default s3:ObjectCreated:Put
		bucket     string // default uploads
		key        string // default the file's key
		auth       string // default the right bearer token
		wantStatus int
		wantState  store.State
		wantResult string
	}{
		{name: "an upload whose bytes arrived becomes READY", send: true, wantStatus: 200, wantState: store.StateReady, wantResult: notifyReady},
		{name: "AWS's event name without the s3: prefix works too", send: true, event: "ObjectCreated:CompleteMultipartUpload", wantStatus: 200, wantState: store.StateReady, wantResult: notifyReady},
		{name: "a wrong secret changes nothing", send: true, auth: "Bearer not-the-secret", wantStatus: 401, wantState: store.StatePending, wantResult: notifyUnauthorized},
		{name: "no secret changes nothing", send: true, auth: "-", wantStatus: 401, wantState: store.StatePending, wantResult: notifyUnauthorized},
		{name: "the secret without Bearer is refused", send: true, auth: testS3Token, wantStatus: 401, wantState: store.StatePending, wantResult: notifyUnauthorized},
		{name: "another bucket changes nothing", send: true, bucket: "elsewhere", wantStatus: 200, wantState: store.StatePending, wantResult: notifyOtherBucket},
		{name: "an unknown key changes nothing", send: true, key: "acme/default/nope.txt", wantStatus: 200, wantState: store.StatePending, wantResult: notifyUnknownKey},
		{name: "a removal changes nothing", send: true, event: "s3:ObjectRemoved:Delete", wantStatus: 200, wantState: store.StatePending, wantResult: notifyIgnored},
		{name: "a notification before the bytes leaves it PENDING", send: false, wantStatus: 200, wantState: store.StatePending, wantResult: notifyNotArrived},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := env.pending(t, "acme", []byte("hello"), tt.send)
			event, bucket, key, auth := tt.event, tt.bucket, tt.key, tt.auth
			if event == "" {
				event = "s3:ObjectCreated:Put"
			}
			if bucket == "" {
				bucket = "uploads"
			}
			if key == "" {
				key = f.GetKey()
			}
			switch auth {
			case "":
				auth = "Bearer " + testS3Token
			case "-":
				auth = ""
			}
			before := notifications(t, env.reg, notifyS3, tt.wantResult)
			if got := env.post(t, "/v1/notifications/s3", auth, s3Body(event, bucket, key)); got != tt.wantStatus {
				t.Fatalf("status %d, want %d", got, tt.wantStatus)
			}
			got := env.state(t, "acme", f.GetFileId())
			if got.State != tt.wantState {
				t.Fatalf("state %s, want %s", got.State, tt.wantState)
			}
			if tt.wantState == store.StateReady && got.CompletedBy != store.CompletedByNotification {
				t.Fatalf("completed by %q, want %q", got.CompletedBy, store.CompletedByNotification)
			}
			if after := notifications(t, env.reg, notifyS3, tt.wantResult); after != before+1 {
				t.Fatalf("presignd_notifications_total{source=s3,result=%s} went from %v to %v", tt.wantResult, before, after)
			}
		})
	}
}

func TestS3NotificationsRefuseBadBodies(t *testing.T) {
	env := newNotifyEnv(t)
	auth := "Bearer " + testS3Token
	tests := []struct {
		name string
		body []byte
		want int
	}{
		{"a body that is not JSON is 400", []byte("{not json"), 400},
		{"a key that is not URL-encoded is 400", []byte(`{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"uploads"},"object":{"key":"a%zz"}}}]}`), 400},
		{"a record without a bucket is 400", []byte(`{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"object":{"key":"a"}}}]}`), 400},
		{"a body over the limit is 413", []byte(`{"Records":[],"pad":"` + strings.Repeat("x", 5000) + `"}`), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := env.post(t, "/v1/notifications/s3", auth, tt.body); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
		})
	}
}

func TestGCSNotifications(t *testing.T) {
	env := newNotifyEnv(t)
	tests := []struct {
		name      string
		query     string
		auth      string
		event     string
		want      int
		wantState store.State
	}{
		{"the token as a query parameter completes the upload", "?token=" + testGCSToken, "", "OBJECT_FINALIZE", 200, store.StateReady},
		{"the token as a bearer completes the upload", "", "Bearer " + testGCSToken, "OBJECT_FINALIZE", 200, store.StateReady},
		{"a wrong token changes nothing", "?token=wrong", "", "OBJECT_FINALIZE", 401, store.StatePending},
		{"the S3 secret is not the GCS one", "", "Bearer " + testS3Token, "OBJECT_FINALIZE", 401, store.StatePending},
		{"another event type changes nothing", "?token=" + testGCSToken, "", "OBJECT_METADATA_UPDATE", 200, store.StatePending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := env.pending(t, "globex", []byte("hello"), true)
			if got := env.post(t, "/v1/notifications/gcs"+tt.query, tt.auth, gcsBody(tt.event, "uploads", f.GetKey())); got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
			if got := env.state(t, "globex", f.GetFileId()); got.State != tt.wantState {
				t.Fatalf("state %s, want %s", got.State, tt.wantState)
			}
		})
	}
}

func TestNotificationSourcesWithoutASecretAreOff(t *testing.T) {
	env := newTestEnv(t)
	files, _ := env.store.(store.PendingFiles)
	if files == nil {
		t.Fatal("the SQLite store does not find PENDING files by key")
	}
	h, err := env.server.NotificationHandler(NotificationConfig{S3Token: testS3Token, Files: files})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/notifications/gcs", strings.NewReader(string(gcsBody("OBJECT_FINALIZE", "b", "k")))))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("gcs without a token: status %d, want 404", rec.Code)
	}
}

// notifications reads presignd_notifications_total{source,result} from
// reg (0 when the series does not exist yet).
func notifications(t *testing.T, reg *prometheus.Registry, source, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "presignd_notifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["source"] == source && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// FuzzNotificationBodies: whatever body a holder of the secret sends,
// the endpoints answer 200, 400 or 413, never panic nor 5xx, and change
// only the upload the body names with its bytes arrived.
func FuzzNotificationBodies(f *testing.F) {
	f.Add(true, s3Body("s3:ObjectCreated:Put", "uploads", "acme/default/x.txt"))
	f.Add(true, []byte(`{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"uploads"},"object":{"key":"%2e%2e%2f%2e%2e%2fetc%2fpasswd"}}}]}`))
	f.Add(true, []byte(`{"Records":null}`))
	f.Add(false, gcsBody("OBJECT_FINALIZE", "uploads", "../../x"))
	f.Add(false, []byte(`{"message":{"attributes":{"eventType":"OBJECT_FINALIZE"}}}`))
	f.Add(false, []byte(`[]`))
	env := newNotifyEnv(f)
	f.Fuzz(func(t *testing.T, s3 bool, body []byte) {
		path, auth := "/v1/notifications/gcs", "Bearer "+testGCSToken
		if s3 {
			path, auth = "/v1/notifications/s3", "Bearer "+testS3Token
		}
		switch code := env.post(t, path, auth, body); code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q", code, body)
		}
	})
}

// staleFiles answers every lookup with one record as it was read earlier,
// as a lookup racing another completion of the same upload sees it.
type staleFiles struct{ f *store.File }

func (s staleFiles) PendingFileByKey(context.Context, string, string) (*store.File, error) {
	return s.f, nil
}

// Two notifications of one object racing (S3 may send one twice): only
// the one whose completion the store recorded counts as ready.
func TestRacingNotificationsCountOneCompletion(t *testing.T) {
	env := newTestEnv(t)
	created, err := env.client.CreateUpload(env.as("acme"), &presigndv1.CreateUploadRequest{Filename: "r.txt", ContentType: "text/plain", SizeBytes: 5})
	if err != nil {
		t.Fatal(err)
	}
	if code := sendUpload(t, targetOf(t, created.GetUploadTarget()), []byte("hello")); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	stale, err := env.store.GetFile(context.Background(), "acme", created.GetFile().GetFileId())
	if err != nil {
		t.Fatal(err)
	}
	// The first notification wins.
	if _, changed, err := env.server.CompletePending(context.Background(), stale, store.CompletedByNotification); err != nil || !changed {
		t.Fatalf("first completion: changed %v, %v", changed, err)
	}
	reg := prometheus.NewRegistry()
	h, err := env.server.NotificationHandler(NotificationConfig{
		S3Token: testS3Token, Buckets: map[string][]string{"uploads": {"local"}},
		Files: staleFiles{stale}, MaxBodyBytes: 4096, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	e := &notifyEnv{testEnv: env, url: srv.URL, reg: reg}
	if got := e.post(t, "/v1/notifications/s3", "Bearer "+testS3Token, s3Body("s3:ObjectCreated:Put", "uploads", stale.Key)); got != http.StatusOK {
		t.Fatalf("status %d, want 200", got)
	}
	if ready, late := notifications(t, reg, notifyS3, notifyReady), notifications(t, reg, notifyS3, notifyNotPending); ready != 0 || late != 1 {
		t.Fatalf("the losing notification counted ready %v, not_pending %v; want 0 and 1", ready, late)
	}
}
