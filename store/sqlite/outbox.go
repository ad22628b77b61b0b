package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/internal/sqlfiles"
)

const (
	eventColumns    = sqlfiles.EventColumns
	deliveryColumns = sqlfiles.DeliveryColumns
)

// execer is a *sql.Tx or a *sql.Conn.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// preparedConn runs statements prepared on the write connection; only
// its holder (inPreparedWrite's fn) may use it.
type preparedConn struct{ s *Store }

func (p preparedConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := p.s.writer.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (p preparedConn) queryRow(ctx context.Context, query string, args ...any) (*sql.Row, error) {
	st, err := p.s.writer.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(ctx, args...), nil
}

// insertEvent writes the event of type typ about f, as the change left it,
// created at at, in the caller's transaction; with Config.Events off it
// writes nothing.
func (s *Store) insertEvent(ctx context.Context, tx execer, typ string, f *store.File, at time.Time) error {
	if !s.events {
		return nil
	}
	e, body, err := sqlfiles.NewEvent(typ, f, at)
	if err != nil {
		return err
	}
	created := e.CreatedAt.UnixMicro()
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, type, tenant, category, file_id, file, created_at, not_before)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Type, e.Tenant, e.Category, e.FileID, string(body), created, created); err != nil {
		return s.fail("write event "+typ+" of file "+f.ID, err)
	}
	return nil
}

// ClaimEvents leases unrouted events; see store.Outbox. It runs in one
// write transaction, which the database's single writer makes exclusive.
// Oldest first is in the order of the events' UUIDv7 ids, the time they
// were written, which is the key order of the events table.
func (s *Store) ClaimEvents(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*store.Event, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim events: limit %d is not positive", limit)
	}
	var es []*store.Event
	err := s.inWrite(ctx, "claim events", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE events SET not_before = ?
			WHERE id IN (
				SELECT id FROM events WHERE not_before <= ? ORDER BY id LIMIT ?)
			RETURNING `+eventColumns, store.KeepTime(leaseUntil).UnixMicro(), now.UnixMicro(), limit)
		if err != nil {
			return s.fail("claim events", err)
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return s.fail("claim events", err)
			}
			es = append(es, e)
		}
		if err := rows.Err(); err != nil {
			return s.fail("claim events", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(es, func(a, b *store.Event) int { return strings.Compare(a.ID, b.ID) })
	return es, nil
}

// RouteEvent creates an event's deliveries; see store.Outbox. It moves
// the event from events to routed_events, with routed_at dueAt, the
// deliveries' CreatedAt too. A missing event is store.ErrNotFound.
func (s *Store) RouteEvent(ctx context.Context, id string, sinks []string, dueAt time.Time) error {
	op := "route event " + id
	due := store.KeepTime(dueAt).UnixMicro()
	return s.inWrite(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO routed_events (id, type, tenant, category, file_id, file, created_at, routed_at)
			SELECT id, type, tenant, category, file_id, file, created_at, ? FROM events WHERE id = ?`, due, id)
		if err != nil {
			return s.fail(op, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return s.fail(op, err)
		} else if n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM routed_events WHERE id = ?`, id).Scan(&one); err != nil {
				return s.failGet(op, err)
			}
			return nil // routed already
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE id = ?`, id); err != nil {
			return s.fail(op, err)
		}
		for _, sink := range sinks {
			if _, err := tx.ExecContext(ctx, `INSERT INTO event_deliveries (event_id, tenant, sink, created_at, not_before)
				SELECT id, tenant, ?, ?, ? FROM routed_events WHERE id = ? ON CONFLICT (event_id, sink) DO NOTHING`,
				sink, due, due, id); err != nil {
				return s.fail(op+" to "+sink, err)
			}
		}
		return nil
	})
}

// ClaimDeliveries leases due deliveries; see store.Outbox.
func (s *Store) ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*store.Delivery, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim deliveries: limit %d is not positive", limit)
	}
	var ds []*store.Delivery
	err := s.inWrite(ctx, "claim deliveries", func(tx *sql.Tx) error {
		// The due ones, soonest first, then the lease: RETURNING keeps
		// no order, and returns the new NotBefore.
		rows, err := tx.QueryContext(ctx, `SELECT id FROM event_deliveries WHERE state = 'PENDING' AND not_before <= ?
			ORDER BY not_before, id LIMIT ?`, now.UnixMicro(), limit)
		if err != nil {
			return s.fail("claim deliveries", err)
		}
		order := map[int64]int{}
		list := []byte{'['}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return s.fail("claim deliveries", err)
			}
			if len(order) > 0 {
				list = append(list, ',')
			}
			order[id] = len(order)
			list = strconv.AppendInt(list, id, 10)
		}
		if err := rows.Close(); err != nil {
			return s.fail("claim deliveries", err)
		}
		if len(order) == 0 {
			return nil
		}
		list = append(list, ']')
		ds, err = s.queryDeliveries(ctx, tx, `UPDATE event_deliveries SET not_before = ?, attempts = attempts + 1
			WHERE id IN (SELECT value FROM json_each(?))
			RETURNING `+deliveryColumns, store.KeepTime(leaseUntil).UnixMicro(), string(list))
		if err != nil {
			return s.fail("claim deliveries", err)
		}
		slices.SortFunc(ds, func(a, b *store.Delivery) int { return order[a.ID] - order[b.ID] })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// queryDeliveries runs q, reads the deliveries it returns and attaches
// their events, read in the same transaction.
func (s *Store) queryDeliveries(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]*store.Delivery, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	type scanned struct {
		r     sqlfiles.DeliveryRow
		times [3]time.Time
	}
	var got []*scanned
	for rows.Next() {
		var sc scanned
		var ts [3]sql.NullInt64
		if err := rows.Scan(sc.r.Dest([3]any{&ts[0], &ts[1], &ts[2]})...); err != nil {
			rows.Close()
			return nil, err
		}
		for i, t := range ts {
			sc.times[i] = fromMicros(t)
		}
		got = append(got, &sc)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	events := map[string]*store.Event{}
	ds := make([]*store.Delivery, 0, len(got))
	for _, sc := range got {
		id := sc.r.EventID()
		e, ok := events[id]
		if !ok {
			e, err = scanEvent(tx.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM routed_events WHERE id = ?`, id))
			if err != nil {
				return nil, fmt.Errorf("event %s: %w", id, err)
			}
			events[id] = e
		}
		ds = append(ds, sc.r.Delivery(sc.times, e))
	}
	return ds, nil
}

// FinishDelivery marks a delivery DELIVERED; see store.Outbox. A delivery
// that is no longer PENDING is left as it is; a missing one is
// store.ErrNotFound.
func (s *Store) FinishDelivery(ctx context.Context, id int64, at time.Time) error {
	return s.endDelivery(ctx, fmt.Sprintf("finish delivery %d", id),
		`UPDATE event_deliveries SET state = 'DELIVERED', finished_at = ? WHERE id = ? AND state = 'PENDING'`,
		id, store.KeepTime(at).UnixMicro(), id)
}

// RetryDelivery reschedules a PENDING delivery; see store.Outbox. A
// delivery that is no longer PENDING is left as it is; a missing one is
// store.ErrNotFound.
func (s *Store) RetryDelivery(ctx context.Context, id int64, dueAt time.Time, lastErr string) error {
	return s.endDelivery(ctx, fmt.Sprintf("retry delivery %d", id),
		`UPDATE event_deliveries SET not_before = ?, last_error = ? WHERE id = ? AND state = 'PENDING'`,
		id, store.KeepTime(dueAt).UnixMicro(), lastErr, id)
}

// BuryDelivery marks a PENDING delivery DEAD; see store.Outbox. A
// delivery that is no longer PENDING is left as it is; a missing one is
// store.ErrNotFound.
func (s *Store) BuryDelivery(ctx context.Context, id int64, at time.Time, lastErr string) error {
	return s.endDelivery(ctx, fmt.Sprintf("bury delivery %d", id),
		`UPDATE event_deliveries SET state = 'DEAD', finished_at = ?, last_error = ? WHERE id = ? AND state = 'PENDING'`,
		id, store.KeepTime(at).UnixMicro(), lastErr, id)
}

// endDelivery runs the update q of delivery id; when it changes no row,
// it tells a missing delivery (store.ErrNotFound) from one in another
// state (nil).
func (s *Store) endDelivery(ctx context.Context, op, q string, id int64, args ...any) error {
	return s.inWrite(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return s.fail(op, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return s.fail(op, err)
		} else if n > 0 {
			return nil
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM event_deliveries WHERE id = ?`, id).Scan(&one); err != nil {
			return s.failGet(op, err)
		}
		return nil
	})
}

// ListDeadDeliveries lists a tenant's dead letters; see store.Outbox. An
// after that names no dead delivery of the tenant starts at the newest.
func (s *Store) ListDeadDeliveries(ctx context.Context, tenant string, after int64, limit int) ([]*store.Delivery, bool, error) {
	if limit <= 0 {
		return nil, false, fmt.Errorf("list dead deliveries: limit %d is not positive", limit)
	}
	q := `SELECT ` + deliveryColumns + ` FROM event_deliveries WHERE tenant = ? AND state = 'DEAD'`
	args := []any{tenant}
	if after != 0 {
		q += ` AND (finished_at, id) < (SELECT finished_at, id FROM event_deliveries
			WHERE id = ? AND tenant = ? AND state = 'DEAD')`
		args = append(args, after, tenant)
	}
	q += ` ORDER BY finished_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)
	var ds []*store.Delivery
	// A read transaction on a reader: the deliveries and their events
	// from one snapshot.
	tx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, s.fail("list dead deliveries", err)
	}
	defer tx.Rollback()
	ds, err = s.queryDeliveries(ctx, tx, q, args...)
	if err != nil {
		return nil, false, s.fail("list dead deliveries", err)
	}
	if len(ds) > limit {
		return ds[:limit], true, nil
	}
	return ds, false, nil
}

// RedeliverDelivery revives a tenant's dead letter; see store.Outbox.
func (s *Store) RedeliverDelivery(ctx context.Context, tenant string, id int64, now time.Time) (*store.Delivery, error) {
	op := fmt.Sprintf("redeliver delivery %d", id)
	var out *store.Delivery
	err := s.inWrite(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE event_deliveries SET state = 'PENDING', attempts = 0,
			not_before = ?, finished_at = NULL WHERE id = ? AND tenant = ? AND state = 'DEAD'`,
			store.KeepTime(now).UnixMicro(), id, tenant); err != nil {
			return s.fail(op, err)
		}
		ds, err := s.queryDeliveries(ctx, tx, `SELECT `+deliveryColumns+` FROM event_deliveries WHERE id = ? AND tenant = ?`, id, tenant)
		if err != nil {
			return s.fail(op, err)
		}
		if len(ds) == 0 {
			return fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		out = ds[0]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PruneOutbox removes finished events; see store.Outbox. Their deliveries
// go with them (ON DELETE CASCADE).
func (s *Store) PruneOutbox(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune outbox: limit %d is not positive", limit)
	}
	var n int64
	err := s.inWrite(ctx, "prune outbox", func(tx *sql.Tx) error {
		b := before.UnixMicro()
		res, err := tx.ExecContext(ctx, `DELETE FROM routed_events WHERE id IN (
			SELECT e.id FROM routed_events AS e WHERE e.routed_at < ?1
				AND NOT EXISTS (SELECT 1 FROM event_deliveries AS d WHERE d.event_id = e.id
					AND (d.state = 'PENDING' OR d.finished_at >= ?1))
			ORDER BY e.routed_at LIMIT ?2)`, b, limit)
		if err != nil {
			return s.fail("prune outbox", err)
		}
		n, err = res.RowsAffected()
		if err != nil {
			return s.fail("prune outbox", err)
		}
		return nil
	})
	return int(n), err
}

// OutboxBacklog counts what waits in the outbox; see store.Outbox. The
// oldest time is the creation time of the oldest unrouted event or of the
// oldest PENDING delivery.
func (s *Store) OutboxBacklog(ctx context.Context) (unrouted, pending int64, oldest time.Time, err error) {
	var oe, od sql.NullInt64
	err = s.queryRow(ctx, `SELECT
		(SELECT count(*) FROM events),
		(SELECT min(created_at) FROM events),
		(SELECT count(*) FROM event_deliveries WHERE state = 'PENDING'),
		(SELECT min(created_at) FROM event_deliveries WHERE state = 'PENDING')`).Scan(&unrouted, &oe, &pending, &od)
	if err != nil {
		return 0, 0, time.Time{}, s.fail("outbox backlog", err)
	}
	oldest = fromMicros(oe)
	if d := fromMicros(od); !d.IsZero() && (oldest.IsZero() || d.Before(oldest)) {
		oldest = d
	}
	return unrouted, pending, oldest, nil
}

// pendingFileByKey is PendingFileByKey's statement; its conditions are
// those of the partial index files_pending_key (migration 0013).
const pendingFileByKey = `SELECT ` + readColumns + ` FROM files WHERE backend = ? AND object_key = ? AND state = 'PENDING'
	ORDER BY created_at DESC, id DESC LIMIT 1`

// PendingFileByKey finds the upload of an object; see store.PendingFiles.
// Should two PENDING files hold one key, the newest is returned.
func (s *Store) PendingFileByKey(ctx context.Context, backend, key string) (*store.File, error) {
	f, err := scanFile(s.queryRow(ctx, pendingFileByKey, backend, key))
	if err != nil {
		return nil, s.failGet("pending file of "+backend+" object "+key, err)
	}
	return f, nil
}

func scanEvent(row scanner) (*store.Event, error) {
	var r sqlfiles.EventRow
	var created int64
	if err := row.Scan(r.Dest(&created)...); err != nil {
		return nil, err
	}
	return r.Event(time.UnixMicro(created).UTC())
}
