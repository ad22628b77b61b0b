package events

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/presignd/presignd/store"
)

// memOutbox keeps store.Outbox's contract in memory, for the
// dispatcher's unit tests; the drivers' own implementations run the
// e2e tests.
type memOutbox struct {
	mu         sync.Mutex
	events     []*memEvent
	deliveries []*store.Delivery
	nextID     int64
}

type memEvent struct {
	ev         *store.Event
	routed     bool
	leaseUntil time.Time
}

func (m *memOutbox) add(evs ...*store.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ev := range evs {
		m.events = append(m.events, &memEvent{ev: ev})
	}
}

func (m *memOutbox) ClaimEvents(_ context.Context, now, leaseUntil time.Time, limit int) ([]*store.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*store.Event
	for _, e := range m.events {
		if len(out) == limit {
			break
		}
		if !e.routed && !e.leaseUntil.After(now) {
			e.leaseUntil = leaseUntil
			out = append(out, e.ev)
		}
	}
	return out, nil
}

func (m *memOutbox) RouteEvent(_ context.Context, id string, sinks []string, dueAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.events {
		if e.ev.ID != id || e.routed {
			continue
		}
		e.routed = true
		for _, s := range sinks {
			m.nextID++
			m.deliveries = append(m.deliveries, &store.Delivery{ID: m.nextID, Event: e.ev, Sink: s, State: store.DeliveryPending,
				CreatedAt: dueAt, NotBefore: dueAt})
		}
	}
	return nil
}

func (m *memOutbox) ClaimDeliveries(_ context.Context, now, leaseUntil time.Time, limit int) ([]*store.Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*store.Delivery
	for _, d := range m.deliveries {
		if d.State == store.DeliveryPending && !d.NotBefore.After(now) {
			due = append(due, d)
		}
	}
	slices.SortStableFunc(due, func(a, b *store.Delivery) int { return a.NotBefore.Compare(b.NotBefore) })
	var out []*store.Delivery
	for _, d := range due[:min(limit, len(due))] {
		d.NotBefore = leaseUntil
		d.Attempts++
		c := *d
		out = append(out, &c)
	}
	return out, nil
}

func (m *memOutbox) get(id int64) *store.Delivery {
	for _, d := range m.deliveries {
		if d.ID == id {
			return d
		}
	}
	return nil
}

func (m *memOutbox) FinishDelivery(_ context.Context, id int64, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.get(id)
	d.State, d.FinishedAt = store.DeliveryDelivered, at
	return nil
}

func (m *memOutbox) RetryDelivery(_ context.Context, id int64, dueAt time.Time, lastErr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.get(id)
	d.NotBefore, d.LastError = dueAt, lastErr
	return nil
}

func (m *memOutbox) BuryDelivery(_ context.Context, id int64, at time.Time, lastErr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.get(id)
	d.State, d.FinishedAt, d.LastError = store.DeliveryDead, at, lastErr
	return nil
}

func (m *memOutbox) ListDeadDeliveries(_ context.Context, tenant string, after int64, limit int) ([]*store.Delivery, bool, error) {
	panic("not used by the dispatcher")
}

func (m *memOutbox) RedeliverDelivery(_ context.Context, tenant string, id int64, now time.Time) (*store.Delivery, error) {
	panic("not used by the dispatcher")
}

func (m *memOutbox) PruneOutbox(_ context.Context, before time.Time, limit int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	m.events = slices.DeleteFunc(m.events, func(e *memEvent) bool {
		if !e.routed || n == limit {
			return false
		}
		for _, d := range m.deliveries {
			if d.Event.ID == e.ev.ID && (d.State == store.DeliveryPending || !d.FinishedAt.Before(before)) {
				return false
			}
		}
		n++
		return true
	})
	return n, nil
}

func (m *memOutbox) OutboxBacklog(context.Context) (unrouted, pending int64, oldest time.Time, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.events {
		if !e.routed {
			unrouted++
			if oldest.IsZero() || e.ev.CreatedAt.Before(oldest) {
				oldest = e.ev.CreatedAt
			}
		}
	}
	for _, d := range m.deliveries {
		if d.State == store.DeliveryPending {
			pending++
			if oldest.IsZero() || d.CreatedAt.Before(oldest) {
				oldest = d.CreatedAt
			}
		}
	}
	return unrouted, pending, oldest, nil
}
