package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
	"github.com/presignd/presignd/store/internal/words"
)

const (
	fileColumns = sqlfiles.Columns
	readColumns = sqlfiles.ReadColumns
)

// quotaLockClass is the first key of the per-tenant advisory lock CreateFile
// takes; the second is hashtext(tenant). Two-key advisory locks do not
// overlap the one-key locks migrations take.
const quotaLockClass = 0x70736e64 // "psnd"

// insertFile inserts a file: sqlfiles.InsertColumns.
const insertFile = `INSERT INTO files (` + sqlfiles.InsertColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25,
		$26, $27, $28, $29, $30, $31, $32, $33, $34, $35)`

// CreateFile inserts f; see store.Files. Concurrent CreateFiles share
// transactions (group commit, see batch.go); each returns only once its
// own insert is committed or refused. The quota check and the insert are
// one statement under the tenant's advisory lock, so the quota holds
// against concurrent CreateFiles with a quota on every replica; a
// duplicate is reported as ErrAlreadyExists (or ErrNameTaken) even when
// the tenant is also over quota.
func (s *Store) CreateFile(ctx context.Context, f *store.File, quota store.Quota) error {
	op := "create file " + f.ID
	owner, metadata, err := sqlfiles.PrepareCreate(f, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("%s: %w (store closed)", op, store.ErrUnavailable)
	}
	err = s.creates.Write(ctx, &createReq{
		f: f, quota: quota, contrib: liveContribution(f),
		args: []any{f.ID, f.Tenant, f.Category, f.DisplayName, f.NameScope, f.Scope, f.Filename, f.Key,
			f.Backend, f.ContentType, f.SizeBytes, f.ChecksumAlgorithm, f.ChecksumValue, f.ETag, string(f.State),
			f.FailureReason, owner, metadata, f.RequestID, f.RequestHash, f.UploadCount,
			f.CreatedAt, f.UpdatedAt, timestamp(f.CompletedAt), timestamp(f.UploadExpires),
			f.MultipartUploadID, f.PartSize, f.PartChecksumAlgorithm,
			fold(f.DisplayName), f.CompletedBy,
			f.Uploader.Kind, f.Uploader.ID, f.Uploader.Name, timestamp(f.LastURLAt), f.SizeUnknown},
	})
	return sqlfiles.CreateError(op, err)
}

// GetFile returns the tenant's file id, or store.ErrNotFound.
func (s *Store) GetFile(ctx context.Context, tenant, id string) (*store.File, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+readColumns+` FROM files WHERE id = $1 AND tenant = $2`, id, tenant)
	f, err := scanFile(row)
	if err != nil {
		return nil, s.failGet("get file "+id, err)
	}
	return f, nil
}

// GetFileByRequestID returns the tenant's file created with requestID, or
// store.ErrNotFound.
func (s *Store) GetFileByRequestID(ctx context.Context, tenant, requestID string) (*store.File, error) {
	if requestID == "" {
		return nil, fmt.Errorf("get file by request ID: empty request ID: %w", store.ErrNotFound)
	}
	// request_id <> '' lets the planner use the partial unique index
	// (tenant, request_id); without it every lookup scans the table.
	row := s.pool.QueryRow(ctx, `SELECT `+readColumns+` FROM files WHERE tenant = $1 AND request_id = $2 AND request_id <> ''`, tenant, requestID)
	f, err := scanFile(row)
	if err != nil {
		return nil, s.failGet("get file by request ID "+requestID, err)
	}
	return f, nil
}

// ListFiles returns a page of the tenant's files; see store.Files.
//
// A NameContains that holds a word the word index (migration 0006) can
// look up (see wordQuery) is searched the way the sqlite driver searches:
// one statement first samples the start of the walk in list order
// (searchSample files); when at most searchSampleHits of them match, the
// page is taken from the word index, which reads only the files with the
// text's words, however deep in the list; otherwise the walk goes on,
// which a common text fills a page of quickly. The planner cannot make
// that choice itself: it knows nothing of a rare word but a default
// frequency, and with a LIMIT it takes the walk. Other text is a LIKE,
// which the planner serves from the trigram index (migration 0005) or the
// walk.
func (s *Store) ListFiles(ctx context.Context, tenant string, opts store.ListOptions) ([]*store.File, bool, error) {
	if opts.Limit <= 0 {
		return nil, false, fmt.Errorf("list files: limit %d is not positive", opts.Limit)
	}
	q, args := listQuery(tenant, opts)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, false, s.fail("list files", err)
	}
	defer rows.Close()
	files := make([]*store.File, 0, min(opts.Limit+1, 128))
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, false, s.fail("list files", err)
		}
		files = append(files, f)
	}
	if err := rows.Err(); err != nil {
		return nil, false, s.fail("list files", err)
	}
	if len(files) > opts.Limit {
		return files[:opts.Limit], true, nil
	}
	return files, false, nil
}

// listQuery is ListFiles' statement and its arguments; see ListFiles.
func listQuery(tenant string, opts store.ListOptions) (string, []any) {
	var where strings.Builder
	where.WriteString(`tenant = $1`)
	args := []any{tenant}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if opts.Category != "" {
		where.WriteString(` AND category = ` + arg(opts.Category))
	}
	if opts.State != "" {
		where.WriteString(` AND state = ` + arg(string(opts.State)))
	}
	if opts.Scope != "" {
		where.WriteString(` AND scope = ` + arg(opts.Scope))
	}
	if opts.DisplayName != "" {
		where.WriteString(` AND display_name = ` + arg(opts.DisplayName))
	}
	if opts.After != nil {
		where.WriteString(` AND (created_at, id) < (` + arg(opts.After.CreatedAt) + `, ` + arg(opts.After.ID) + `)`)
	}
	const order = ` ORDER BY created_at DESC, id DESC`
	// The limit and the sample size are literals, not parameters: a plan
	// PostgreSQL caches for the statement then still knows them.
	limit := ` LIMIT ` + strconv.Itoa(opts.Limit+1)
	needle := fold(opts.NameContains)
	var q string
	if tsq := wordQuery(needle); tsq != "" {
		// strpos, not LIKE: every character of the text is literal, and
		// the planner has no trigram index scan to choose instead.
		n, w := arg(needle), arg(tsq)
		has := ` AND strpos(name_fold, ` + n + `) > 0`
		sample := strconv.Itoa(searchSample)
		// Both branches are planned, one runs: sample is an InitPlan,
		// and each branch's test of it a one-time filter. OFFSET 0 keeps
		// the word branch from being planned as a walk for its LIMIT.
		q = `WITH sample AS MATERIALIZED (
				SELECT count(*) = ` + sample + ` AND count(*) FILTER (WHERE strpos(name_fold, ` + n + `) > 0) <= ` + strconv.Itoa(searchSampleHits) + ` AS rare
				FROM (SELECT name_fold FROM files WHERE ` + where.String() + order + ` LIMIT ` + sample + `) AS walk)
			SELECT * FROM (
				(SELECT ` + readColumns + ` FROM files WHERE ` + where.String() + has + `
					AND NOT (SELECT rare FROM sample)` + order + limit + `)
				UNION ALL
				(SELECT * FROM (SELECT ` + readColumns + ` FROM files WHERE ` + where.String() + has + `
					AND file_name_words(name_fold) @@ ` + w + `::text::tsquery
					AND (SELECT rare FROM sample) OFFSET 0) AS m` + order + limit + `)
			) AS page` + order
	} else {
		if needle != "" {
			// LIKE with the search text escaped, so every character of it
			// is literal: the trigram index (migration 0005) serves this
			// form.
			where.WriteString(` AND name_fold LIKE ` + arg("%"+escapeLike(needle)+"%"))
		}
		q = `SELECT ` + readColumns + ` FROM files WHERE ` + where.String() + order + limit
	}
	return q, args
}

// UpdateFile reads, updates and writes the tenant's file id in one
// transaction holding the row lock; see store.Files. update runs while the
// row is locked: it must be quick and must not write the same file through
// the store.
func (s *Store) UpdateFile(ctx context.Context, tenant, id string, update func(*store.File) error) (*store.File, error) {
	op := "update file " + id
	var out *store.File
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		row := tx.QueryRow(ctx, `SELECT `+readColumns+` FROM files WHERE id = $1 AND tenant = $2 FOR UPDATE`, id, tenant)
		cur, err := scanFile(row)
		if err != nil {
			return s.failGet(op, err)
		}
		f := *cur
		if err := update(&f); err != nil {
			return err
		}
		f.ID, f.Tenant, f.CreatedAt, f.Thumbnails = cur.ID, cur.Tenant, cur.CreatedAt, cur.Thumbnails
		f.DownloadURLCount = cur.DownloadURLCount // RecordDownloadURL's alone
		f.UpdatedAt = time.Now()
		f.Normalize()
		owner, metadata, err := sqlfiles.EncodeMaps(&f)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		var b pgx.Batch
		b.Queue(`UPDATE files SET
			category = $1, display_name = $2, name_fold = $3, name_scope = $4, filename = $5, object_key = $6,
			backend = $7, content_type = $8, size_bytes = $9, checksum_algorithm = $10, checksum_value = $11,
			etag = $12, state = $13, failure_reason = $14, owner = $15, metadata = $16, request_id = $17,
			request_hash = $18, upload_count = $19, updated_at = $20, completed_at = $21, upload_expires = $22,
			scope = $24, multipart_upload_id = $25, part_size = $26, part_checksum_algorithm = $27,
			completed_by = $28, last_url_at = $29, scan_result = $30, detected_content_type = $31, size_unknown = $32
			WHERE id = $23`,
			f.Category, f.DisplayName, fold(f.DisplayName), f.NameScope, f.Filename, f.Key,
			f.Backend, f.ContentType, f.SizeBytes, f.ChecksumAlgorithm, f.ChecksumValue,
			f.ETag, string(f.State), f.FailureReason, owner, metadata, f.RequestID,
			f.RequestHash, f.UploadCount, f.UpdatedAt, timestamp(f.CompletedAt), timestamp(f.UploadExpires),
			f.ID, f.Scope, f.MultipartUploadID, f.PartSize, f.PartChecksumAlgorithm, f.CompletedBy, timestamp(f.LastURLAt), f.ScanResult,
			f.DetectedContentType, f.SizeUnknown)
		// The event, when the change writes one, goes in the same round
		// trip as the update.
		if typ := sqlfiles.StateEvent(cur.State, f.State); typ != "" {
			if err := s.queueEvent(&b, typ, &f, f.UpdatedAt); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return s.fail(op, err)
		}
		out = &f
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteFile removes the tenant's file id, or returns store.ErrNotFound.
func (s *Store) DeleteFile(ctx context.Context, tenant, id string) error {
	op := "delete file " + id
	tag, err := s.pool.Exec(ctx, `DELETE FROM files WHERE id = $1 AND tenant = $2`, id, tenant)
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// Usage summarises the tenant's files; see store.Files. A PENDING file
// with no upload expiry set keeps its reservation whatever filter.Now is.
func (s *Store) Usage(ctx context.Context, tenant string, filter store.UsageFilter) (store.Usage, error) {
	args := []any{tenant}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	reserved := `state = 'PENDING'`
	if !filter.Now.IsZero() {
		reserved += ` AND (upload_expires IS NULL OR upload_expires > ` + arg(filter.Now) + `)`
	}
	q := `SELECT
		count(*) FILTER (WHERE state = 'READY'),
		COALESCE(SUM(size_bytes) FILTER (WHERE state = 'READY'), 0)::bigint,
		COALESCE(SUM(size_bytes) FILTER (WHERE ` + reserved + `), 0)::bigint,
		MAX(completed_at) FILTER (WHERE state = 'READY')
		FROM files WHERE tenant = $1 AND state IN ('PENDING', 'READY')`
	if filter.Category != "" {
		q += ` AND category = ` + arg(filter.Category)
	}
	if filter.Scope != "" {
		q += ` AND scope = ` + arg(filter.Scope)
	}
	var u store.Usage
	var last pgtype.Timestamptz
	if err := s.pool.QueryRow(ctx, q, args...).Scan(&u.FileCount, &u.BytesUsed, &u.BytesReserved, &last); err != nil {
		return store.Usage{}, s.fail("usage of "+tenant, err)
	}
	u.LastUploadAt = fromTimestamp(last)
	return u, nil
}

// failGet is fail, with no rows meaning store.ErrNotFound.
func (s *Store) failGet(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return s.fail(op, err)
}

func scanFile(row pgx.Row) (*store.File, error) {
	var (
		r               sqlfiles.FileRow
		owner, metadata []byte
		ts              [6]pgtype.Timestamptz
	)
	if err := row.Scan(r.Dest(&owner, &metadata, [6]any{&ts[0], &ts[1], &ts[2], &ts[3], &ts[4], &ts[5]})...); err != nil {
		return nil, err
	}
	var times [6]time.Time
	for i, t := range ts {
		times[i] = fromTimestamp(t)
	}
	return r.File(owner, metadata, times)
}

// timestamp is t, or NULL for the zero time.
func timestamp(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func fromTimestamp(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return v.Time.UTC()
}

// searchSample and searchSampleHits: see sqlfiles.SearchSample.
const (
	searchSample     = sqlfiles.SearchSample
	searchSampleHits = sqlfiles.SearchSampleHits
)

// wordLen is the most characters of a word file_name_words (migration
// 0006) keeps.
const wordLen = 500

// minPrefix is the fewest characters a word the search text ends in must
// have for wordQuery to look it up as a prefix: a shorter one starts too
// many words.
const minPrefix = 3

// wordQuery is the tsquery, in text form, that file_name_words of every
// name holding the folded search text matches, or "" when the text holds
// no word to look up: its whole words, all of them, or else the word it
// ends in as a prefix (see words.Terms). Words hold no ASCII punctuation,
// so quoting them needs no escapes.
func wordQuery(needle string) string {
	t := words.Split(needle)
	if len(t.Whole) > 0 {
		terms := make([]string, len(t.Whole))
		for i, w := range t.Whole {
			terms[i] = "'" + words.Truncate(w, wordLen) + "'"
		}
		return strings.Join(terms, " & ")
	}
	if utf8.RuneCountInString(t.Prefix) >= minPrefix {
		return "'" + words.Truncate(t.Prefix, wordLen) + "':*"
	}
	return ""
}

// escapeLike makes s match itself literally in a LIKE pattern whose escape
// character is the default backslash.
func escapeLike(s string) string {
	return likeEscaper.Replace(s)
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// fold is sqlfiles.Fold.
func fold(s string) string { return sqlfiles.Fold(s) }
