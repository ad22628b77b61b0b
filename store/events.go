package store

import (
	"context"
	"time"
)

// Event types: what happened to a file.
const (
	EventFileReady   = "file.ready"
	EventFileFailed  = "file.failed"
	EventFileExpired = "file.expired"
	EventFileDeleted = "file.deleted"
	EventFileAborted = "file.aborted"
	// EventFileScanning: a completed upload waits for its malware scan.
	// presignd's own scanner takes these events; sinks may too.
	EventFileScanning = "file.scanning"
	// EventFileQuarantined: the scan found malware (File.ScanResult).
	EventFileQuarantined = "file.quarantined"
)

// Who completed an upload (File.CompletedBy).
const (
	CompletedByClient       = "client"
	CompletedByNotification = "notification"
	CompletedBySweeper      = "sweeper"
	CompletedByUpload       = "upload"
)

// Event is a change of a file's state. A store with events turned on
// writes one in the same transaction as the change (a transactional
// outbox): UpdateFile that moves a file to READY, FAILED, EXPIRED,
// ABORTED, SCANNING or QUARANTINED writes "file.<state>", ExpireUploads writes file.expired for
// each file, AbortUpload file.aborted, and DeleteFileAndQueueObject
// file.deleted. A change that does not commit leaves no event, and a
// committed change always has its event.
type Event struct {
	// ID is stable and unique (a UUIDv7, ordered by time): every consumer
	// de-duplicates by it.
	ID       string
	Type     string
	Tenant   string
	Category string
	FileID   string
	// File is the record as the change left it; for file.deleted, as it
	// was when it was deleted.
	File      *File
	CreatedAt time.Time
}

// DeliveryState is where a delivery is.
type DeliveryState string

// Delivery states.
const (
	DeliveryPending   DeliveryState = "PENDING"
	DeliveryDelivered DeliveryState = "DELIVERED"
	DeliveryDead      DeliveryState = "DEAD"
)

// Delivery is one event on its way to one sink (a webhook, NATS).
type Delivery struct {
	ID    int64
	Event *Event
	// Sink names the configured destination, such as "webhook:billing"
	// or "nats".
	Sink  string
	State DeliveryState
	// Attempts counts the claims so far, this one included.
	Attempts  int
	LastError string
	CreatedAt time.Time
	// NotBefore is when the delivery is next due (or its lease ends).
	NotBefore time.Time
	// FinishedAt is when it was delivered or given up; zero while PENDING.
	FinishedAt time.Time
}

// Outbox is the events a store wrote and their deliveries. Every claim is
// exclusive: when several replicas call at once, each event or delivery
// goes to one of them until its lease ends.
type Outbox interface {
	// ClaimEvents returns up to limit events not yet routed, oldest first,
	// after leasing them until leaseUntil.
	ClaimEvents(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*Event, error)
	// RouteEvent creates one PENDING delivery of event id per sink (due at
	// dueAt) and marks the event routed, atomically. Routing an event
	// again does nothing; sinks may be empty.
	RouteEvent(ctx context.Context, id string, sinks []string, dueAt time.Time) error
	// ClaimDeliveries returns up to limit PENDING deliveries due at or
	// before now, soonest first, with their events, after moving each
	// one's NotBefore to leaseUntil and counting the attempt.
	ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*Delivery, error)
	// FinishDelivery marks delivery id DELIVERED at at.
	FinishDelivery(ctx context.Context, id int64, at time.Time) error
	// RetryDelivery records a failed attempt: due again at dueAt.
	RetryDelivery(ctx context.Context, id int64, dueAt time.Time, lastErr string) error
	// BuryDelivery gives delivery id up: DEAD at at, with lastErr.
	BuryDelivery(ctx context.Context, id int64, at time.Time, lastErr string) error
	// ListDeadDeliveries returns up to limit of the tenant's DEAD
	// deliveries, newest first (FinishedAt desc, ID desc), after the
	// delivery with ID after when after is not zero, and whether more
	// follow.
	ListDeadDeliveries(ctx context.Context, tenant string, after int64, limit int) ([]*Delivery, bool, error)
	// RedeliverDelivery moves the tenant's DEAD delivery id back to
	// PENDING, due at now, with its attempts reset, and returns it. A
	// delivery in another state is returned unchanged; another tenant's,
	// like a missing one, is ErrNotFound.
	RedeliverDelivery(ctx context.Context, tenant string, id int64, now time.Time) (*Delivery, error)
	// PruneOutbox removes up to limit routed events whose deliveries all
	// finished (DELIVERED, or DEAD) before before, with those deliveries,
	// and reports how many events it removed.
	PruneOutbox(ctx context.Context, before time.Time, limit int) (int, error)
	// OutboxBacklog reports the events not yet routed and the PENDING
	// deliveries, and the creation time of the oldest of either (zero
	// when there is none), for the delivery lag metrics.
	OutboxBacklog(ctx context.Context) (unrouted, pending int64, oldest time.Time, err error)
}

// PendingFiles finds uploads by their object.
type PendingFiles interface {
	// PendingFileByKey returns the PENDING file, of any tenant, whose
	// object is key on backend, or ErrNotFound: how a storage
	// notification finds the upload it completes. The lookup is indexed.
	PendingFileByKey(ctx context.Context, backend, key string) (*File, error)
}
