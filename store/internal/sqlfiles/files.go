package sqlfiles

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/presignd/presignd/internal/groupcommit"
	"github.com/presignd/presignd/store"
)

// Columns are the files columns CreateFile writes, in the order of
// FileRow.Dest and of the drivers' insert statements.
const Columns = `id, tenant, category, display_name, name_scope, scope, filename, object_key,
	backend, content_type, size_bytes, checksum_algorithm, checksum_value, etag, state,
	failure_reason, owner, metadata, request_id, request_hash, upload_count,
	created_at, updated_at, completed_at, upload_expires,
	multipart_upload_id, part_size, part_checksum_algorithm`

// InsertColumns are the columns the drivers' inserts write: Columns,
// name_fold, completed_by, the uploader, last_url_at and size_unknown.
const InsertColumns = Columns + `, name_fold, completed_by, uploader_kind, uploader_id, uploader_name, last_url_at, size_unknown`

// ReadColumns are the columns a file is read from: Columns, the one only
// the lifecycle writes, completed_by, the uploader, the download URL
// count and last URL time, scan_result and detected_content_type, which
// only UpdateFile writes, thumbnails, which only SetThumbnails writes, and
// size_unknown.
const ReadColumns = Columns + `, object_missing_since, completed_by,
	uploader_kind, uploader_id, uploader_name, download_url_count, last_url_at, scan_result, detected_content_type,
	thumbnails, size_unknown`

// APIKeyColumns are the api_keys columns, in the order drivers scan them.
const APIKeyColumns = `id, tenant, prefix, hash, scopes, categories, created_at, expires_at, revoked_at,
	parent_id, creator_issuer, creator_subject`

// searchSample and searchSampleHits decide how ListFiles finds the files
// whose name holds a search text, in both drivers: when at most
// SearchSampleHits of the first SearchSample files of the list walk match,
// matches are rare enough (about one file in a hundred or fewer) that
// reading the candidates from a name index costs less than walking on
// until a page fills.
const (
	SearchSample     = 128
	SearchSampleHits = 1
)

// Fold is the case-insensitive form of a display name or search text. It
// is computed by the drivers, not in SQL, so it does not depend on a
// database's collation and is the same in every driver.
func Fold(s string) string { return strings.ToLower(s) }

// PrepareCreate puts f in the form CreateFile stores: a zero CreatedAt
// becomes now, a zero UpdatedAt becomes CreatedAt, times and maps are
// normalised (store.File.Normalize); and returns its maps as JSON (nil
// for no entries).
func PrepareCreate(f *store.File, now time.Time) (owner, metadata []byte, err error) {
	if f.CreatedAt.IsZero() {
		f.CreatedAt = now
	}
	if f.UpdatedAt.IsZero() {
		f.UpdatedAt = f.CreatedAt
	}
	f.Normalize()
	return EncodeMaps(f)
}

// EncodeMaps returns f's Owner and Metadata as JSON objects, nil for a
// map with no entries.
func EncodeMaps(f *store.File) (owner, metadata []byte, err error) {
	if owner, err = encodeMap(f.Owner); err != nil {
		return nil, nil, fmt.Errorf("encode owner: %w", err)
	}
	if metadata, err = encodeMap(f.Metadata); err != nil {
		return nil, nil, fmt.Errorf("encode metadata: %w", err)
	}
	return owner, metadata, nil
}

func encodeMap(m map[string]string) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return json.Marshal(m)
}

// decodeMap reads a JSON object; nil (NULL) and {} are a nil map.
func decodeMap(b []byte) (map[string]string, error) {
	if b == nil {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// EncodeList returns v as a JSON array, nil when it is empty.
func EncodeList(v []string) ([]byte, error) {
	if len(v) == 0 {
		return nil, nil
	}
	return json.Marshal(v)
}

// DecodeList reads a JSON array of strings; nil (NULL) and [] are nil.
func DecodeList(b []byte) ([]string, error) {
	if b == nil {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// DeletionColumns are the object_deletions columns, in the order drivers
// scan them.
const DeletionColumns = `id, backend, object_key, file_id, tenant, reason, multipart_upload_id,
	attempts, last_error, created_at, next_attempt`

// FileRow is a file as a driver scans it from ReadColumns: Dest gives the
// destinations of the columns every driver scans alike, and File builds
// the file from them and from the driver's own map and time columns.
type FileRow struct {
	f      store.File
	state  string
	thumbs []byte
}

// Dest returns the destinations of ReadColumns, in order, with the
// driver's own for the owner and metadata maps and for the six times
// (created_at, updated_at, completed_at, upload_expires,
// object_missing_since, last_url_at).
func (r *FileRow) Dest(owner, metadata any, times [6]any) []any {
	f := &r.f
	return []any{&f.ID, &f.Tenant, &f.Category, &f.DisplayName, &f.NameScope, &f.Scope, &f.Filename, &f.Key,
		&f.Backend, &f.ContentType, &f.SizeBytes, &f.ChecksumAlgorithm, &f.ChecksumValue, &f.ETag, &r.state,
		&f.FailureReason, owner, metadata, &f.RequestID, &f.RequestHash, &f.UploadCount,
		times[0], times[1], times[2], times[3],
		&f.MultipartUploadID, &f.PartSize, &f.PartChecksumAlgorithm, times[4], &f.CompletedBy,
		&f.Uploader.Kind, &f.Uploader.ID, &f.Uploader.Name, &f.DownloadURLCount, times[5], &f.ScanResult,
		&f.DetectedContentType, &r.thumbs, &f.SizeUnknown}
}

// File returns the scanned file, given its maps as JSON (nil for NULL)
// and its six times as Dest orders them, zero for NULL.
func (r *FileRow) File(owner, metadata []byte, times [6]time.Time) (*store.File, error) {
	f := r.f
	f.State = store.State(r.state)
	var err error
	if f.Owner, err = decodeMap(owner); err != nil {
		return nil, fmt.Errorf("file %s owner: %w", f.ID, err)
	}
	if f.Metadata, err = decodeMap(metadata); err != nil {
		return nil, fmt.Errorf("file %s metadata: %w", f.ID, err)
	}
	f.CreatedAt, f.UpdatedAt, f.CompletedAt, f.UploadExpires, f.ObjectMissingSince, f.LastURLAt = times[0], times[1], times[2], times[3], times[4], times[5]
	if f.Thumbnails, err = DecodeThumbnails(r.thumbs); err != nil {
		return nil, fmt.Errorf("file %s thumbnails: %w", f.ID, err)
	}
	return &f, nil
}

// thumbnail is a store.Thumbnail as the thumbnails column keeps it: a
// JSON array of these.
type thumbnail struct {
	Name        string `json:"name"`
	Key         string `json:"key"`
	ContentType string `json:"content_type"`
	Width       int32  `json:"width"`
	Height      int32  `json:"height"`
	SizeBytes   int64  `json:"size_bytes"`
}

// EncodeThumbnails returns thumbs as the JSON array the thumbnails column
// keeps; nil (NULL) when there are none.
func EncodeThumbnails(thumbs []store.Thumbnail) ([]byte, error) {
	if len(thumbs) == 0 {
		return nil, nil
	}
	out := make([]thumbnail, len(thumbs))
	for i, t := range thumbs {
		out[i] = thumbnail(t)
	}
	return json.Marshal(out)
}

// DecodeThumbnails reads what EncodeThumbnails wrote; NULL and [] are nil.
func DecodeThumbnails(b []byte) ([]store.Thumbnail, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var in []thumbnail
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]store.Thumbnail, len(in))
	for i, t := range in {
		out[i] = store.Thumbnail(t)
	}
	return out, nil
}

// TenantQuotaExceeded is the error of a create that would take its
// tenant's live bytes to used, past limit.
func TenantQuotaExceeded(used, limit int64) error {
	return fmt.Errorf("%w: storage limit: %d bytes would be in use, limit %d", store.ErrQuotaExceeded, used, limit)
}

// ScopeQuotaExceeded is the error of a create that would take the live
// bytes of its scope to used, past limit.
func ScopeQuotaExceeded(scope string, used, limit int64) error {
	return fmt.Errorf("%w: storage limit of scope %q: %d bytes would be in use, limit %d",
		store.ErrQuotaExceeded, scope, used, limit)
}

// CreateError is the error CreateFile op returns for err, the outcome of
// its write on the group commit: nil stays nil, a closed writer is
// store.ErrUnavailable, and anything else is wrapped in op.
func CreateError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, groupcommit.ErrClosed):
		return fmt.Errorf("%s: %w (store closed)", op, store.ErrUnavailable)
	}
	return fmt.Errorf("%s: %w", op, err)
}
