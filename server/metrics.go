package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

// Metrics are presignd's Prometheus metrics: RPC counts and handling times
// by method and code (the series of the go-grpc-middleware Prometheus
// provider, see rpcMetrics), uploads by the state they enter, and signer
// latency by backend and operation.
// A nil *Metrics records nothing.
type Metrics struct {
	grpc    *rpcMetrics
	uploads *prometheus.CounterVec
	signer  *prometheus.HistogramVec
}

// latencyBuckets span a fast local signature (tens of µs) to a slow remote
// call (seconds).
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// NewMetrics creates presignd's metrics and registers them with reg:
//
//	grpc_server_started_total, grpc_server_handled_total{grpc_code},
//	grpc_server_handling_seconds (histogram), grpc_server_msg_*_total
//	presignd_uploads_total{state}: uploads entering PENDING, READY, FAILED, ABORTED
//	presignd_signer_duration_seconds{backend,operation,result}
//
// It fails when reg already holds metrics of those names.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		grpc: newRPCMetrics(latencyBuckets),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "presignd", Name: "uploads_total",
			Help: "Uploads entering a state: PENDING when created, READY or FAILED when completed, ABORTED when given up.",
		}, []string{"state"}),
		signer: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "presignd", Name: "signer_duration_seconds",
			Help:    "Time spent in storage backend operations, by backend name, operation and result (ok, not_found, error).",
			Buckets: latencyBuckets,
		}, []string{"backend", "operation", "result"}),
	}
	for _, c := range []prometheus.Collector{m.grpc, m.uploads, m.signer} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	for _, st := range []store.State{store.StatePending, store.StateReady, store.StateFailed, store.StateAborted, store.StateScanning} {
		m.uploads.WithLabelValues(string(st))
	}
	return m, nil
}

// unaryInterceptor counts and times every call by method and final code.
func (m *Metrics) unaryInterceptor() grpc.UnaryServerInterceptor {
	if m == nil {
		return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			return handler(ctx, req)
		}
	}
	return m.grpc.unaryInterceptor
}

// initialize creates the zero series of every method g serves, so that
// dashboards see every method before its first call.
func (m *Metrics) initialize(g *grpc.Server) {
	if m != nil {
		m.grpc.initialize(g)
	}
}

// uploadEntered records an upload entering state.
func (m *Metrics) uploadEntered(state store.State) {
	if m != nil {
		m.uploads.WithLabelValues(string(state)).Inc()
	}
}

// InstrumentSigners returns signers that behave as those given and record
// the duration of every operation under their backend name. With nil
// Metrics it returns backends unchanged. A signer that implements
// signer.PostPolicySigner or signer.MultipartUploader still does once
// wrapped (and its calls are timed), and one that does not still does
// not. Other capabilities (Leftovers, MultipartLister, Closer) are the
// sweeper's and the wiring's: they take them from the signers
// themselves.
func (m *Metrics) InstrumentSigners(backends map[string]signer.Signer) map[string]signer.Signer {
	if m == nil {
		return backends
	}
	out := make(map[string]signer.Signer, len(backends))
	for name, b := range backends {
		in := &instrumentedSigner{inner: b, name: name, hist: m.signer}
		caps := signer.CapabilitiesOf(b)
		switch post, mp := caps.PostPolicy, caps.Multipart; {
		case post != nil && mp != nil:
			out[name] = &instrumentedPostMultipartSigner{instrumentedMultipartSigner: &instrumentedMultipartSigner{instrumentedSigner: in, mp: mp}, post: post}
		case post != nil:
			out[name] = &instrumentedPostSigner{instrumentedSigner: in, post: post}
		case mp != nil:
			out[name] = &instrumentedMultipartSigner{instrumentedSigner: in, mp: mp}
		default:
			out[name] = in
		}
	}
	return out
}

// instrumentedSigner times the operations of a signer.Signer.
type instrumentedSigner struct {
	inner signer.Signer
	name  string
	hist  *prometheus.HistogramVec
}

func (s *instrumentedSigner) observe(op string, start time.Time, err error) {
	result := "ok"
	switch {
	case errors.Is(err, signer.ErrNotFound):
		result = "not_found"
	case err != nil:
		result = "error"
	}
	s.hist.WithLabelValues(s.name, op, result).Observe(time.Since(start).Seconds())
}

// Unwrap returns the signer being instrumented.
func (s *instrumentedSigner) Unwrap() signer.Signer { return s.inner }

func (s *instrumentedSigner) SignUpload(ctx context.Context, req signer.UploadRequest) (signer.UploadTarget, error) {
	start := time.Now()
	t, err := s.inner.SignUpload(ctx, req)
	s.observe("sign_upload", start, err)
	return t, err
}

func (s *instrumentedSigner) SignDownload(ctx context.Context, req signer.DownloadRequest) (string, error) {
	start := time.Now()
	u, err := s.inner.SignDownload(ctx, req)
	s.observe("sign_download", start, err)
	return u, err
}

func (s *instrumentedSigner) Stat(ctx context.Context, key string) (signer.ObjectInfo, error) {
	start := time.Now()
	info, err := s.inner.Stat(ctx, key)
	s.observe("stat", start, err)
	return info, err
}

func (s *instrumentedSigner) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := s.inner.Delete(ctx, key)
	s.observe("delete", start, err)
	return err
}

func (s *instrumentedSigner) StorageURI(key string) string { return s.inner.StorageURI(key) }

// instrumentedPostSigner is an instrumentedSigner of a backend that signs
// POST policies.
type instrumentedPostSigner struct {
	*instrumentedSigner
	post signer.PostPolicySigner
}

func (s *instrumentedPostSigner) SignPostUpload(ctx context.Context, req signer.UploadRequest) (signer.UploadTarget, error) {
	start := time.Now()
	t, err := s.post.SignPostUpload(ctx, req)
	s.observe("sign_post_upload", start, err)
	return t, err
}

// instrumentedMultipartSigner is an instrumentedSigner of a backend that
// takes multipart uploads.
type instrumentedMultipartSigner struct {
	*instrumentedSigner
	mp signer.MultipartUploader
}

func (s *instrumentedMultipartSigner) PartLimits() signer.PartLimits { return s.mp.PartLimits() }

func (s *instrumentedMultipartSigner) CreateMultipart(ctx context.Context, req signer.UploadRequest) (string, error) {
	start := time.Now()
	id, err := s.mp.CreateMultipart(ctx, req)
	s.observe("create_multipart", start, err)
	return id, err
}

func (s *instrumentedMultipartSigner) SignPart(ctx context.Context, req signer.PartRequest) (signer.UploadTarget, error) {
	start := time.Now()
	t, err := s.mp.SignPart(ctx, req)
	s.observe("sign_part", start, err)
	return t, err
}

func (s *instrumentedMultipartSigner) ListParts(ctx context.Context, key, uploadID string) ([]signer.Part, error) {
	start := time.Now()
	parts, err := s.mp.ListParts(ctx, key, uploadID)
	s.observe("list_parts", start, err)
	return parts, err
}

func (s *instrumentedMultipartSigner) CompleteMultipart(ctx context.Context, key, uploadID string, parts []signer.Part) error {
	start := time.Now()
	err := s.mp.CompleteMultipart(ctx, key, uploadID, parts)
	s.observe("complete_multipart", start, err)
	return err
}

func (s *instrumentedMultipartSigner) AbortMultipart(ctx context.Context, key, uploadID string) error {
	start := time.Now()
	err := s.mp.AbortMultipart(ctx, key, uploadID)
	s.observe("abort_multipart", start, err)
	return err
}

// instrumentedPostMultipartSigner is an instrumentedSigner of a backend
// that signs POST policies and takes multipart uploads.
type instrumentedPostMultipartSigner struct {
	*instrumentedMultipartSigner
	post signer.PostPolicySigner
}

func (s *instrumentedPostMultipartSigner) SignPostUpload(ctx context.Context, req signer.UploadRequest) (signer.UploadTarget, error) {
	start := time.Now()
	t, err := s.post.SignPostUpload(ctx, req)
	s.observe("sign_post_upload", start, err)
	return t, err
}
