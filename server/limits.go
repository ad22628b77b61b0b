package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// tooLarge is the status of a request body over max bytes:
// RESOURCE_EXHAUSTED, naming the limit.
func tooLarge(max int64) *status.Status {
	return status.Newf(codes.ResourceExhausted, "request body larger than the limit of %d bytes (limits.max_request_size)", max)
}

// limitRequestBody refuses a request body over max bytes with 413 and a
// JSON google.rpc.Status (RESOURCE_EXHAUSTED, naming the limit) before next
// sees it: at once when Content-Length says so; a body of unknown length
// (chunked) is read first, in chunks, and refused as soon as it passes
// max, so that no request ever holds more than max bytes of body. A body
// that cannot be read is 400. max <= 0 caps nothing.
func limitRequestBody(max int64, next http.Handler) http.Handler {
	if max <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeStatusJSON(w, http.StatusRequestEntityTooLarge, tooLarge(max))
			return
		}
		if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
			body, n, err := readCapped(r.Body, max)
			switch {
			case errors.Is(err, errBodyTooLarge):
				writeStatusJSON(w, http.StatusRequestEntityTooLarge, tooLarge(max))
				return
			case err != nil:
				writeStatusJSON(w, http.StatusBadRequest, status.New(codes.InvalidArgument, "the request body could not be read"))
				return
			}
			r.Body = struct {
				io.Reader
				io.Closer
			}{body, r.Body}
			r.ContentLength = n
		}
		next.ServeHTTP(w, r)
	})
}

var errBodyTooLarge = errors.New("request body too large")

// readCapped reads body to its end in chunks and returns a reader of what
// it read and its length, or errBodyTooLarge as soon as more than max
// bytes arrived. Chunks, unlike a doubling buffer, hold no more than the
// body and leave no copies behind.
func readCapped(body io.Reader, max int64) (io.Reader, int64, error) {
	var (
		chunks []io.Reader
		total  int64
		size   = 8 << 10
	)
	for {
		buf := make([]byte, size)
		n, err := io.ReadFull(body, buf)
		total += int64(n)
		if total > max {
			return nil, total, errBodyTooLarge
		}
		if n > 0 {
			chunks = append(chunks, bytes.NewReader(buf[:n]))
		}
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return io.MultiReader(chunks...), total, nil
		case err != nil:
			return nil, total, err
		}
		size = 64 << 10
	}
}

// writeStatusJSON writes st as the gateway writes errors: a JSON
// google.rpc.Status with the proto field names (restErrorMarshaler).
func writeStatusJSON(w http.ResponseWriter, code int, st *status.Status) {
	body, err := restErrorMarshaler.Marshal(st.Proto())
	if err != nil {
		body = []byte(fmt.Sprintf(`{"code": %d, "message": "%s"}`, st.Code(), http.StatusText(code)))
	}
	w.Header().Set("Content-Type", "application/json")
	// The body is not read: do not keep the connection for another request.
	w.Header().Set("Connection", "close")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// transferDeadlines serves next, a route that streams bodies of any size
// (the local backend's uploads and downloads), under an idle deadline
// instead of the server's whole-request read and write timeouts: the
// connection's read and write deadlines are set to idle from now when the
// handler starts, and pushed back by idle whenever body bytes are read or
// response bytes written. A transfer that keeps moving runs as long as it
// needs; one that stalls for idle is cut off. This is what tusd does with
// its network timeout (http.ResponseController deadlines extended on
// every read), rather than a per-route total budget, which would have to
// guess the slowest honest client's bandwidth. Where the connection has no
// deadlines (tests with recorders), next runs unchanged.
func transferDeadlines(idle time.Duration, next http.Handler) http.Handler {
	if idle <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		d := &deadlines{rc: rc, idle: idle}
		if !d.extend(true) {
			next.ServeHTTP(w, r)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &progressBody{ReadCloser: r.Body, d: d}
		}
		next.ServeHTTP(&progressWriter{ResponseWriter: w, d: d}, r)
	})
}

// deadlines pushes a connection's deadlines back.
type deadlines struct {
	rc   *http.ResponseController
	idle time.Duration
}

// extend sets the write deadline, and with read the read deadline, to
// idle from now; false if the connection has none.
func (d *deadlines) extend(read bool) bool {
	t := time.Now().Add(d.idle)
	if read {
		if err := d.rc.SetReadDeadline(t); err != nil {
			return false
		}
	}
	// The response is written after the body is read: reading keeps the
	// write deadline ahead as well.
	return d.rc.SetWriteDeadline(t) == nil
}

type progressBody struct {
	io.ReadCloser
	d *deadlines
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.d.extend(true)
	}
	return n, err
}

// progressWriter pushes the write deadline back before each write.
type progressWriter struct {
	http.ResponseWriter
	d *deadlines
}

// transferChunk is how much of a file one write deadline covers when
// ReadFrom hands a file to the connection (sendfile).
const transferChunk = 256 << 10

func (w *progressWriter) WriteHeader(code int) {
	w.d.extend(false)
	w.ResponseWriter.WriteHeader(code)
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.d.extend(false)
	return w.ResponseWriter.Write(p)
}

// ReadFrom keeps the connection's sendfile path for files
// (http.ServeContent hands it an io.LimitedReader over an *os.File) while
// extending the deadline every transferChunk bytes.
func (w *progressWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	lr, limited := src.(*io.LimitedReader)
	if !ok || !limited {
		return io.Copy(writerOnly{w}, src)
	}
	var total int64
	for lr.N > 0 {
		w.d.extend(false)
		chunk := &io.LimitedReader{R: lr.R, N: min(lr.N, transferChunk)}
		n, err := rf.ReadFrom(chunk)
		total += n
		lr.N -= n
		if err != nil {
			return total, err
		}
		if n == 0 {
			break // src ended early
		}
	}
	return total, nil
}

func (w *progressWriter) Flush() {
	w.d.extend(false)
	_ = w.d.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides progressWriter's ReadFrom from io.Copy.
type writerOnly struct{ io.Writer }

// requestTimerKey holds the timer of a gRPC call's request deadline.
type requestTimerKey struct{}

// errRequestTimeout cancels a call whose request message did not arrive.
var errRequestTimeout = errors.New("no request message within limits.grpc.request_timeout")

// RequestTimeoutOptions give every gRPC call limit to deliver its first
// message after its headers: a call still waiting by then is canceled, and
// its stream, goroutine and buffers are freed. Without them a stream that
// sends headers and nothing else is held until its connection ends. The
// deadline is lifted when the first message arrives, so it never bounds
// the handler. They install the server's tap handle (grpc.InTapHandle),
// of which a server has one. limit <= 0 returns none.
func RequestTimeoutOptions(limit time.Duration) []grpc.ServerOption {
	if limit <= 0 {
		return nil
	}
	return []grpc.ServerOption{
		grpc.InTapHandle(func(ctx context.Context, _ *tap.Info) (context.Context, error) {
			ctx, cancel := context.WithCancelCause(ctx)
			// cancel runs only on timeout; otherwise the stream's end
			// releases the context.
			t := time.AfterFunc(limit, func() { cancel(errRequestTimeout) })
			return context.WithValue(ctx, requestTimerKey{}, t), nil
		}),
		grpc.StatsHandler(requestArrival{}),
	}
}

// requestArrival lifts a call's request deadline when its first message
// arrives.
type requestArrival struct{}

func (requestArrival) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.InPayload); ok {
		if t, ok := ctx.Value(requestTimerKey{}).(*time.Timer); ok {
			t.Stop()
		}
	}
}

func (requestArrival) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (requestArrival) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (requestArrival) HandleConn(context.Context, stats.ConnStats) {}
