package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/presignd/presignd/auth"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

// Errors the server itself raises below the gRPC layer.
var (
	errUnauthenticated = auth.ErrUnauthenticated
	errPermission      = auth.ErrPermissionDenied
	errNotReady        = errors.New("file is not READY")
	// errScanning: the file waits for its malware scan, and may be READY
	// soon.
	errScanning = errors.New("file is being scanned for malware")
	// errNotUploaded: CompleteUpload found no object while the upload
	// target is still valid.
	errNotUploaded = errors.New("no object uploaded yet")
)

// backendRetryDelay is the retry hint sent when a storage backend cannot be
// reached.
const backendRetryDelay = 5 * time.Second

// publicError is an error whose message is written for the API caller; it
// wraps the sentinel that decides its code. Errors without one get a
// generic message for their code, so that driver details never leak.
type publicError struct {
	msg string
	err error
}

func (e *publicError) Error() string { return e.msg }
func (e *publicError) Unwrap() error { return e.err }

// userError makes a publicError with a formatted message and a code-deciding
// sentinel (such as store.ErrAlreadyExists).
func userError(sentinel error, format string, args ...any) error {
	return &publicError{msg: fmt.Sprintf(format, args...), err: sentinel}
}

// fieldError builds a single-field validation error.
func fieldError(field, description string) error {
	return policy.FieldErrors{{Field: field, Description: description}}
}

// toStatus is the one place that turns errors into gRPC statuses. Errors
// that carry no known meaning become Internal with a generic message, and
// are logged with their detail.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	msg := func(generic string) string {
		var pe *publicError
		if errors.As(err, &pe) {
			return pe.msg
		}
		return generic
	}
	var (
		fieldErrs   policy.FieldErrors
		fieldErr    *policy.FieldError
		validation  *protovalidate.ValidationError
		rateLimited *auth.RateLimitError
	)
	switch {
	case errors.As(err, &fieldErrs):
		return badRequest(fieldErrs)
	case errors.As(err, &fieldErr):
		return badRequest(policy.FieldErrors{fieldErr})
	case errors.As(err, &validation):
		var fes policy.FieldErrors
		for _, v := range validation.Violations {
			fes = append(fes, &policy.FieldError{
				Field:       dottedMapKeys(protovalidate.FieldPathString(v.Proto.GetField())),
				Description: v.Proto.GetMessage(),
			})
		}
		return badRequest(fes)
	case errors.As(err, &rateLimited):
		return retryLater(rateLimited)
	case errors.Is(err, errUnauthenticated):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.Is(err, errPermission), errors.Is(err, policy.ErrAccessDenied):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, errScanning):
		return stateConflict(msg("file is being scanned"), "SCAN_PENDING")
	case errors.Is(err, errNotReady):
		return status.Error(codes.FailedPrecondition, msg("file is not READY"))
	case errors.Is(err, errWrongState):
		return status.Error(codes.FailedPrecondition, msg("the file is not in the state this call needs"))
	case errors.Is(err, errNotUploaded):
		return stateConflict(msg("no object uploaded yet"), "UPLOAD_NOT_RECEIVED")
	case errors.Is(err, store.ErrNotFound), errors.Is(err, signer.ErrNotFound):
		return status.Error(codes.NotFound, msg("file not found"))
	case errors.Is(err, store.ErrAlreadyExists):
		return status.Error(codes.AlreadyExists, msg("already exists"))
	case errors.Is(err, store.ErrConflict):
		return status.Error(codes.Aborted, msg("the record changed concurrently; retry"))
	case errors.Is(err, store.ErrQuotaExceeded):
		return status.Error(codes.ResourceExhausted, msg("storage limit reached"))
	case errors.Is(err, store.ErrUnavailable):
		return status.Error(codes.Unavailable, "metadata store unavailable, retry later")
	case errors.Is(err, signer.ErrUnavailable):
		log.WarnContext(ctx, "storage backend unavailable", "err", err)
		return unavailable("storage backend unavailable, retry later", backendRetryDelay)
	case errors.Is(err, signer.ErrInvalidKey):
		return status.Error(codes.InvalidArgument, msg("the object key is invalid"))
	case errors.Is(err, signer.ErrUnsupported):
		return status.Error(codes.FailedPrecondition, msg("the storage backend cannot do this"))
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	log.ErrorContext(ctx, "internal error", "err", err)
	return status.Error(codes.Internal, "internal error")
}

// mapKeySubscript matches a map subscript with a plain key, as in
// owner["customer_id"].
var mapKeySubscript = regexp.MustCompile(`\["([a-z][a-z0-9_]*)"\]`)

// dottedMapKeys writes protovalidate's map subscripts the way the policy
// names fields (owner.customer_id), so one field has one name in every
// error. Keys that are not plain names keep their subscript.
func dottedMapKeys(path string) string {
	return mapKeySubscript.ReplaceAllString(path, ".$1")
}

// oneNotOnes finds "1 characters" and the like in rule messages
// (protovalidate's say "must be at least %d characters" for every count).
var oneNotOnes = regexp.MustCompile(`(^|[^0-9.])1 (character|byte|item|pair|key|value)s\b`)

// badRequest is InvalidArgument with a google.rpc.BadRequest detail that
// names every violated field.
func badRequest(fes policy.FieldErrors) error {
	br := &errdetails.BadRequest{}
	for _, fe := range fes {
		fe.Description = oneNotOnes.ReplaceAllString(fe.Description, "${1}1 $2")
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       fe.Field,
			Description: fe.Description,
		})
	}
	st := status.New(codes.InvalidArgument, "invalid request: "+fes.Error())
	if withDetails, err := st.WithDetails(br); err == nil {
		st = withDetails
	}
	return st.Err()
}

// unavailable is Unavailable with a google.rpc.RetryInfo detail (the
// gateway turns it into Retry-After).
func unavailable(msg string, delay time.Duration) error {
	st := status.New(codes.Unavailable, msg)
	if withDetails, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)}); err == nil {
		st = withDetails
	}
	return st.Err()
}

// stateConflict is FailedPrecondition with a google.rpc.PreconditionFailure
// detail of type kind: the resource is not in the state the call needs,
// and may get there. The gateway answers it with 409.
func stateConflict(msg, kind string) error {
	st := status.New(codes.FailedPrecondition, msg)
	pf := &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{Type: kind, Description: msg}}}
	if withDetails, err := st.WithDetails(pf); err == nil {
		st = withDetails
	}
	return st.Err()
}

// retryLater is ResourceExhausted with a google.rpc.RetryInfo detail
// saying when the call would be accepted (at least a millisecond).
func retryLater(e *auth.RateLimitError) error {
	delay := max(e.RetryAfter, time.Millisecond)
	st := status.New(codes.ResourceExhausted, e.Error())
	if withDetails, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)}); err == nil {
		st = withDetails
	}
	return st.Err()
}
