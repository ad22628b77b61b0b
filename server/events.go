package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/store"
)

// fileJSONOptions are the gateway's JSON options, for the files the hand
// encoder cannot write.
var fileJSONOptions = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// FileJSON renders f as the REST API shows a file (the "file" of GET
// /v1/files/{file_id}), for event payloads. It is safe for concurrent
// use and fails only on a record protojson cannot render either.
func (s *Server) FileJSON(f *store.File) ([]byte, error) {
	pf := s.fileToProto(f)
	if b, ok := appendFile(make([]byte, 0, 1024), pf); ok {
		return b, nil
	}
	b, err := fileJSONOptions.Marshal(pf)
	if err != nil {
		return nil, fmt.Errorf("render file %s: %w", f.ID, err)
	}
	return b, nil
}

// deadLetterFilters names the listing in its page tokens.
const deadLetterFilters = "dead-letters"

// ListDeadLetters implements presigndv1.AdminServiceServer: the caller's
// tenant's dead deliveries, newest first.
func (a *adminServer) ListDeadLetters(ctx context.Context, req *presigndv1.ListDeadLettersRequest) (*presigndv1.ListDeadLettersResponse, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return nil, err
	}
	ob := a.s.store
	var after int64
	if tok := req.GetPageToken(); tok != "" {
		cur, err := a.s.pageTokens.parse(p.Tenant, deadLetterFilters, tok)
		if err != nil {
			return nil, fieldError("page_token", err.Error())
		}
		if after, err = strconv.ParseInt(cur.ID, 10, 64); err != nil || after <= 0 {
			return nil, fieldError("page_token", errBadPageToken.Error())
		}
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = defaultPageSize
	}
	ds, more, err := ob.ListDeadDeliveries(ctx, p.Tenant, after, size)
	if err != nil {
		return nil, fmt.Errorf("list dead deliveries: %w", err)
	}
	resp := &presigndv1.ListDeadLettersResponse{DeadLetters: make([]*presigndv1.DeadLetter, 0, len(ds))}
	for _, d := range ds {
		resp.DeadLetters = append(resp.DeadLetters, deadLetterToProto(d))
	}
	if more && len(ds) > 0 {
		resp.NextPageToken = a.s.pageTokens.make(p.Tenant, deadLetterFilters, store.Cursor{ID: strconv.FormatInt(ds[len(ds)-1].ID, 10)})
	}
	return resp, nil
}

// RedeliverDeadLetter implements presigndv1.AdminServiceServer: the
// caller's tenant's dead delivery is queued again, due at once, with the
// same event id. Another tenant's delivery is NotFound like a missing one.
func (a *adminServer) RedeliverDeadLetter(ctx context.Context, req *presigndv1.RedeliverDeadLetterRequest) (*presigndv1.RedeliverDeadLetterResponse, error) {
	p, err := principalFrom(ctx)
	if err != nil {
		return nil, err
	}
	ob := a.s.store
	id, err := strconv.ParseInt(req.GetDeliveryId(), 10, 64)
	if err != nil || id <= 0 {
		return nil, fieldError("delivery_id", "must be a delivery id as ListDeadLetters returns it (a positive integer)")
	}
	d, err := ob.RedeliverDelivery(ctx, p.Tenant, id, a.s.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return nil, userError(store.ErrNotFound, "dead letter %q not found", req.GetDeliveryId())
	}
	if err != nil {
		return nil, fmt.Errorf("redeliver delivery %d: %w", id, err)
	}
	a.s.log.InfoContext(ctx, "dead letter redelivered", "tenant", p.Tenant, "delivery_id", d.ID, "sink", d.Sink,
		"state", string(d.State), "by", p.Subject)
	return &presigndv1.RedeliverDeadLetterResponse{}, nil
}

func deadLetterToProto(d *store.Delivery) *presigndv1.DeadLetter {
	dl := &presigndv1.DeadLetter{
		DeliveryId: strconv.FormatInt(d.ID, 10),
		Sink:       d.Sink,
		Attempts:   int32(min(d.Attempts, 1<<31-1)),
		LastError:  d.LastError,
		DeadTime:   timestamp(d.FinishedAt),
	}
	if ev := d.Event; ev != nil {
		dl.EventId, dl.EventType, dl.FileId, dl.EventTime = ev.ID, ev.Type, ev.FileID, timestamp(ev.CreatedAt)
	}
	return dl
}
