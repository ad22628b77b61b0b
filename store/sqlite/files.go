package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
	"github.com/presignd/presignd/store/internal/words"
)

const (
	fileColumns = sqlfiles.Columns
	readColumns = sqlfiles.ReadColumns
)

// CreateFile inserts f; see store.Files. The quota is checked after the
// insert, inside the same write transaction, so a duplicate is reported
// as ErrAlreadyExists (or ErrNameTaken) even when the tenant is also over
// quota, and no other write can slip in between the sum and the insert.
// Concurrent CreateFiles share write transactions (group commit, see
// batch.go); each returns only once its own insert is committed or
// refused.
func (s *Store) CreateFile(ctx context.Context, f *store.File, quota store.Quota) error {
	op := "create file " + f.ID
	owner, metadata, err := encodeMaps(sqlfiles.PrepareCreate(f, time.Now()))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("%s: %w (store closed)", op, store.ErrUnavailable)
	}
	err = s.creates.w.Write(ctx, &createReq{f: f, quota: quota, owner: owner, metadata: metadata})
	return sqlfiles.CreateError(op, err)
}

// AnticipateCreate announces a CreateFile that the caller is about to
// make with the returned context: until it is queued, the writer may hold
// the batch it is filling open for it (at most anticipateWait; see
// batch.go), so that requests handled at the same time share a COMMIT.
// done calls the announcement off; every announcement must end with done,
// which is harmless once the CreateFile has been made (or called twice).
func (s *Store) AnticipateCreate(ctx context.Context) (_ context.Context, done func()) {
	return s.creates.w.Anticipate(ctx)
}

// liveBytes sums the live bytes of the tenant's files (of scope only, when
// scope is not nil) at time at: READY files, whose bytes the triggers of
// migration 0008 keep in tenant_ready_bytes and scope_ready_bytes, and
// PENDING files whose upload target expires after at or has no expiry set,
// a range of one covering index on (tenant, [scope,] state,
// upload_expires, ...) that holds only the uploads in progress.
func liveBytes(ctx context.Context, tx queryRower, tenant string, scope *string, at time.Time) (int64, error) {
	where := `tenant = ?1`
	ready := `(SELECT bytes FROM tenant_ready_bytes WHERE tenant = ?1)`
	args := []any{tenant, at.UnixMicro()}
	if scope != nil {
		where += ` AND scope = ?3`
		ready = `(SELECT bytes FROM scope_ready_bytes WHERE tenant = ?1 AND scope = ?3)`
		args = append(args, *scope)
	}
	var used int64
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(`+ready+`, 0) +
		(SELECT COALESCE(SUM(size_bytes), 0) FROM files WHERE `+where+` AND state = 'PENDING'
			AND (upload_expires IS NULL OR upload_expires > ?2))`, args...).Scan(&used)
	return used, err
}

// queryRower is a *sql.Tx or a *sql.Conn.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// GetFile returns the tenant's file id, or store.ErrNotFound.
func (s *Store) GetFile(ctx context.Context, tenant, id string) (*store.File, error) {
	row := s.queryRow(ctx, `SELECT `+readColumns+` FROM files WHERE id = ? AND tenant = ?`, id, tenant)
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
	row := s.queryRow(ctx, `SELECT `+readColumns+` FROM files WHERE tenant = ? AND request_id = ? AND request_id <> ''`, tenant, requestID)
	f, err := scanFile(row)
	if err != nil {
		return nil, s.failGet("get file by request ID "+requestID, err)
	}
	return f, nil
}

// ListFiles returns a page of the tenant's files; see store.Files. A
// Cursor is meant to come from a listed file (its times are microseconds).
//
// A listing walks the tenant's files in list order and stops at the end of
// the page. A NameContains of at least trigramLen characters first samples
// the start of that walk (searchSample files): when at most
// searchSampleHits of them match, the page is taken from an index
// instead, which reads only the candidate files, however deep in the list
// they are: the word index (migration 0006) when the text holds a word it
// can look up (see wordMatch), else the trigram index (migration 0005). A
// common text keeps the walk, which a page fills quickly; shorter text
// always walks, since neither index can look it up.
func (s *Store) ListFiles(ctx context.Context, tenant string, opts store.ListOptions) ([]*store.File, bool, error) {
	if opts.Limit <= 0 {
		return nil, false, fmt.Errorf("list files: limit %d is not positive", opts.Limit)
	}
	needle := fold(opts.NameContains)
	where, args := listFilter(tenant, opts)
	indexed := false
	if utf8.RuneCountInString(needle) >= trigramLen {
		var seen, hits int
		err := s.queryRow(ctx, `SELECT count(*), coalesce(sum(instr(name_fold, ?) > 0), 0) FROM (
			SELECT f.name_fold FROM files AS f WHERE `+where+`
			ORDER BY f.created_at DESC, f.id DESC LIMIT ?)`,
			append(append([]any{needle}, args...), searchSample)...).Scan(&seen, &hits)
		if err != nil {
			return nil, false, s.fail("list files: sample name matches", err)
		}
		indexed = seen == searchSample && hits <= searchSampleHits
	}
	var q strings.Builder
	switch {
	case indexed:
		// The word index when the text holds a word it can look up, else
		// the trigram index, and the files still waiting for the name
		// indexer (migration 0009), each checked with instr. CROSS JOIN:
		// SQLite keeps the tables in this order, so the matches (and the
		// short list of waiting files) drive and files are read by rowid.
		table, match := "files_name_words", wordMatch(needle)
		if match == "" {
			table, match = "files_name_fts", ftsPhrase(needle)
		}
		q.WriteString(`SELECT * FROM (
			SELECT ` + listColumns + ` FROM ` + table + ` AS m
				CROSS JOIN files AS f ON f.rowid = m.rowid
				WHERE ` + table + ` MATCH ? AND ` + where + ` AND instr(f.name_fold, ?) > 0
			UNION ALL
			SELECT ` + listColumns + ` FROM files_name_unindexed AS u
				CROSS JOIN files AS f ON f.rowid = u.file_rowid
				WHERE ` + where + ` AND instr(f.name_fold, ?) > 0)
			ORDER BY created_at DESC, id DESC LIMIT ?`)
		filter := args
		args = append([]any{match}, filter...)
		args = append(args, needle)
		args = append(args, filter...)
		args = append(args, needle, opts.Limit+1)
	default:
		q.WriteString(`SELECT ` + listColumns + ` FROM files AS f WHERE ` + where)
		if needle != "" {
			// instr, not LIKE: every character of the search text is
			// literal.
			q.WriteString(` AND instr(f.name_fold, ?) > 0`)
			args = append(args, needle)
		}
		q.WriteString(` ORDER BY f.created_at DESC, f.id DESC LIMIT ?`)
		args = append(args, opts.Limit+1)
	}

	rows, err := s.query(ctx, q.String(), args...)
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

// UpdateFile reads, updates and writes the tenant's file id in one write
// transaction; see store.Files. update runs while the transaction holds the
// database's write lock: it must be quick and must not call the store.
//
// Its statements are prepared once on the write connection (like
// CreateFile's): parsing them cost more than running them. Once it holds
// the write connection, the caller's cancellation no longer interrupts
// it, so the transaction always ends (committed or rolled back) before
// the connection is released; each statement is bounded by the busy
// timeout.
func (s *Store) UpdateFile(ctx context.Context, tenant, id string, update func(*store.File) error) (*store.File, error) {
	op := "update file " + id
	var out *store.File
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	ctx = context.WithoutCancel(ctx)
	tx := preparedConn{s}
	err := s.inPreparedWrite(ctx, op, func(*sql.Conn) error {
		row, err := tx.queryRow(ctx, `SELECT `+readColumns+` FROM files WHERE id = ? AND tenant = ?`, id, tenant)
		if err != nil {
			return s.fail(op, err)
		}
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
		owner, metadata, err := encodeMaps(sqlfiles.EncodeMaps(&f))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE files SET
			category = ?, display_name = ?, name_fold = ?, name_scope = ?, scope = ?, filename = ?, object_key = ?,
			backend = ?, content_type = ?, size_bytes = ?, checksum_algorithm = ?, checksum_value = ?,
			etag = ?, state = ?, failure_reason = ?, owner = ?, metadata = ?, request_id = ?,
			request_hash = ?, upload_count = ?, updated_at = ?, completed_at = ?, upload_expires = ?,
			multipart_upload_id = ?, part_size = ?, part_checksum_algorithm = ?, completed_by = ?,
			last_url_at = ?, scan_result = ?, detected_content_type = ?, size_unknown = ?
			WHERE id = ?`,
			f.Category, f.DisplayName, fold(f.DisplayName), f.NameScope, f.Scope, f.Filename, f.Key,
			f.Backend, f.ContentType, f.SizeBytes, f.ChecksumAlgorithm, f.ChecksumValue,
			f.ETag, string(f.State), f.FailureReason, owner, metadata, f.RequestID,
			f.RequestHash, f.UploadCount, micros(f.UpdatedAt), micros(f.CompletedAt), micros(f.UploadExpires),
			f.MultipartUploadID, f.PartSize, f.PartChecksumAlgorithm, f.CompletedBy,
			micros(f.LastURLAt), f.ScanResult, f.DetectedContentType, f.SizeUnknown,
			f.ID)
		if err != nil {
			return s.fail(op, err)
		}
		if typ := sqlfiles.StateEvent(cur.State, f.State); typ != "" {
			if err := s.insertEvent(ctx, tx, typ, &f, f.UpdatedAt); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
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
	return s.inWrite(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM files WHERE id = ? AND tenant = ?`, id, tenant)
		if err != nil {
			return s.fail(op, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return s.fail(op, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		return nil
	})
}

// Usage summarises the tenant's files; see store.Files. A PENDING file
// with no upload expiry set keeps its reservation whatever filter.Now is.
func (s *Store) Usage(ctx context.Context, tenant string, filter store.UsageFilter) (store.Usage, error) {
	reserved := `state = 'PENDING'`
	args := []any{}
	if !filter.Now.IsZero() {
		reserved += ` AND (upload_expires IS NULL OR upload_expires > ?)`
		args = append(args, filter.Now.UnixMicro())
	}
	q := `SELECT
		COALESCE(SUM(state = 'READY'), 0),
		COALESCE(SUM(CASE WHEN state = 'READY' THEN size_bytes END), 0),
		COALESCE(SUM(CASE WHEN ` + reserved + ` THEN size_bytes END), 0),
		MAX(CASE WHEN state = 'READY' THEN completed_at END)
		FROM files WHERE tenant = ? AND state IN ('PENDING', 'READY')`
	args = append(args, tenant)
	if filter.Category != "" {
		q += ` AND category = ?`
		args = append(args, filter.Category)
	}
	if filter.Scope != "" {
		q += ` AND scope = ?`
		args = append(args, filter.Scope)
	}
	var u store.Usage
	var last sql.NullInt64
	if err := s.queryRow(ctx, q, args...).Scan(&u.FileCount, &u.BytesUsed, &u.BytesReserved, &last); err != nil {
		return store.Usage{}, s.fail("usage of "+tenant, err)
	}
	u.LastUploadAt = fromMicros(last)
	return u, nil
}

// failGet is fail, with no rows meaning store.ErrNotFound.
func (s *Store) failGet(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return s.fail(op, err)
}

type scanner interface{ Scan(dest ...any) error }

func scanFile(row scanner) (*store.File, error) {
	var (
		r               sqlfiles.FileRow
		owner, metadata sql.NullString
		ts              [6]sql.NullInt64
	)
	if err := row.Scan(r.Dest(&owner, &metadata, [6]any{&ts[0], &ts[1], &ts[2], &ts[3], &ts[4], &ts[5]})...); err != nil {
		return nil, err
	}
	var times [6]time.Time
	for i, t := range ts {
		times[i] = fromMicros(t)
	}
	return r.File(textBytes(owner), textBytes(metadata), times)
}

// micros is t in unix microseconds, or NULL for the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// listFilter is the WHERE clause of ListFiles over files AS f, and its
// arguments: the tenant, opts' filters but NameContains, and the cursor.
func listFilter(tenant string, opts store.ListOptions) (string, []any) {
	var q strings.Builder
	q.WriteString(`f.tenant = ?`)
	args := []any{tenant}
	if opts.Category != "" {
		q.WriteString(` AND f.category = ?`)
		args = append(args, opts.Category)
	}
	if opts.State != "" {
		q.WriteString(` AND f.state = ?`)
		args = append(args, string(opts.State))
	}
	if opts.Scope != "" {
		q.WriteString(` AND f.scope = ?`)
		args = append(args, opts.Scope)
	}
	if opts.DisplayName != "" {
		q.WriteString(` AND f.display_name = ?`)
		args = append(args, opts.DisplayName)
	}
	if opts.After != nil {
		q.WriteString(` AND (f.created_at, f.id) < (?, ?)`)
		args = append(args, opts.After.CreatedAt.UnixMicro(), opts.After.ID)
	}
	return q.String(), args
}

// trigramLen is the shortest search text the trigram index can look up:
// it indexes every run of three characters of a name.
const trigramLen = 3

// searchSample and searchSampleHits: see sqlfiles.SearchSample.
const (
	searchSample     = sqlfiles.SearchSample
	searchSampleHits = sqlfiles.SearchSampleHits
)

// wordMatch is the FTS5 query of files_name_words (migration 0006) that
// every name holding the folded search text matches, or "" when the text
// has no word that index can look up: its whole words, all of them, or
// else the word it ends in as a prefix, when that has at least trigramLen
// characters (a shorter prefix is the start of too many words). A word
// with no ASCII letter or digit is left out: unicode61 might make no
// token of it, and an empty phrase matches nothing.
func wordMatch(needle string) string {
	t := words.Split(needle)
	var terms []string
	for _, w := range t.Whole {
		if hasASCIIAlnum(w) {
			terms = append(terms, ftsPhrase(w))
		}
	}
	if len(terms) > 0 {
		return strings.Join(terms, " AND ")
	}
	if utf8.RuneCountInString(t.Prefix) >= trigramLen && hasASCIIAlnum(t.Prefix) {
		// The star makes the phrase's last token a prefix.
		return ftsPhrase(t.Prefix) + "*"
	}
	return ""
}

// hasASCIIAlnum reports whether s has an ASCII letter or digit.
func hasASCIIAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < utf8.RuneSelf && !words.IsSeparator(rune(c)) {
			return true
		}
	}
	return false
}

// ftsPhrase is text as an FTS5 phrase: quoted, with its quotes doubled, so
// no character of it is query syntax.
func ftsPhrase(text string) string {
	return `"` + strings.ReplaceAll(text, `"`, `""`) + `"`
}

// listColumns are readColumns of the files table as ListFiles names it.
var listColumns = qualified("f", readColumns)

// qualified prefixes each of the comma-separated columns with table.
func qualified(table, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = table + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// fold is sqlfiles.Fold.
func fold(s string) string { return sqlfiles.Fold(s) }

// encodeMaps is sqlfiles.EncodeMaps as TEXT values (NULL for no entries),
// passing err on.
func encodeMaps(owner, metadata []byte, err error) (any, any, error) {
	return text(owner), text(metadata), err
}

// text is b as a TEXT value, or NULL for nil.
func text(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// textBytes is v's bytes, or nil for NULL.
func textBytes(v sql.NullString) []byte {
	if !v.Valid {
		return nil
	}
	return []byte(v.String)
}
