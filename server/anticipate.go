package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/tap"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// createAnticipator is a store that can be told a CreateFile is on its
// way, so that it groups the commits of creates that arrive together
// (store/sqlite; see sqlite.Store.AnticipateCreate).
type createAnticipator interface {
	AnticipateCreate(ctx context.Context) (_ context.Context, done func())
}

// anticipateCreates announces every CreateUpload to a as soon as the
// transport has read the call's headers, before the call waits for a
// goroutine, its credential check or its request: under load many calls
// are that far along at once. The announcement ends when the handler's
// CreateFile queues it or, whatever became of the call (refused, invalid,
// malformed, validate_only, a retry), when the call's context ends, which
// gRPC does for every call once it is over.
func anticipateCreates(a createAnticipator) grpc.ServerOption {
	return grpc.InTapHandle(func(ctx context.Context, info *tap.Info) (context.Context, error) {
		if info.FullMethodName != presigndv1.FileService_CreateUpload_FullMethodName {
			return ctx, nil
		}
		ctx, done := a.AnticipateCreate(ctx)
		context.AfterFunc(ctx, done)
		return ctx, nil
	})
}
