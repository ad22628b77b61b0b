package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
)

const (
	eventColumns    = sqlfiles.EventColumns
	deliveryColumns = sqlfiles.DeliveryColumns
)

const insertEventQuery = `INSERT INTO events (id, type, tenant, category, file_id, file, created_at, not_before)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`

// insertEvent writes the event of type typ about f, as the change left it,
// created at at, in tx; with Config.Events off it writes nothing.
func (s *Store) insertEvent(ctx context.Context, tx pgx.Tx, typ string, f *store.File, at time.Time) error {
	if !s.events {
		return nil
	}
	e, body, err := sqlfiles.NewEvent(typ, f, at)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, insertEventQuery, e.ID, e.Type, e.Tenant, e.Category, e.FileID, string(body), e.CreatedAt); err != nil {
		return s.fail("write event "+typ+" of file "+f.ID, err)
	}
	return nil
}

// queueEvent adds to b the insert of the event of type typ about f, as
// the change left it, created at at; with Config.Events off it adds
// nothing.
func (s *Store) queueEvent(b *pgx.Batch, typ string, f *store.File, at time.Time) error {
	if !s.events {
		return nil
	}
	e, body, err := sqlfiles.NewEvent(typ, f, at)
	if err != nil {
		return err
	}
	b.Queue(insertEventQuery, e.ID, e.Type, e.Tenant, e.Category, e.FileID, string(body), e.CreatedAt)
	return nil
}

// insertEvents writes an event of type typ for each of files, in one
// round trip; with Config.Events off it writes nothing.
func (s *Store) insertEvents(ctx context.Context, tx pgx.Tx, typ string, files []*store.File, at time.Time) error {
	if !s.events || len(files) == 0 {
		return nil
	}
	var b pgx.Batch
	for _, f := range files {
		e, body, err := sqlfiles.NewEvent(typ, f, at)
		if err != nil {
			return err
		}
		b.Queue(insertEventQuery, e.ID, e.Type, e.Tenant, e.Category, e.FileID, string(body), e.CreatedAt)
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return s.fail("write events "+typ, err)
	}
	return nil
}

// ClaimEvents leases unrouted events; see store.Outbox. Rows another
// replica is claiming are skipped (FOR UPDATE SKIP LOCKED), and a row
// claimed meanwhile fails the lease check on re-evaluation.
func (s *Store) ClaimEvents(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*store.Event, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim events: limit %d is not positive", limit)
	}
	rows, err := s.pool.Query(ctx, `WITH due AS MATERIALIZED (
			SELECT id AS due_id FROM events WHERE routed_at IS NULL AND not_before <= $1
			ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE events SET not_before = $2
			FROM due WHERE id = due_id AND routed_at IS NULL AND not_before <= $1
			RETURNING `+eventColumns+`
		)
		SELECT * FROM claimed ORDER BY created_at, id`,
		now, store.KeepTime(leaseUntil), limit)
	if err != nil {
		return nil, s.fail("claim events", err)
	}
	es, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Event, error) { return scanEvent(r) })
	if err != nil {
		return nil, s.fail("claim events", err)
	}
	return es, nil
}

// RouteEvent creates an event's deliveries; see store.Outbox. The event's
// routed_at, like its deliveries' CreatedAt, is dueAt. The event's row is
// locked from the check to the commit, so two replicas routing it at once
// route it once. A missing event is store.ErrNotFound.
func (s *Store) RouteEvent(ctx context.Context, id string, sinks []string, dueAt time.Time) error {
	op := "route event " + id
	due := store.KeepTime(dueAt)
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		var tenant string
		var routed pgtype.Timestamptz
		err := tx.QueryRow(ctx, `SELECT tenant, routed_at FROM events WHERE id = $1 FOR UPDATE`, id).Scan(&tenant, &routed)
		if err != nil {
			return s.failGet(op, err)
		}
		if routed.Valid {
			return nil
		}
		if len(sinks) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO event_deliveries (event_id, tenant, sink, created_at, not_before)
				SELECT $1, $2, sink, $3, $3 FROM unnest($4::text[]) AS sink
				ON CONFLICT (event_id, sink) DO NOTHING`, id, tenant, due, sinks); err != nil {
				return s.fail(op, err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE events SET routed_at = $1 WHERE id = $2`, due, id); err != nil {
			return s.fail(op, err)
		}
		return nil
	})
}

// ClaimDeliveries leases due deliveries; see store.Outbox. Rows another
// replica is claiming are skipped (FOR UPDATE SKIP LOCKED), and a row
// claimed meanwhile fails the due check on re-evaluation.
func (s *Store) ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*store.Delivery, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim deliveries: limit %d is not positive", limit)
	}
	return s.queryDeliveries(ctx, "claim deliveries", `WITH due AS MATERIALIZED (
			SELECT id AS due_id, not_before AS due_at FROM event_deliveries WHERE state = 'PENDING' AND not_before <= $1
			ORDER BY not_before, id LIMIT $3 FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE event_deliveries SET not_before = $2, attempts = attempts + 1
			FROM due WHERE id = due_id AND state = 'PENDING' AND not_before <= $1
			RETURNING due_at, `+deliveryColumns+`
		)
		SELECT `+qualifiedDelivery+`, `+qualifiedEvent+` FROM claimed AS d JOIN events AS e ON e.id = d.event_id
		ORDER BY d.due_at, d.id`,
		now, store.KeepTime(leaseUntil), limit)
}

// qualifiedDelivery and qualifiedEvent are deliveryColumns and
// eventColumns of d and e.
var (
	qualifiedDelivery = qualified("d", deliveryColumns)
	qualifiedEvent    = qualified("e", eventColumns)
)

// queryDeliveries runs q, which returns deliveryColumns then eventColumns
// per row, and reads the deliveries with their events.
func (s *Store) queryDeliveries(ctx context.Context, op, q string, args ...any) ([]*store.Delivery, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.fail(op, err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, s.fail(op, err)
	}
	return ds, nil
}

// FinishDelivery marks a delivery DELIVERED; see store.Outbox. A delivery
// that is no longer PENDING is left as it is; a missing one is
// store.ErrNotFound.
func (s *Store) FinishDelivery(ctx context.Context, id int64, at time.Time) error {
	return s.endDelivery(ctx, fmt.Sprintf("finish delivery %d", id),
		`UPDATE event_deliveries SET state = 'DELIVERED', finished_at = $2 WHERE id = $1 AND state = 'PENDING'`,
		id, store.KeepTime(at))
}

// RetryDelivery reschedules a PENDING delivery; see store.Outbox. A
// delivery that is no longer PENDING is left as it is; a missing one is
// store.ErrNotFound.
func (s *Store) RetryDelivery(ctx context.Context, id int64, dueAt time.Time, lastErr string) error {
	return s.endDelivery(ctx, fmt.Sprintf("retry delivery %d", id),
		`UPDATE event_deliveries SET not_before = $2, last_error = $3 WHERE id = $1 AND state = 'PENDING'`,
		id, store.KeepTime(dueAt), lastErr)
}

// BuryDelivery marks a PENDING delivery DEAD; see store.Outbox. A
// delivery that is no longer PENDING is left as it is; a missing one is
// store.ErrNotFound.
func (s *Store) BuryDelivery(ctx context.Context, id int64, at time.Time, lastErr string) error {
	return s.endDelivery(ctx, fmt.Sprintf("bury delivery %d", id),
		`UPDATE event_deliveries SET state = 'DEAD', finished_at = $2, last_error = $3 WHERE id = $1 AND state = 'PENDING'`,
		id, store.KeepTime(at), lastErr)
}

// endDelivery runs the update q of delivery id ($1, then args); when it
// changes no row, it tells a missing delivery (store.ErrNotFound) from one
// in another state (nil).
func (s *Store) endDelivery(ctx context.Context, op, q string, id int64, args ...any) error {
	tag, err := s.pool.Exec(ctx, q, append([]any{id}, args...)...)
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM event_deliveries WHERE id = $1)`, id).Scan(&exists); err != nil {
		return s.fail(op, err)
	}
	if !exists {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// ListDeadDeliveries lists a tenant's dead letters; see store.Outbox. An
// after that names no dead delivery of the tenant starts at the newest.
func (s *Store) ListDeadDeliveries(ctx context.Context, tenant string, after int64, limit int) ([]*store.Delivery, bool, error) {
	if limit <= 0 {
		return nil, false, fmt.Errorf("list dead deliveries: limit %d is not positive", limit)
	}
	q := `SELECT ` + qualifiedDelivery + `, ` + qualifiedEvent + ` FROM event_deliveries AS d JOIN events AS e ON e.id = d.event_id
		WHERE d.tenant = $1 AND d.state = 'DEAD'`
	args := []any{tenant, limit + 1}
	if after != 0 {
		q += ` AND (d.finished_at, d.id) < (SELECT a.finished_at, a.id FROM event_deliveries AS a
			WHERE a.id = $3 AND a.tenant = $1 AND a.state = 'DEAD')`
		args = append(args, after)
	}
	q += ` ORDER BY d.finished_at DESC, d.id DESC LIMIT $2`
	ds, err := s.queryDeliveries(ctx, "list dead deliveries", q, args...)
	if err != nil {
		return nil, false, err
	}
	if len(ds) > limit {
		return ds[:limit], true, nil
	}
	return ds, false, nil
}

// RedeliverDelivery revives a tenant's dead letter; see store.Outbox.
func (s *Store) RedeliverDelivery(ctx context.Context, tenant string, id int64, now time.Time) (*store.Delivery, error) {
	op := fmt.Sprintf("redeliver delivery %d", id)
	ds, err := s.queryDeliveries(ctx, op, `WITH revived AS (
			UPDATE event_deliveries SET state = 'PENDING', attempts = 0, not_before = $3, finished_at = NULL
			WHERE id = $1 AND tenant = $2 AND state = 'DEAD'
			RETURNING `+deliveryColumns+`
		), cur AS (
			SELECT `+deliveryColumns+` FROM revived
			UNION ALL
			SELECT `+deliveryColumns+` FROM event_deliveries WHERE id = $1 AND tenant = $2 AND NOT EXISTS (SELECT FROM revived)
		)
		SELECT `+qualifiedDelivery+`, `+qualifiedEvent+` FROM cur AS d JOIN events AS e ON e.id = d.event_id`,
		id, tenant, store.KeepTime(now))
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return ds[0], nil
}

// PruneOutbox removes finished events; see store.Outbox. Their deliveries
// go with them (ON DELETE CASCADE).
func (s *Store) PruneOutbox(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune outbox: limit %d is not positive", limit)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM events WHERE id IN (
		SELECT e.id FROM events AS e WHERE e.routed_at IS NOT NULL AND e.routed_at < $1
			AND NOT EXISTS (SELECT FROM event_deliveries AS d WHERE d.event_id = e.id
				AND (d.state = 'PENDING' OR d.finished_at >= $1))
		ORDER BY e.routed_at LIMIT $2 FOR UPDATE SKIP LOCKED)`, before, limit)
	if err != nil {
		return 0, s.fail("prune outbox", err)
	}
	return int(tag.RowsAffected()), nil
}

// OutboxBacklog counts what waits in the outbox; see store.Outbox. The
// oldest time is the creation time of the oldest unrouted event or of the
// oldest PENDING delivery.
func (s *Store) OutboxBacklog(ctx context.Context) (unrouted, pending int64, oldest time.Time, err error) {
	var oe, od pgtype.Timestamptz
	err = s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM events WHERE routed_at IS NULL),
		(SELECT min(created_at) FROM events WHERE routed_at IS NULL),
		(SELECT count(*) FROM event_deliveries WHERE state = 'PENDING'),
		(SELECT min(created_at) FROM event_deliveries WHERE state = 'PENDING')`).Scan(&unrouted, &oe, &pending, &od)
	if err != nil {
		return 0, 0, time.Time{}, s.fail("outbox backlog", err)
	}
	oldest = fromTimestamp(oe)
	if d := fromTimestamp(od); !d.IsZero() && (oldest.IsZero() || d.Before(oldest)) {
		oldest = d
	}
	return unrouted, pending, oldest, nil
}

// pendingFileByKey is PendingFileByKey's statement; its conditions are
// those of the partial index files_pending_key (migration 0013).
const pendingFileByKey = `SELECT ` + readColumns + ` FROM files WHERE backend = $1 AND object_key = $2 AND state = 'PENDING'
	ORDER BY created_at DESC, id DESC LIMIT 1`

// PendingFileByKey finds the upload of an object; see store.PendingFiles.
// Should two PENDING files hold one key, the newest is returned.
func (s *Store) PendingFileByKey(ctx context.Context, backend, key string) (*store.File, error) {
	f, err := scanFile(s.pool.QueryRow(ctx, pendingFileByKey, backend, key))
	if err != nil {
		return nil, s.failGet("pending file of "+backend+" object "+key, err)
	}
	return f, nil
}

func scanEvent(row pgx.Row) (*store.Event, error) {
	var r sqlfiles.EventRow
	var created time.Time
	if err := row.Scan(r.Dest(&created)...); err != nil {
		return nil, err
	}
	return r.Event(created.UTC())
}

// scanDelivery reads deliveryColumns then eventColumns.
func scanDelivery(row pgx.Row) (*store.Delivery, error) {
	var (
		dr      sqlfiles.DeliveryRow
		er      sqlfiles.EventRow
		ts      [3]pgtype.Timestamptz
		created time.Time
	)
	dest := append(dr.Dest([3]any{&ts[0], &ts[1], &ts[2]}), er.Dest(&created)...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	e, err := er.Event(created.UTC())
	if err != nil {
		return nil, err
	}
	var times [3]time.Time
	for i, t := range ts {
		times[i] = fromTimestamp(t)
	}
	return dr.Delivery(times, e), nil
}

// qualified prefixes each of the comma-separated columns with table.
func qualified(table, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = table + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}
