// Package store defines presignd's metadata store: the file records and the
// API keys, as small role interfaces over plain Go types, with sentinel
// errors. Drivers live in sub-packages (sqlite, postgres) and are proven by
// the shared suite in storetest.
//
// Every method takes the tenant explicitly and never touches another
// tenant's rows: a record of tenant A is ErrNotFound to tenant B.
//
// Every driver also keeps a transactional outbox (Outbox): opened with
// its events option on, it writes a store.Event in the same transaction
// as each state change, for a dispatcher to route and deliver; off, it
// writes none. PendingFiles finds an upload by its object, for storage
// notifications.
//
// Store is the contract every driver meets. What only some drivers can do
// is an optional capability, a small interface of its own, and
// Capabilities lists them all (CreateAnticipator, KeyWatch,
// MetricsExporter). The wiring calls CapabilitiesOf once and hands each
// part the capabilities it uses, as possibly nil fields; no other code
// asks a store what it can do. A driver gains a capability by
// implementing its interface; the capabilities test pins which ones each
// driver has.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors returned (wrapped) by drivers.
var (
	// ErrNotFound: no such record for this tenant.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists: a record with the same identity exists: the same
	// file ID, the same request ID in the tenant, or the same display name
	// in the same name scope.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrNameTaken: the display name is held by another live file in the
	// same name scope. It wraps ErrAlreadyExists.
	ErrNameTaken = fmt.Errorf("%w: display name taken", ErrAlreadyExists)
	// ErrConflict: the record changed underneath the caller, or an update
	// function refused the record's current state.
	ErrConflict = errors.New("store: conflict")
	// ErrQuotaExceeded: the write would take a tenant or scope past its
	// storage limit.
	ErrQuotaExceeded = errors.New("store: quota exceeded")
	// ErrUnavailable: the database cannot be reached right now.
	ErrUnavailable = errors.New("store: unavailable")
)

// State is a file's lifecycle state.
type State string

// File states.
const (
	StatePending State = "PENDING"
	StateReady   State = "READY"
	StateFailed  State = "FAILED"
	StateExpired State = "EXPIRED"
	StateAborted State = "ABORTED"
	// StateScanning: the upload is complete and verified, and its bytes
	// wait for a malware scan (a category with scanning on). The file
	// holds its display name and its bytes count against quotas as a
	// READY file's do, but it cannot be downloaded.
	StateScanning State = "SCANNING"
	// StateQuarantined: the scan found malware; the object was deleted or
	// moved out of the file's key. It holds neither name nor quota.
	StateQuarantined State = "QUARANTINED"
)

// File is one file record. ID is unique across all tenants. Times are
// kept at microsecond precision in UTC; a zero time means "not set". A map
// with no entries reads back as nil.
type File struct {
	ID          string
	Tenant      string
	Category    string
	DisplayName string
	// NameScope, when not empty, makes DisplayName unique among the
	// tenant's files with the same NameScope (ErrAlreadyExists). Names
	// compare byte for byte, and only PENDING, SCANNING and READY files
	// hold their name: a FAILED, EXPIRED, ABORTED or QUARANTINED file's
	// name is free for another file.
	NameScope string
	// Scope groups files for ListOptions.Scope, Usage and Quota.ScopeMaxBytes
	// (such as "files/application_id=42"); empty is a scope of its own.
	Scope       string
	Filename    string
	Key         string
	Backend     string
	ContentType string
	// SizeBytes is declared while PENDING and measured once READY.
	SizeBytes int64
	// SizeUnknown marks a PENDING file whose size was not declared (an
	// upload target asked for without a body): SizeBytes then holds the
	// category's limit, reserved against the storage limits, and the
	// upload's real size replaces it on completion, which clears the flag.
	SizeUnknown       bool
	ChecksumAlgorithm string
	ChecksumValue     string
	ETag              string
	State             State
	FailureReason     string
	Owner             map[string]string
	Metadata          map[string]string
	// RequestID, when not empty, is unique within the tenant;
	// RequestHash is a digest of the request that created the file.
	RequestID     string
	RequestHash   string
	UploadCount   int32
	CreatedAt     time.Time
	UpdatedAt     time.Time
	CompletedAt   time.Time // zero until READY, FAILED or ABORTED
	UploadExpires time.Time // when the latest upload target expires
	// MultipartUploadID is the backend's id of the file's multipart
	// upload; empty for a single PUT or POST. PartSize is the size of every
	// part but the last, and PartChecksumAlgorithm the checksum each part
	// target binds (empty: none). All three are written by CreateFile and
	// UpdateFile.
	MultipartUploadID     string
	PartSize              int64
	PartChecksumAlgorithm string
	// CompletedBy says who moved the file to READY or FAILED (a
	// CompletedBy constant); empty otherwise. Written by CreateFile and
	// UpdateFile.
	CompletedBy string
	// ScanResult is the outcome of the file's malware scan: "clean", or
	// the name of the signature found; empty when it was not scanned.
	// Written by UpdateFile.
	ScanResult string
	// DetectedContentType is the media type presignd detected from the
	// object's first bytes at completion (categories that sniff content);
	// empty otherwise. Written by UpdateFile only.
	DetectedContentType string
	// ObjectMissingSince is set by Lifecycle.SetObjectMissing when a READY
	// file's object was found gone from its backend; zero otherwise.
	// CreateFile and UpdateFile neither write nor clear it.
	ObjectMissingSince time.Time
	// Uploader is the credential that created the file; written by
	// CreateFile only.
	Uploader Uploader
	// DownloadURLCount counts the download URLs issued for the file; only
	// Files.RecordDownloadURL writes it (CreateFile stores 0, UpdateFile
	// keeps the stored count whatever update does).
	DownloadURLCount int64
	// LastURLAt is when the file's last presigned URL (upload target or
	// download URL) was issued; zero when none was. Written by CreateFile
	// and UpdateFile, and moved forward by RecordDownloadURL.
	LastURLAt time.Time
	// Thumbnails are the thumbnails made of a READY image, in the order of
	// its category's sizes; nil until they are made. Only SetThumbnails
	// writes them: CreateFile and UpdateFile neither write nor clear them.
	Thumbnails []Thumbnail
}

// Thumbnail is a scaled-down copy of a file's image, stored on the file's
// backend.
type Thumbnail struct {
	// Name is the size's name in the category's configuration ("small").
	Name string
	// Key is the thumbnail's object on the file's backend.
	Key           string
	ContentType   string
	Width, Height int32
	SizeBytes     int64
}

// Uploader is the credential that created a file.
type Uploader struct {
	// Kind is the credential's kind ("api_key", "jwt").
	Kind string
	// ID is the API key's ID or the JWT's subject.
	ID string
	// Name is a display name for people; may be empty.
	Name string
}

// ContentQuery finds a READY file by its content, for de-duplication.
type ContentQuery struct {
	// Scope is the Scope the file must have (within the tenant).
	Scope             string
	ChecksumAlgorithm string
	ChecksumValue     string
	SizeBytes         int64
}

// KeepTime returns t as every store keeps it: truncated to the microsecond,
// in UTC; the zero time stays zero.
func KeepTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}

// Normalize puts f's times in the form stores keep and its empty maps to
// nil, so that what a write returns equals what a read returns.
func (f *File) Normalize() {
	f.CreatedAt = KeepTime(f.CreatedAt)
	f.UpdatedAt = KeepTime(f.UpdatedAt)
	f.CompletedAt = KeepTime(f.CompletedAt)
	f.UploadExpires = KeepTime(f.UploadExpires)
	f.LastURLAt = KeepTime(f.LastURLAt)
	if len(f.Owner) == 0 {
		f.Owner = nil
	}
	if len(f.Metadata) == 0 {
		f.Metadata = nil
	}
}

// Quota limits what CreateFile may reserve. The zero Quota is unlimited.
//
// Live bytes are the SizeBytes of READY and SCANNING files plus those of PENDING files
// whose UploadExpires is after the new file's CreatedAt: an upload target
// that expired releases its reservation even before a sweeper marks it
// EXPIRED.
type Quota struct {
	// MaxBytes caps the live bytes of the tenant; 0 means no cap.
	MaxBytes int64
	// ScopeMaxBytes caps the live bytes of the tenant's files with the new
	// file's Scope; 0 means no cap.
	ScopeMaxBytes int64
}

// Cursor is a position in the ListFiles order (CreatedAt desc, ID desc).
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// ListOptions select and page files. Zero fields do not filter.
type ListOptions struct {
	Category string
	State    State
	// NameContains matches display names case-insensitively, as a literal
	// substring: % and _ have no special meaning.
	NameContains string
	// Scope, when set, selects files of this Scope only.
	Scope string
	// DisplayName, when set, selects files with exactly this display name.
	DisplayName string
	// After, when set, starts the page after this position.
	After *Cursor
	// Limit is the page size; it must be positive.
	Limit int
}

// UsageFilter selects the files Usage summarises. Zero fields do not filter.
type UsageFilter struct {
	Category string
	Scope    string
	// Now decides which PENDING files still hold a reservation (those whose
	// UploadExpires is after Now); zero counts every PENDING file.
	Now time.Time
}

// Usage summarises a tenant's (or a category's) files.
type Usage struct {
	FileCount     int64     // READY files
	BytesUsed     int64     // bytes of READY files
	BytesReserved int64     // bytes of PENDING files still reserved
	LastUploadAt  time.Time // latest CompletedAt of a READY file
}

// Files stores file records.
type Files interface {
	// CreateFile inserts f. It returns ErrAlreadyExists when f.ID, the
	// tenant's f.RequestID is taken, ErrNameTaken when f.DisplayName in
	// f.NameScope is, and ErrQuotaExceeded when f.SizeBytes would take the
	// tenant or f.Scope past quota;
	// the check and the insert are atomic. It writes back into f the times
	// it keeps: a zero CreatedAt becomes the current time, a zero UpdatedAt
	// becomes CreatedAt, and every time is truncated to the microsecond in
	// UTC.
	CreateFile(ctx context.Context, f *File, quota Quota) error
	// GetFile returns the tenant's file id, or ErrNotFound.
	GetFile(ctx context.Context, tenant, id string) (*File, error)
	// GetFileByRequestID returns the tenant's file created with requestID,
	// or ErrNotFound.
	GetFileByRequestID(ctx context.Context, tenant, requestID string) (*File, error)
	// ListFiles returns up to opts.Limit files newest first and whether more
	// follow. A non-positive opts.Limit is an error.
	ListFiles(ctx context.Context, tenant string, opts ListOptions) (files []*File, more bool, err error)
	// UpdateFile reads the tenant's file id, calls update on it and writes
	// the result, atomically. An error from update aborts the write and is
	// returned as is. UpdatedAt is set by the store; ID, Tenant,
	// CreatedAt and Thumbnails keep their stored values whatever update
	// does. It returns
	// ErrNotFound for a missing file and ErrNameTaken when a renamed
	// file collides in its name scope.
	UpdateFile(ctx context.Context, tenant, id string, update func(*File) error) (*File, error)
	// DeleteFile removes the tenant's file id, or returns ErrNotFound.
	DeleteFile(ctx context.Context, tenant, id string) error
	// Usage summarises the tenant's files that filter selects.
	Usage(ctx context.Context, tenant string, filter UsageFilter) (Usage, error)
	// RecordDownloadURL counts a download URL issued at at for the
	// tenant's file id: DownloadURLCount grows by one and LastURLAt
	// becomes at unless it is later already. It is one UPDATE, with no
	// read and no event, and leaves UpdatedAt alone. A missing file is
	// ErrNotFound.
	RecordDownloadURL(ctx context.Context, tenant, id string, at time.Time) error
	// FindByContent returns the tenant's newest READY file (CompletedAt
	// desc, then ID desc) with q's Scope, checksum and size, or
	// ErrNotFound. An empty checksum value matches nothing. The lookup is
	// indexed.
	FindByContent(ctx context.Context, tenant string, q ContentQuery) (*File, error)
	// SetThumbnails records thumbs as the thumbnails of the tenant's READY
	// file id, replacing any, without changing anything else (UpdatedAt
	// included). A missing file is ErrNotFound; a file that is no longer
	// READY is ErrConflict and keeps its thumbnails.
	SetThumbnails(ctx context.Context, tenant, id string, thumbs []Thumbnail) error
}

// APIKey is a stored API key. The secret itself is never stored: only its
// SHA-256 hash, and a short prefix that identifies it to people.
type APIKey struct {
	ID     string
	Tenant string
	Prefix string
	Hash   []byte // SHA-256 of the whole key
	Scopes []string
	// Categories, when not empty, are the only categories the key may
	// use; nil means all of them.
	Categories []string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	RevokedAt  time.Time // zero: not revoked
	// ParentID is the ID of the tenant's API key that created this key;
	// empty when a JWT or the operator created it. Revoking the parent
	// revokes this key.
	ParentID string
	// CreatorIssuer and CreatorSubject are the "iss" and "sub" of the JWT
	// that created this key; empty when a JWT did not.
	CreatorIssuer  string
	CreatorSubject string
}

// APIKeys stores API keys.
type APIKeys interface {
	// CreateAPIKey inserts k; ErrAlreadyExists when its ID or hash is taken.
	// A key with a ParentID is inserted only while that parent is a key of
	// the same tenant that is not revoked, checked in the same transaction
	// as the insert, so a key created while its parent is being revoked is
	// either revoked with it or not created: otherwise ErrNotFound.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// GetAPIKeyByHash returns the key with this hash, or ErrNotFound.
	GetAPIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	// ListAPIKeys returns the tenant's keys, revoked and expired ones
	// included, newest first (CreatedAt desc, then ID desc).
	ListAPIKeys(ctx context.Context, tenant string) ([]*APIKey, error)
	// RevokeAPIKey marks the tenant's key id revoked at time at, and with
	// it every key it created, transitively (through ParentID), and
	// returns the key id. A key that is already revoked keeps its first
	// revocation time; its descendants are revoked all the same. Another
	// tenant's key, like a missing one, is ErrNotFound.
	RevokeAPIKey(ctx context.Context, tenant, id string, at time.Time) (*APIKey, error)
}

// DenyEntry denies a tenant's callers every file of a category whose owner
// field has a value.
type DenyEntry struct {
	Tenant   string
	Category string
	// Field is the owner field (customer_id) and Value its denied value.
	Field string
	Value string
	// Reason is a note for people; it is never matched.
	Reason    string
	CreatedAt time.Time
}

// DenyList stores deny entries.
type DenyList interface {
	// AddDenyEntry inserts e; ErrAlreadyExists when the tenant already
	// denies that value of that field in that category.
	AddDenyEntry(ctx context.Context, e *DenyEntry) error
	// RemoveDenyEntry deletes the tenant's entry, or returns ErrNotFound.
	RemoveDenyEntry(ctx context.Context, tenant, category, field, value string) error
	// ListDenyEntries returns the tenant's entries by category, field and
	// value.
	ListDenyEntries(ctx context.Context, tenant string) ([]DenyEntry, error)
}

// Deletion is an object queued for removal from its backend: the object of
// a deleted file, or the partial or stray object of an expired upload. A
// deletion stays queued until FinishDeletion, so a backend that fails is
// retried.
type Deletion struct {
	ID      int64
	Backend string
	Key     string
	FileID  string
	Tenant  string
	// Reason is why the object goes: DeletionDeleted, DeletionExpired or
	// DeletionAborted.
	Reason string
	// MultipartUploadID, when set, is the file's multipart upload, which
	// is aborted (discarding its parts) before the object is deleted.
	MultipartUploadID string
	// Attempts counts the claims of this deletion so far, this one included.
	Attempts  int
	LastError string
	CreatedAt time.Time
	// NotBefore is when the deletion is next due (or its lease ends).
	NotBefore time.Time
}

// Deletion reasons.
const (
	DeletionDeleted = "deleted"
	DeletionExpired = "expired"
	DeletionAborted = "aborted"
)

// Lifecycle is what a sweeper needs to retire files: expiring abandoned
// uploads, removing objects with retries, and checking that READY files
// still have their objects. Every claim is exclusive: when several
// replicas call at once, each file or deletion goes to one of them.
type Lifecycle interface {
	// ExpireUploads marks EXPIRED (UpdatedAt now) those of the files ids
	// that are still PENDING with an UploadExpires at or before
	// expiredBefore, queues the deletion of each one's object (due at now,
	// reason DeletionExpired, with the file's MultipartUploadID) and writes
	// its file.expired event in the same transaction, and returns the
	// files it expired as they now are, oldest expiry first. The ids are
	// those a sweeper listed (ExpiringUploads) and found without bytes:
	// no other file is ever taken. An id of a missing file, of one no
	// longer PENDING or not yet past expiredBefore (a PENDING file with no
	// UploadExpires never expires), or of one another transaction holds at
	// the moment (such as a CompleteUpload's UpdateFile) is skipped. When
	// several callers pass the same ids at once, each file is expired by
	// one of them. No ids expire nothing.
	ExpireUploads(ctx context.Context, ids []string, expiredBefore, now time.Time) ([]*File, error)
	// ExpiringUploads returns, without changing them, the first limit
	// PENDING files of every tenant whose UploadExpires is at or before
	// expiredBefore, oldest expiry first, then ID: what a sweeper checks
	// for bytes that arrived before it expires them (ExpireUploads). A
	// non-positive limit is an error.
	ExpiringUploads(ctx context.Context, expiredBefore time.Time, limit int) ([]*File, error)
	// DeleteFileAndQueueObject removes the tenant's file id and queues the
	// deletion of its object (reason DeletionDeleted, first due at dueAt) in
	// one transaction, and returns the queued deletion. The deletion of
	// each of its thumbnails' objects is queued alike, in the same
	// transaction, for the sweeper. The deletion
	// carries the file's MultipartUploadID unless the file is READY (whose
	// upload the backend completed). It returns ErrNotFound for a missing
	// file, and then queues nothing.
	DeleteFileAndQueueObject(ctx context.Context, tenant, id string, now, dueAt time.Time) (*Deletion, error)
	// AbortUpload marks the tenant's PENDING file id ABORTED (CompletedAt
	// and UpdatedAt now) and queues the deletion of its object (reason
	// DeletionAborted, with its MultipartUploadID, first due at dueAt) in
	// one transaction, and returns the file as it now is: a backend abort
	// that fails, or bytes that land after it, are then retried by the
	// sweeper. A file already ABORTED is returned as it is and queues
	// nothing. A file in another state is ErrConflict and is left alone;
	// a missing one is ErrNotFound.
	AbortUpload(ctx context.Context, tenant, id string, now, dueAt time.Time) (*File, error)
	// ClaimDeletions returns up to limit deletions due at or before now,
	// soonest first, after moving each one's NotBefore to leaseUntil and
	// counting the attempt: no other caller gets them until the lease ends.
	ClaimDeletions(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*Deletion, error)
	// FinishDeletion removes deletion id from the queue; a missing one is
	// not an error.
	FinishDeletion(ctx context.Context, id int64) error
	// RetryDeletion records a failed attempt of deletion id: it is due
	// again at dueAt, with lastErr kept for operators. A missing deletion
	// is ErrNotFound.
	RetryDeletion(ctx context.Context, id int64, dueAt time.Time, lastErr string) error
	// ClaimObjectChecks returns up to limit READY files whose object was
	// never checked or last checked before checkedBefore, least recently
	// checked first, and records them as checked at now.
	ClaimObjectChecks(ctx context.Context, checkedBefore, now time.Time, limit int) ([]*File, error)
	// SetObjectMissing records on the READY file id of tenant that its
	// object is missing (ObjectMissingSince becomes at, unless already set)
	// or present again (ObjectMissingSince becomes zero). A file that is
	// gone or no longer READY is left alone and is not an error.
	SetObjectMissing(ctx context.Context, tenant, id string, missing bool, at time.Time) error
	// HoldsMultipartUpload reports whether a PENDING file of any tenant
	// holds the multipart upload uploadID of backend (its Backend and
	// MultipartUploadID), so that a sweeper aborts only the uploads no
	// record will complete. An empty uploadID is held by no file. The
	// lookup is indexed: its cost does not grow with the files stored.
	HoldsMultipartUpload(ctx context.Context, backend, uploadID string) (bool, error)
	// RetainedFiles returns, without changing them, up to limit READY
	// files of category (in every tenant) completed at or before
	// completedBefore, oldest completion first: the files a retention
	// period has run out for, which a sweeper deletes with
	// DeleteFileAndQueueObject. A non-positive limit is an error. The
	// lookup is indexed.
	RetainedFiles(ctx context.Context, category string, completedBefore time.Time, limit int) ([]*File, error)
}

// Store is everything presignd keeps, what its sweeper needs, plus the
// lifecycle of the connection.
type Store interface {
	Files
	APIKeys
	DenyList
	Lifecycle
	Outbox
	PendingFiles
	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// CreateAnticipator is an optional capability of a store that groups the commits of CreateFiles that arrive together.
//
// AnticipateCreate announces that a CreateFile is on its way: the store may
// hold the group it is filling open for it (briefly, bounded by the store),
// so that creates handled at the same time share a commit. The CreateFile
// is made with the returned context (or one derived from it). done calls
// the announcement off; every announcement must end with done, which is
// harmless once the CreateFile has been made, and when called twice.
// Callers announce only calls that are likely to create: an announcement
// that never leads to a CreateFile makes the group wait for nothing.
type CreateAnticipator interface {
	AnticipateCreate(ctx context.Context) (context.Context, func())
}
