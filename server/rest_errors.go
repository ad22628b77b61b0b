package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/presignd/presignd/internal/suggest"
	"github.com/presignd/presignd/openapi"
)

// restMarshaler is the gateway's JSON marshaler (proto field names) whose
// decoder turns a body that does not parse into a message for people that
// names the field by its REST (proto) name.
type restMarshaler struct {
	*jsonMarshaler
}

func (m restMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	inner := m.JSONPb.NewDecoder(r)
	return runtime.DecoderFunc(func(v any) error {
		err := inner.Decode(v)
		if err == nil || errors.Is(err, io.EOF) { // an empty body is an empty request
			return err
		}
		msg, _ := v.(proto.Message)
		return errors.New(describeBodyError(err, msg))
	})
}

var (
	// protojson writes "proto:" and a space or, at random, a no-break
	// space, so that nobody relies on its messages; this reads them on a
	// best-effort basis, and anything it does not recognise is passed on.
	protojsonPrefix    = regexp.MustCompile(`^proto:[\s\x{a0}]*`)
	protojsonPosition  = regexp.MustCompile(`^(?:syntax error )?\(line (\d+):(\d+)\):[\s\x{a0}]*`)
	protojsonBadValue  = regexp.MustCompile(`^invalid value for (\w+) (?:type|field) (\w+): (.*)$`)
	protojsonUnknown   = regexp.MustCompile(`^unknown field "?([^"]*)"?$`)
	protojsonDuplicate = regexp.MustCompile(`^duplicate field "?([^"]*)"?$`)
)

// describeBodyError explains why a request body did not decode into msg.
func describeBodyError(err error, msg proto.Message) string {
	var syntax *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "request body is not valid JSON: it ends before the JSON value is complete"
	case errors.As(err, &syntax):
		return fmt.Sprintf("request body is not valid JSON: %s (at byte %d)", syntax.Error(), syntax.Offset)
	}
	text := protojsonPrefix.ReplaceAllString(err.Error(), "")
	where := ""
	if m := protojsonPosition.FindStringSubmatch(text); m != nil {
		where = fmt.Sprintf(" (line %s, column %s)", m[1], m[2])
		text = text[len(m[0]):]
	}
	if m := protojsonBadValue.FindStringSubmatch(text); m != nil {
		return fmt.Sprintf("request body%s: %s: %s is not a valid %s", where, protoFieldName(msg, m[2]), m[3], kindDescription(m[1]))
	}
	if m := protojsonUnknown.FindStringSubmatch(text); m != nil {
		if s := suggest.Closest(m[1], protoFieldNames(msg)); s != "" {
			return fmt.Sprintf("request body%s: unknown field %q; did you mean %q?", where, m[1], s)
		}
		return fmt.Sprintf("request body%s: unknown field %q", where, m[1])
	}
	if m := protojsonDuplicate.FindStringSubmatch(text); m != nil {
		return fmt.Sprintf("request body%s: field %s is given twice", where, protoFieldName(msg, m[1]))
	}
	return fmt.Sprintf("request body is not valid JSON for this call%s: %s", where, text)
}

// kindDescription says what a JSON value for a proto kind looks like.
func kindDescription(kind string) string {
	switch kind {
	case "int64", "uint64", "int32", "uint32", "sint32", "sint64", "fixed32", "fixed64", "sfixed32", "sfixed64":
		return kind + " (a whole number, or a string of digits)"
	case "bool":
		return "bool (true or false)"
	case "enum":
		return "enum value (its name as a string)"
	case "message":
		return "object"
	}
	return kind
}

// protoFieldNames returns the proto names of msg's fields and of the
// fields of the messages it holds.
func protoFieldNames(msg proto.Message) []string {
	var names []string
	walkFields(msg, func(fd protoreflect.FieldDescriptor) bool {
		names = append(names, string(fd.Name()))
		return false
	})
	return names
}

// walkFields calls visit with each field of msg and of the messages it
// holds, breadth first, until visit returns true.
func walkFields(msg proto.Message, visit func(protoreflect.FieldDescriptor) bool) {
	if msg == nil {
		return
	}
	seen := map[protoreflect.FullName]bool{}
	queue := []protoreflect.MessageDescriptor{msg.ProtoReflect().Descriptor()}
	for len(queue) > 0 {
		md := queue[0]
		queue = queue[1:]
		if seen[md.FullName()] {
			continue
		}
		seen[md.FullName()] = true
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if visit(fd) {
				return
			}
			if fd.Message() != nil {
				queue = append(queue, fd.Message())
			}
		}
	}
}

// protoFieldName returns the proto (REST) name of the field protojson
// calls by its JSON name, searching msg's fields and those of the
// messages it holds; the JSON name when none matches.
func protoFieldName(msg proto.Message, jsonName string) string {
	name := jsonName
	walkFields(msg, func(fd protoreflect.FieldDescriptor) bool {
		if fd.JSONName() == jsonName || string(fd.Name()) == jsonName {
			name = string(fd.Name())
			return true
		}
		return false
	})
	return name
}

// restErrorMarshaler writes error bodies without the empty fields the
// responses' marshaler emits (a violation's "reason":"" and
// "localized_message":null).
var restErrorMarshaler = &runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{UseProtoNames: true}}

// queryParseError is how the gateway reports a query parameter that does
// not parse as its field's type.
var queryParseError = regexp.MustCompile(`^parsing field "([\w.]+)": strconv\.Parse(Int|Uint|Float|Bool): parsing "(.*)": (?:invalid syntax|value out of range)$`)

var queryKinds = map[string]string{"Int": "whole number", "Uint": "whole number", "Float": "number", "Bool": "bool (true or false)"}

// restError is the gateway's error handler: the default one, writing
// bodies with restErrorMarshaler, plus a Retry-After header (whole
// seconds, rounded up) when the status carries a google.rpc.RetryInfo, as
// rate-limited calls do, and 409 instead of 400 for a FailedPrecondition
// that carries a google.rpc.PreconditionFailure (the resource is not yet in
// the state the call needs).
func restError(ctx context.Context, mux *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument {
		if m := queryParseError.FindStringSubmatch(st.Message()); m != nil {
			err = status.Errorf(codes.InvalidArgument, "query parameter %s: %q is not a valid %s", m[1], m[3], queryKinds[m[2]])
		}
	}
	if st, ok := status.FromError(err); ok {
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.RetryInfo:
				if d.GetRetryDelay() != nil {
					secs := int64(math.Ceil(d.GetRetryDelay().AsDuration().Seconds()))
					w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
				}
			case *errdetails.PreconditionFailure:
				if st.Code() == codes.FailedPrecondition {
					w = statusOverride{ResponseWriter: w, status: http.StatusConflict}
				}
			}
		}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, restErrorMarshaler, w, r, err)
}

// statusOverride writes status instead of the one its user asks for.
type statusOverride struct {
	http.ResponseWriter
	status int
}

func (o statusOverride) WriteHeader(int) { o.ResponseWriter.WriteHeader(o.status) }

// restRoutingError answers a path the API does not serve with 404 and a
// method a path does not take with 405 and an Allow header listing the
// methods it takes, both as JSON google.rpc.Status bodies.
func restRoutingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus != http.StatusMethodNotAllowed {
		runtime.DefaultRoutingErrorHandler(ctx, mux, restErrorMarshaler, w, r, httpStatus)
		return
	}
	allowed := allowedMethods(r.URL.Path)
	msg := fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path)
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		msg += "; it takes " + strings.Join(allowed, ", ")
	}
	body, err := restErrorMarshaler.Marshal(status.New(codes.Unimplemented, msg).Proto())
	if err != nil {
		runtime.DefaultRoutingErrorHandler(ctx, mux, restErrorMarshaler, w, r, httpStatus)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusMethodNotAllowed)
	_, _ = w.Write(body)
}

// restRoute is one path template of the OpenAPI document and its methods.
type restRoute struct {
	pattern *regexp.Regexp
	methods []string
}

var (
	restRoutesOnce sync.Once
	restRoutes     []restRoute
)

// allowedMethods returns the methods the OpenAPI document lists for the
// path templates that match path, sorted.
func allowedMethods(path string) []string {
	restRoutesOnce.Do(func() {
		var doc struct {
			Paths map[string]map[string]json.RawMessage `json:"paths"`
		}
		if json.Unmarshal(openapi.JSON, &doc) != nil {
			return
		}
		param := regexp.MustCompile(`\\\{[^}]*\\\}`)
		for tmpl, ops := range doc.Paths {
			re := "^" + param.ReplaceAllString(regexp.QuoteMeta(tmpl), `[^/]+`) + "$"
			route := restRoute{pattern: regexp.MustCompile(re)}
			for method := range ops {
				route.methods = append(route.methods, strings.ToUpper(method))
			}
			restRoutes = append(restRoutes, route)
		}
	})
	set := map[string]bool{}
	for _, route := range restRoutes {
		if route.pattern.MatchString(path) {
			for _, m := range route.methods {
				set[m] = true
			}
		}
	}
	if strings.TrimSuffix(path, "/") == "/v1/health" {
		set[http.MethodGet] = true
	}
	out := make([]string, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}
