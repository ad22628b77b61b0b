package sqlfiles

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"

	"github.com/presignd/presignd/store"
)

// EventColumns are the events columns drivers read an event from, in the
// order of EventRow.Dest.
const EventColumns = `id, type, tenant, category, file_id, file, created_at`

// DeliveryColumns are the event_deliveries columns drivers read a
// delivery from, in the order of DeliveryRow.Dest.
const DeliveryColumns = `id, event_id, sink, state, attempts, last_error, created_at, not_before, finished_at`

// StateEvent is the event type of a change that moves a file from one
// state to another, or "" when the change writes no event: only a move to
// READY, FAILED, EXPIRED or ABORTED does.
func StateEvent(from, to store.State) string {
	if from == to {
		return ""
	}
	switch to {
	case store.StateReady:
		return store.EventFileReady
	case store.StateFailed:
		return store.EventFileFailed
	case store.StateExpired:
		return store.EventFileExpired
	case store.StateAborted:
		return store.EventFileAborted
	case store.StateScanning:
		return store.EventFileScanning
	case store.StateQuarantined:
		return store.EventFileQuarantined
	}
	return ""
}

// NewEvent returns the event of type typ about f, created at at, with a
// new UUIDv7 id, and f's snapshot encoded by EncodeEventFile.
func NewEvent(typ string, f *store.File, at time.Time) (*store.Event, []byte, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, nil, fmt.Errorf("event id: %w", err)
	}
	snap := *f
	snap.Owner, snap.Metadata = maps.Clone(f.Owner), maps.Clone(f.Metadata)
	body, err := EncodeEventFile(&snap)
	if err != nil {
		return nil, nil, err
	}
	return &store.Event{
		ID: id.String(), Type: typ, Tenant: f.Tenant, Category: f.Category, FileID: f.ID,
		File: &snap, CreatedAt: store.KeepTime(at),
	}, body, nil
}

// eventFileVersion is the version of the encoding EncodeEventFile writes.
// A change to eventFile that an older reader would misread (a field
// renamed, retyped or given another meaning) takes a new version, and
// DecodeEventFile keeps reading the old ones: events outlive releases.
const eventFileVersion = 1

// eventFile is the stable JSON form of a store.File in an event. Its
// field names are fixed here, not derived from store.File's Go names, so
// that renaming a Go field does not change what stored events say. Times
// are RFC 3339 with microseconds, in UTC; absent when zero.
type eventFile struct {
	V                     int               `json:"v"`
	ID                    string            `json:"id"`
	Tenant                string            `json:"tenant"`
	Category              string            `json:"category"`
	DisplayName           string            `json:"display_name,omitempty"`
	NameScope             string            `json:"name_scope,omitempty"`
	Scope                 string            `json:"scope,omitempty"`
	Filename              string            `json:"filename,omitempty"`
	Key                   string            `json:"key"`
	Backend               string            `json:"backend"`
	ContentType           string            `json:"content_type,omitempty"`
	SizeBytes             int64             `json:"size_bytes"`
	SizeUnknown           bool              `json:"size_unknown,omitempty"`
	ChecksumAlgorithm     string            `json:"checksum_algorithm,omitempty"`
	ChecksumValue         string            `json:"checksum_value,omitempty"`
	ETag                  string            `json:"etag,omitempty"`
	State                 string            `json:"state"`
	FailureReason         string            `json:"failure_reason,omitempty"`
	Owner                 map[string]string `json:"owner,omitempty"`
	Metadata              map[string]string `json:"metadata,omitempty"`
	RequestID             string            `json:"request_id,omitempty"`
	RequestHash           string            `json:"request_hash,omitempty"`
	UploadCount           int32             `json:"upload_count,omitempty"`
	CreatedAt             *time.Time        `json:"created_at,omitempty"`
	UpdatedAt             *time.Time        `json:"updated_at,omitempty"`
	CompletedAt           *time.Time        `json:"completed_at,omitempty"`
	UploadExpires         *time.Time        `json:"upload_expires,omitempty"`
	MultipartUploadID     string            `json:"multipart_upload_id,omitempty"`
	PartSize              int64             `json:"part_size,omitempty"`
	PartChecksumAlgorithm string            `json:"part_checksum_algorithm,omitempty"`
	CompletedBy           string            `json:"completed_by,omitempty"`
	ScanResult            string            `json:"scan_result,omitempty"`
	DetectedContentType   string            `json:"detected_content_type,omitempty"`
	ObjectMissingSince    *time.Time        `json:"object_missing_since,omitempty"`
	Thumbnails            []thumbnail       `json:"thumbnails,omitempty"`
	// Added within version 1: events written before them lack them.
	UploaderKind     string     `json:"uploader_kind,omitempty"`
	UploaderID       string     `json:"uploader_id,omitempty"`
	UploaderName     string     `json:"uploader_name,omitempty"`
	DownloadURLCount int64      `json:"download_url_count,omitempty"`
	LastURLAt        *time.Time `json:"last_url_at,omitempty"`
}

// EncodeEventFile returns f as the JSON an event keeps (version
// eventFileVersion), after normalising f's times and maps as stores keep
// them (store.File.Normalize).
func EncodeEventFile(f *store.File) ([]byte, error) {
	f.Normalize()
	f.ObjectMissingSince = store.KeepTime(f.ObjectMissingSince)
	e := eventFile{
		V: eventFileVersion, ID: f.ID, Tenant: f.Tenant, Category: f.Category, DisplayName: f.DisplayName,
		NameScope: f.NameScope, Scope: f.Scope, Filename: f.Filename, Key: f.Key, Backend: f.Backend,
		ContentType: f.ContentType, SizeBytes: f.SizeBytes, SizeUnknown: f.SizeUnknown, ChecksumAlgorithm: f.ChecksumAlgorithm,
		ChecksumValue: f.ChecksumValue, ETag: f.ETag, State: string(f.State), FailureReason: f.FailureReason,
		Owner: f.Owner, Metadata: f.Metadata, RequestID: f.RequestID, RequestHash: f.RequestHash,
		UploadCount: f.UploadCount, CreatedAt: timeRef(f.CreatedAt), UpdatedAt: timeRef(f.UpdatedAt),
		CompletedAt: timeRef(f.CompletedAt), UploadExpires: timeRef(f.UploadExpires),
		MultipartUploadID: f.MultipartUploadID, PartSize: f.PartSize, PartChecksumAlgorithm: f.PartChecksumAlgorithm,
		CompletedBy: f.CompletedBy, ScanResult: f.ScanResult, ObjectMissingSince: timeRef(f.ObjectMissingSince),
		UploaderKind: f.Uploader.Kind, UploaderID: f.Uploader.ID, UploaderName: f.Uploader.Name,
		DownloadURLCount: f.DownloadURLCount, LastURLAt: timeRef(f.LastURLAt),
		DetectedContentType: f.DetectedContentType,
	}
	for _, t := range f.Thumbnails {
		e.Thumbnails = append(e.Thumbnails, thumbnail(t))
	}
	b, err := json.Marshal(&e)
	if err != nil {
		return nil, fmt.Errorf("encode event file %s: %w", f.ID, err)
	}
	return b, nil
}

// ErrEventFileVersion is the error of DecodeEventFile for an encoding
// version it does not know.
var ErrEventFileVersion = errors.New("unknown event file encoding version")

// DecodeEventFile reads what EncodeEventFile wrote. It fails, without
// panicking, on anything else: JSON that is not an object of the known
// fields' types, a time whose UTC year is not 1 to 9999, or a version
// other than eventFileVersion (ErrEventFileVersion).
func DecodeEventFile(b []byte) (*store.File, error) {
	var e eventFile
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode event file: %w", err)
	}
	if e.V != eventFileVersion {
		return nil, fmt.Errorf("decode event file: %w %d", ErrEventFileVersion, e.V)
	}
	f := &store.File{
		ID: e.ID, Tenant: e.Tenant, Category: e.Category, DisplayName: e.DisplayName, NameScope: e.NameScope,
		Scope: e.Scope, Filename: e.Filename, Key: e.Key, Backend: e.Backend, ContentType: e.ContentType,
		SizeBytes: e.SizeBytes, SizeUnknown: e.SizeUnknown, ChecksumAlgorithm: e.ChecksumAlgorithm, ChecksumValue: e.ChecksumValue,
		ETag: e.ETag, State: store.State(e.State), FailureReason: e.FailureReason, Owner: e.Owner,
		Metadata: e.Metadata, RequestID: e.RequestID, RequestHash: e.RequestHash, UploadCount: e.UploadCount,
		CreatedAt: timeVal(e.CreatedAt), UpdatedAt: timeVal(e.UpdatedAt), CompletedAt: timeVal(e.CompletedAt),
		UploadExpires: timeVal(e.UploadExpires), MultipartUploadID: e.MultipartUploadID, PartSize: e.PartSize,
		PartChecksumAlgorithm: e.PartChecksumAlgorithm, CompletedBy: e.CompletedBy, ScanResult: e.ScanResult,
		ObjectMissingSince: timeVal(e.ObjectMissingSince),
		Uploader:           store.Uploader{Kind: e.UploaderKind, ID: e.UploaderID, Name: e.UploaderName},
		DownloadURLCount:   e.DownloadURLCount, LastURLAt: timeVal(e.LastURLAt),
		DetectedContentType: e.DetectedContentType,
	}
	for _, t := range e.Thumbnails {
		f.Thumbnails = append(f.Thumbnails, store.Thumbnail(t))
	}
	f.Normalize()
	f.ObjectMissingSince = store.KeepTime(f.ObjectMissingSince)
	f.LastURLAt = store.KeepTime(f.LastURLAt)
	for _, t := range []time.Time{f.CreatedAt, f.UpdatedAt, f.CompletedAt, f.UploadExpires, f.ObjectMissingSince, f.LastURLAt} {
		if y := t.Year(); y < 1 || y > 9999 {
			return nil, fmt.Errorf("decode event file: time %s out of range", t)
		}
	}
	return f, nil
}

func timeRef(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func timeVal(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// EventRow is an event as a driver scans it from EventColumns.
type EventRow struct {
	e    store.Event
	file []byte
}

// Dest returns the destinations of EventColumns, in order, with the
// driver's own for created_at.
func (r *EventRow) Dest(createdAt any) []any {
	return []any{&r.e.ID, &r.e.Type, &r.e.Tenant, &r.e.Category, &r.e.FileID, &r.file, createdAt}
}

// Event returns the scanned event, given its creation time.
func (r *EventRow) Event(createdAt time.Time) (*store.Event, error) {
	e := r.e
	f, err := DecodeEventFile(r.file)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", e.ID, err)
	}
	e.File, e.CreatedAt = f, createdAt
	return &e, nil
}

// DeliveryRow is a delivery as a driver scans it from DeliveryColumns.
type DeliveryRow struct {
	d       store.Delivery
	eventID string
	state   string
}

// Dest returns the destinations of DeliveryColumns, in order, with the
// driver's own for created_at, not_before and finished_at.
func (r *DeliveryRow) Dest(times [3]any) []any {
	d := &r.d
	return []any{&d.ID, &r.eventID, &d.Sink, &r.state, &d.Attempts, &d.LastError, times[0], times[1], times[2]}
}

// EventID is the id of the scanned delivery's event.
func (r *DeliveryRow) EventID() string { return r.eventID }

// Delivery returns the scanned delivery, given its three times (zero for
// NULL) and its event.
func (r *DeliveryRow) Delivery(times [3]time.Time, e *store.Event) *store.Delivery {
	d := r.d
	d.State = store.DeliveryState(r.state)
	d.CreatedAt, d.NotBefore, d.FinishedAt = times[0], times[1], times[2]
	d.Event = e
	return &d
}
