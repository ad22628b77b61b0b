package server

import (
	"context"
	"errors"
	"log/slog"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
	"github.com/presignd/presignd/store"
)

// Errors the server itself raises below the gRPC layer.
var (
	errUnauthenticated = errors.New("missing or invalid credential")
	errPermission      = errors.New("permission denied")
	errNotReady        = errors.New("file is not READY")
)

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
	var (
		fieldErrs  policy.FieldErrors
		fieldErr   *policy.FieldError
		validation *protovalidate.ValidationError
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
				Field:       protovalidate.FieldPathString(v.Proto.GetField()),
				Description: v.Proto.GetMessage(),
			})
		}
		return badRequest(fes)
	case errors.Is(err, errUnauthenticated):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.Is(err, errPermission):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, errNotReady):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, store.ErrNotFound), errors.Is(err, signer.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrAlreadyExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, store.ErrConflict):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, store.ErrQuotaExceeded):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, store.ErrUnavailable):
		return status.Error(codes.Unavailable, "metadata store unavailable, retry later")
	case errors.Is(err, signer.ErrInvalidKey):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, signer.ErrUnsupported):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	log.ErrorContext(ctx, "internal error", "err", err)
	return status.Error(codes.Internal, "internal error")
}

// badRequest is InvalidArgument with a google.rpc.BadRequest detail that
// names every violated field.
func badRequest(fes policy.FieldErrors) error {
	br := &errdetails.BadRequest{}
	for _, fe := range fes {
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
