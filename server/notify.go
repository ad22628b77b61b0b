package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/store"
)

// NotificationConfig configures the storage notification endpoints
// (Server.NotificationHandler).
type NotificationConfig struct {
	// S3Token is the secret an S3-style notification (MinIO's webhook
	// target) carries as "Authorization: Bearer <token>"; empty turns
	// POST /v1/notifications/s3 off (404).
	S3Token string
	// GCSToken is the secret a GCS Pub/Sub push carries, as the token
	// query parameter or as "Authorization: Bearer <token>"; empty turns
	// POST /v1/notifications/gcs off (404).
	GCSToken string
	// Buckets maps a bucket to the configured backends that keep their
	// objects in it.
	Buckets map[string][]string
	// Files finds the PENDING upload of an object; the server's store
	// when nil.
	Files store.PendingFiles
	// MaxBodyBytes caps a notification's body (1 MiB when 0): over it,
	// 413 before more is read.
	MaxBodyBytes int64
	// Registerer, when set, receives presignd_notifications_total.
	Registerer prometheus.Registerer
}

// Notification sources and results, the labels of
// presignd_notifications_total.
const (
	notifyS3  = "s3"
	notifyGCS = "gcs"

	notifyReady        = "ready"        // the upload was made READY
	notifyFailed       = "failed"       // the object failed verification: FAILED
	notifyNotArrived   = "not_arrived"  // no object (or not every part) yet: still PENDING
	notifyNotPending   = "not_pending"  // the upload was completed already
	notifyUnknownKey   = "unknown_key"  // no PENDING upload has that object
	notifyOtherBucket  = "other_bucket" // no backend keeps that bucket
	notifyIgnored      = "ignored"      // not an object creation
	notifyUnauthorized = "unauthorized" // a missing or wrong secret
	notifyBadRequest   = "bad_request"  // a body that does not parse
	notifyError        = "error"        // the store or the backend failed: retry
)

// notifier serves the notification endpoints.
type notifier struct {
	s       *Server
	cfg     NotificationConfig
	s3Hash  [32]byte
	gcsHash [32]byte
	total   *prometheus.CounterVec
}

// NotificationHandler returns the handler of POST /v1/notifications/s3
// and POST /v1/notifications/gcs: storage telling presignd that an object
// was written. Each notification names a bucket and an object key; the
// PENDING upload of that object on a backend configured with that bucket
// is completed with CompletePending (completed by "notification").
//
// A notification with a missing or wrong secret is 401; one whose body
// does not parse is 400; one over MaxBodyBytes is 413. A notification of
// another bucket, an unknown key, an upload no longer PENDING or another
// kind of event changes nothing and is answered 200, so that storage does
// not resend it. Every notification is counted in
// presignd_notifications_total{source,result} and logged. When the store
// or the backend fails the answer is 503, for storage to retry.
func (s *Server) NotificationHandler(cfg NotificationConfig) (http.Handler, error) {
	if cfg.Files == nil {
		cfg.Files = s.store
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	n := &notifier{
		s: s, cfg: cfg,
		s3Hash: sha256.Sum256([]byte(cfg.S3Token)), gcsHash: sha256.Sum256([]byte(cfg.GCSToken)),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "presignd", Name: "notifications_total",
			Help: "Storage notifications received, by source (s3, gcs) and result (ready, failed, not_arrived, not_pending, unknown_key, other_bucket, ignored, unauthorized, bad_request, error).",
		}, []string{"source", "result"}),
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(n.total); err != nil {
			return nil, fmt.Errorf("server: register notification metrics: %w", err)
		}
	}
	mux := http.NewServeMux()
	if cfg.S3Token != "" {
		mux.HandleFunc("POST /v1/notifications/s3", n.serveS3)
	}
	if cfg.GCSToken != "" {
		mux.HandleFunc("POST /v1/notifications/gcs", n.serveGCS)
	}
	return mux, nil
}

// authorized compares the token the request carries with want's hash in
// constant time (hashing first, so that the length is not told either).
func authorized(got string, want [32]byte) bool {
	h := sha256.Sum256([]byte(got))
	return got != "" && subtle.ConstantTimeCompare(h[:], want[:]) == 1
}

func bearer(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

// objectRef is one object a notification names.
type objectRef struct{ bucket, key string }

// s3Event is the part of an S3 event notification presignd reads.
type s3Event struct {
	Records []struct {
		EventName string `json:"eventName"`
		S3        struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key string `json:"key"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

func (n *notifier) serveS3(w http.ResponseWriter, r *http.Request) {
	if !authorized(bearer(r), n.s3Hash) {
		n.refuse(w, r, notifyS3, http.StatusUnauthorized, notifyUnauthorized, "wrong or missing bearer token")
		return
	}
	var ev s3Event
	if !n.decode(w, r, notifyS3, &ev) {
		return
	}
	var refs []objectRef
	for i, rec := range ev.Records {
		// AWS writes "ObjectCreated:Put", MinIO "s3:ObjectCreated:Put".
		if !strings.HasPrefix(strings.TrimPrefix(rec.EventName, "s3:"), "ObjectCreated:") {
			n.count(r.Context(), notifyS3, notifyIgnored, "event", rec.EventName)
			continue
		}
		key, err := url.QueryUnescape(rec.S3.Object.Key)
		if err != nil || key == "" || rec.S3.Bucket.Name == "" {
			n.refuse(w, r, notifyS3, http.StatusBadRequest, notifyBadRequest, fmt.Sprintf("Records[%d]: the bucket name and a URL-encoded object key are required", i))
			return
		}
		refs = append(refs, objectRef{bucket: rec.S3.Bucket.Name, key: key})
	}
	n.complete(w, r, notifyS3, refs)
}

// pubsubPush is a Pub/Sub push request carrying a GCS notification.
type pubsubPush struct {
	Message struct {
		Attributes map[string]string `json:"attributes"`
	} `json:"message"`
}

func (n *notifier) serveGCS(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if token == "" {
		token = bearer(r)
	}
	if !authorized(token, n.gcsHash) {
		n.refuse(w, r, notifyGCS, http.StatusUnauthorized, notifyUnauthorized, "wrong or missing token")
		return
	}
	var push pubsubPush
	if !n.decode(w, r, notifyGCS, &push) {
		return
	}
	a := push.Message.Attributes
	if a["eventType"] != "OBJECT_FINALIZE" {
		n.count(r.Context(), notifyGCS, notifyIgnored, "event", a["eventType"])
		w.WriteHeader(http.StatusOK)
		return
	}
	if a["bucketId"] == "" || a["objectId"] == "" {
		n.refuse(w, r, notifyGCS, http.StatusBadRequest, notifyBadRequest, "message.attributes: bucketId and objectId are required")
		return
	}
	n.complete(w, r, notifyGCS, []objectRef{{bucket: a["bucketId"], key: a["objectId"]}})
}

// decode reads the body, at most MaxBodyBytes of it, into v, or answers
// the error and returns false.
func (n *notifier) decode(w http.ResponseWriter, r *http.Request, source string, v any) bool {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, n.cfg.MaxBodyBytes)).Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		n.refuse(w, r, source, http.StatusRequestEntityTooLarge, notifyBadRequest, fmt.Sprintf("the body is over %d bytes", n.cfg.MaxBodyBytes))
		return false
	case err != nil:
		n.refuse(w, r, source, http.StatusBadRequest, notifyBadRequest, "the body is not the expected JSON: "+err.Error())
		return false
	}
	return true
}

// complete completes the PENDING upload of each object, answering 503
// when one could not be looked at (the store or the backend failed).
func (n *notifier) complete(w http.ResponseWriter, r *http.Request, source string, refs []objectRef) {
	ctx := r.Context()
	failed := false
	for _, ref := range refs {
		result, f, err := n.completeObject(ctx, ref)
		attrs := []any{"bucket", ref.bucket, "key", ref.key}
		if f != nil {
			attrs = append(attrs, "tenant", f.Tenant, "file_id", f.ID)
		}
		if err != nil {
			failed = true
			attrs = append(attrs, "err", err)
		}
		n.count(ctx, source, result, attrs...)
	}
	if failed {
		http.Error(w, "the notification could not be handled now; send it again", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (n *notifier) completeObject(ctx context.Context, ref objectRef) (string, *store.File, error) {
	backends := n.cfg.Buckets[ref.bucket]
	if len(backends) == 0 {
		return notifyOtherBucket, nil, nil
	}
	for _, backend := range backends {
		f, err := n.cfg.Files.PendingFileByKey(ctx, backend, ref.key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return notifyError, nil, err
		}
		done, changed, err := n.s.CompletePending(ctx, f, store.CompletedByNotification)
		switch {
		case err != nil:
			return notifyError, f, err
		case changed && done.State == store.StateReady:
			return notifyReady, done, nil
		case changed && done.State == store.StateFailed:
			return notifyFailed, done, nil
		case done.State == store.StatePending:
			return notifyNotArrived, done, nil
		default:
			return notifyNotPending, done, nil
		}
	}
	return notifyUnknownKey, nil, nil
}

// refuse counts and logs a refused notification and answers status.
func (n *notifier) refuse(w http.ResponseWriter, r *http.Request, source string, status int, result, msg string) {
	n.count(r.Context(), source, result, "reason", msg)
	http.Error(w, msg, status)
}

func (n *notifier) count(ctx context.Context, source, result string, attrs ...any) {
	n.total.WithLabelValues(source, result).Inc()
	level := slog.LevelInfo
	switch result {
	case notifyUnauthorized, notifyError:
		level = slog.LevelWarn
	}
	n.s.log.Log(ctx, level, "storage notification", append([]any{"source", source, "result", result}, attrs...)...)
}
