package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// RequestIDHeader is the metadata key (and HTTP header, through the
// gateway) that carries a request's id in both directions.
const RequestIDHeader = "x-request-id"

type requestIDKey struct{}

// RequestIDFrom returns the request id of ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// maxRequestIDLength bounds a caller's request id; longer ones, or ones with
// characters outside printable ASCII, are replaced by a generated id.
const maxRequestIDLength = 128

// requestIDInterceptor gives every call a request id: the caller's
// x-request-id when it is sane, a generated one otherwise. The id goes into
// the context (and from there into every log line of the call) and back to
// the caller as the x-request-id response header.
func requestIDInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	id := ""
	if v := metadata.ValueFromIncomingContext(ctx, RequestIDHeader); len(v) > 0 && validRequestID(v[0]) {
		id = v[0]
	}
	if id == "" {
		id = newRequestID()
	}
	if h := restResponseHeader(ctx); h != nil {
		// A REST call: straight into the response's header, as the
		// gateway would put it (see outgoingHeader).
		h.Set("X-Request-Id", id)
	} else {
		_ = grpc.SetHeader(ctx, metadata.MD{RequestIDHeader: {id}})
	}
	return handler(context.WithValue(ctx, requestIDKey{}, id), req)
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewLogHandler wraps h so that every record (message, attributes, groups,
// errors and Stringers among them) has the secrets of signed URLs redacted
// (see RedactSecrets), and records logged with a context that carries a
// request id get a request_id attribute.
func NewLogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(*logHandler); ok {
		return h
	}
	return &logHandler{inner: h}
}

type logHandler struct {
	inner slog.Handler
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if !recordMayHoldSecret(r) {
		// The fast path of access log lines: the record as it is.
		if id := RequestIDFrom(ctx); id != "" {
			r.AddAttrs(slog.String("request_id", id))
		}
		return h.inner.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, RedactSecrets(r.Message), r.PC)
	if id := RequestIDFrom(ctx); id != "" {
		out.AddAttrs(slog.String("request_id", id))
	}
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

// recordMayHoldSecret reports whether r's message or an attribute may
// hold a secret to redact: a string that mayHoldSecret, or a value only
// redactAttr can render (groups, errors, Stringers, any other value).
func recordMayHoldSecret(r slog.Record) bool {
	if mayHoldSecret(r.Message) {
		return true
	}
	may := false
	r.Attrs(func(a slog.Attr) bool {
		switch a.Value.Kind() {
		case slog.KindString:
			may = mayHoldSecret(a.Value.String())
		case slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool, slog.KindDuration, slog.KindTime:
		default:
			may = true
		}
		return !may
	})
	return may
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	return &logHandler{inner: h.inner.WithAttrs(red)}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{inner: h.inner.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, RedactSecrets(v.String()))
	case slog.KindGroup:
		group := v.Group()
		red := make([]slog.Attr, len(group))
		for i, g := range group {
			red[i] = redactAttr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, RedactSecrets(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, RedactSecrets(x.String()))
		case []byte:
			return slog.String(a.Key, RedactSecrets(string(x)))
		case string:
			return slog.String(a.Key, RedactSecrets(x))
		default:
			// Anything else is rendered by the handler with fmt or JSON;
			// render it here to redact what it would print.
			return slog.String(a.Key, RedactSecrets(fmt.Sprintf("%+v", x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// secretParams are the URL query parameters and form fields that make a
// signed URL or policy usable: S3 SigV4 and GCS V4 signatures, credentials
// and session tokens, and the local backend's signature.
var secretParams = regexp.MustCompile(`(?i)((?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|signature|awsaccesskeyid|googleaccessid)(?:=|"\s*:\s*"|:\s*))[^&\s"',;]+`)

// RedactSecrets replaces the values of signature, credential and
// security-token parameters in s (as in a URL query, key=value text, or
// JSON) with REDACTED. Everything else is kept, so a redacted URL still
// shows the host, the key and the expiry.
func RedactSecrets(s string) string {
	if !mayHoldSecret(s) {
		return s
	}
	return secretParams.ReplaceAllString(s, "${1}REDACTED")
}

// mayHoldSecret is a quick filter before the regular expression: a
// secret parameter's name is followed by '=' or ':', and has one of a few
// substrings.
func mayHoldSecret(s string) bool {
	if strings.IndexByte(s, '=') < 0 && strings.IndexByte(s, ':') < 0 {
		return false
	}
	for _, w := range []string{"ignature", "IGNATURE", "redential", "REDENTIAL", "ecurity-", "ECURITY-", "ccessKeyId", "ccessId", "ACCESSKEYID", "ACCESSID", "ccesskeyid", "ccessid"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
