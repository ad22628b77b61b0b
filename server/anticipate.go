package server

import (
	"context"

	"google.golang.org/grpc"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/store"
)

// anticipateCreates announces every authenticated and admitted
// CreateUpload to a store that groups its commits (store.CreateAnticipator),
// over gRPC and REST alike. It sits in the chain right after the
// authentication interceptor, so that a call without a valid credential,
// or refused by its scope, category or rate limit, never makes a group of
// creates wait for it; it is announced before request validation and the
// handler's policy and signing work, which is how far ahead of its
// CreateFile the store learns of it. The announcement ends when the call
// returns, whatever became of it (invalid, validate_only, a retry, an
// error); the CreateFile ends it earlier by queueing.
func anticipateCreates(a store.CreateAnticipator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod != presigndv1.FileService_CreateUpload_FullMethodName {
			return handler(ctx, req)
		}
		ctx, done := a.AnticipateCreate(ctx)
		defer done()
		return handler(ctx, req)
	}
}
