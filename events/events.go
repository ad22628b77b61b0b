// Package events delivers the events a store wrote to its outbox
// (store.Outbox) to the configured sinks: webhooks (Standard Webhooks
// signatures) and NATS JetStream (CloudEvents). Delivery is at least
// once: an event may reach a sink more than once (after a crash between
// the send and its record, or a retried send the sink did accept), always
// with the same id, by which every consumer de-duplicates.
//
// A Dispatcher routes each new event to the sinks whose filters match it
// (one delivery per sink), then delivers the due deliveries, retrying a
// failed one with exponential backoff and full jitter until
// Retry.GiveUpAfter, after which it is DEAD (a dead letter an admin lists
// and redelivers). Every replica may run one over the same store: the
// store's claims hand each event and delivery to one of them at a time.
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/store"
)

// Sink is a destination of events.
type Sink interface {
	// Deliver sends ev. Nil means the destination accepted it; an error
	// means it may not have, and the delivery is retried. It is called
	// from several goroutines at once, and must return when ctx ends.
	Deliver(ctx context.Context, ev *store.Event) error
}

// Filter selects events. An empty list matches everything.
type Filter struct {
	Tenants    []string
	Categories []string
	// Types are event types (store.EventFileReady, ...).
	Types []string
}

// Match reports whether ev passes every non-empty list of f.
func (f Filter) Match(ev *store.Event) bool {
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	return in(f.Tenants, ev.Tenant) && in(f.Categories, ev.Category) && in(f.Types, ev.Type)
}

// Route is a named sink and the events it takes. The name is recorded
// with each delivery ("webhook:billing", "nats"), so it must stay the
// same across restarts and replicas for pending deliveries to reach it.
type Route struct {
	Name   string
	Sink   Sink
	Filter Filter
	// Timeout, when set, bounds one delivery to this sink instead of
	// Config.Timeout (a malware scan takes longer than a webhook).
	Timeout time.Duration
}

// Retry is the schedule of failed deliveries.
type Retry struct {
	// Initial is the longest wait after the first failure (5s); the
	// longest wait doubles with each failure up to Max (1h). The wait is
	// drawn uniformly between zero and that bound (full jitter), so that
	// replicas and deliveries failing together do not retry together.
	Initial, Max time.Duration
	// GiveUpAfter is how long after its creation a delivery that fails is
	// given up (DEAD) instead of retried (72h).
	GiveUpAfter time.Duration
}

// Config configures New.
type Config struct {
	Outbox store.Outbox
	Routes []Route
	Retry  Retry
	// Workers is how many deliveries run at once (4).
	Workers int
	// Batch is how many events or deliveries one claim takes (100).
	Batch int
	// Timeout bounds one delivery attempt (10s).
	Timeout time.Duration
	// Lease is how long a claimed event or delivery is reserved for this
	// dispatcher before another may take it (three times the longest of
	// Timeout and the routes' timeouts): after a crash, how long its
	// deliveries in flight wait to be tried again. It must not be shorter
	// than any of those timeouts.
	Lease time.Duration
	// Interval is the wait between polls when there is nothing to do
	// (250ms): about the added latency of an event.
	Interval time.Duration
	// Keep is how long finished deliveries and their events are kept
	// before they are pruned (24h).
	Keep   time.Duration
	Logger *slog.Logger
	// Registerer, when set, receives the dispatcher's metrics.
	Registerer prometheus.Registerer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Dispatcher routes and delivers events. It is safe for concurrent use.
type Dispatcher struct {
	cfg     Config
	routes  map[string]Route
	metrics metrics
	rand    func(n int64) int64
}

type metrics struct {
	written                  *prometheus.CounterVec
	delivered, retried, dead *prometheus.CounterVec
	lag                      *prometheus.HistogramVec
	backlog                  *prometheus.GaugeVec
	oldest                   prometheus.Gauge
	errors                   prometheus.Counter
}

// New checks cfg and returns a Dispatcher. It fails on a route without a
// name or sink, two routes of one name, a negative duration, or when the
// metrics cannot be registered.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Outbox == nil {
		return nil, errors.New("events: no outbox")
	}
	routes := make(map[string]Route, len(cfg.Routes))
	for _, r := range cfg.Routes {
		if r.Name == "" || r.Sink == nil {
			return nil, fmt.Errorf("events: route %q has no name or no sink", r.Name)
		}
		if _, dup := routes[r.Name]; dup {
			return nil, fmt.Errorf("events: two routes named %q", r.Name)
		}
		if r.Timeout < 0 {
			return nil, fmt.Errorf("events: route %q has a negative timeout", r.Name)
		}
		routes[r.Name] = r
	}
	for name, d := range map[string]time.Duration{
		"retry.initial": cfg.Retry.Initial, "retry.max": cfg.Retry.Max, "retry.give_up_after": cfg.Retry.GiveUpAfter,
		"timeout": cfg.Timeout, "lease": cfg.Lease, "interval": cfg.Interval, "keep": cfg.Keep,
	} {
		if d < 0 {
			return nil, fmt.Errorf("events: %s %s is negative", name, d)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.Retry.Initial, 5*time.Second)
	def(&cfg.Retry.Max, time.Hour)
	def(&cfg.Retry.GiveUpAfter, 72*time.Hour)
	def(&cfg.Timeout, 10*time.Second)
	longest := cfg.Timeout
	for _, r := range routes {
		longest = max(longest, r.Timeout)
	}
	def(&cfg.Lease, 3*longest)
	def(&cfg.Interval, 250*time.Millisecond)
	def(&cfg.Keep, 24*time.Hour)
	if cfg.Retry.Max < cfg.Retry.Initial {
		cfg.Retry.Max = cfg.Retry.Initial
	}
	if cfg.Lease < longest {
		return nil, fmt.Errorf("events: lease %s is shorter than the delivery timeout %s", cfg.Lease, longest)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	vec := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "presignd", Subsystem: "events", Name: name, Help: help}, []string{"sink"})
	}
	m := metrics{
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "presignd", Subsystem: "events", Name: "written_total",
			Help: "Events written to the outbox, by type, counted once when they are routed to their sinks.",
		}, []string{"type"}),
		delivered: vec("delivered_total", "Deliveries a sink accepted."),
		retried:   vec("retried_total", "Delivery attempts that failed and will be retried."),
		dead:      vec("dead_total", "Deliveries given up after retry.give_up_after (dead letters)."),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "presignd", Subsystem: "events", Name: "delivery_lag_seconds",
			Help:    "Time from an event's creation to its delivery, by sink.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400},
		}, []string{"sink"}),
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "presignd", Subsystem: "events", Name: "backlog",
			Help: "Events not yet routed (kind unrouted) and deliveries not yet done (kind pending), as last polled.",
		}, []string{"kind"}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "presignd", Subsystem: "events", Name: "backlog_oldest_age_seconds",
			Help: "Age of the oldest event not yet routed or delivery not yet done, as last polled; 0 when there is none.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "presignd", Subsystem: "events", Name: "errors_total",
			Help: "Dispatcher rounds that stopped on a store error.",
		}),
	}
	for name := range routes {
		// Export zeros for every configured sink.
		m.delivered.WithLabelValues(name)
		m.retried.WithLabelValues(name)
		m.dead.WithLabelValues(name)
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{m.written, m.delivered, m.retried, m.dead, m.lag, m.backlog, m.oldest, m.errors} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("events: register metrics: %w", err)
			}
		}
	}
	return &Dispatcher{cfg: cfg, routes: routes, metrics: m, rand: rand.Int64N}, nil
}

// Run polls until ctx ends: it routes and delivers (Step) while there is
// work, waits Interval when there is none, refreshes the backlog gauges
// every few seconds and prunes finished events every minute. A store
// error is logged and retried at the next poll.
func (d *Dispatcher) Run(ctx context.Context) {
	var lastBacklog, lastPrune time.Time
	for ctx.Err() == nil {
		n, err := d.Step(ctx)
		if err != nil && ctx.Err() == nil {
			d.metrics.errors.Inc()
			d.cfg.Logger.Warn("event dispatch", "err", err)
		}
		now := d.cfg.Now()
		if now.Sub(lastBacklog) >= 5*time.Second {
			lastBacklog = now
			if err := d.RefreshBacklog(ctx); err != nil && ctx.Err() == nil {
				d.cfg.Logger.Warn("event backlog", "err", err)
			}
		}
		if now.Sub(lastPrune) >= time.Minute {
			lastPrune = now
			if _, err := d.Prune(ctx); err != nil && ctx.Err() == nil {
				d.cfg.Logger.Warn("event prune", "err", err)
			}
		}
		if n > 0 && err == nil {
			continue
		}
		t := time.NewTimer(d.cfg.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// Step routes one batch of new events, then claims one batch of due
// deliveries and attempts them (Workers at a time), and returns how many
// events and deliveries it handled. Each attempt's outcome is recorded
// before Step returns: delivered, retried at a jittered backoff, or
// buried once Retry.GiveUpAfter has passed since the delivery's creation
// (a delivery for a sink no route names any more is buried at once, for
// an admin to redeliver once the sink is back).
func (d *Dispatcher) Step(ctx context.Context) (int, error) {
	routed, err := d.route(ctx)
	if err != nil {
		return routed, err
	}
	delivered, err := d.deliver(ctx)
	return routed + delivered, err
}

func (d *Dispatcher) route(ctx context.Context) (int, error) {
	now := d.cfg.Now()
	evs, err := d.cfg.Outbox.ClaimEvents(ctx, now, now.Add(d.cfg.Lease), d.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("claim events: %w", err)
	}
	for i, ev := range evs {
		var sinks []string
		for _, r := range d.cfg.Routes {
			if r.Filter.Match(ev) {
				sinks = append(sinks, r.Name)
			}
		}
		if err := d.cfg.Outbox.RouteEvent(ctx, ev.ID, sinks, now); err != nil {
			return i, fmt.Errorf("route event %s: %w", ev.ID, err)
		}
		d.metrics.written.WithLabelValues(ev.Type).Inc()
	}
	return len(evs), nil
}

func (d *Dispatcher) deliver(ctx context.Context) (int, error) {
	now := d.cfg.Now()
	ds, err := d.cfg.Outbox.ClaimDeliveries(ctx, now, now.Add(d.cfg.Lease), d.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("claim deliveries: %w", err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, d.cfg.Workers)
	for _, dl := range ds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := d.attempt(ctx, dl); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return len(ds), first
}

// attempt delivers dl and records the outcome; it returns only store
// errors (the delivery's lease then ends and it is claimed again).
func (d *Dispatcher) attempt(ctx context.Context, dl *store.Delivery) error {
	log := d.cfg.Logger.With("delivery_id", dl.ID, "event_id", dl.Event.ID, "event_type", dl.Event.Type, "sink", dl.Sink, "attempt", dl.Attempts)
	r, ok := d.routes[dl.Sink]
	var sendErr error
	if !ok {
		sendErr = fmt.Errorf("sink %q is not configured", dl.Sink)
	} else {
		timeout := d.cfg.Timeout
		if r.Timeout > 0 {
			timeout = r.Timeout
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		sendErr = r.Sink.Deliver(actx, dl.Event)
		cancel()
	}
	now := d.cfg.Now()
	if sendErr == nil {
		if err := d.cfg.Outbox.FinishDelivery(ctx, dl.ID, now); err != nil {
			return fmt.Errorf("finish delivery %d: %w", dl.ID, err)
		}
		d.metrics.delivered.WithLabelValues(dl.Sink).Inc()
		d.metrics.lag.WithLabelValues(dl.Sink).Observe(now.Sub(dl.Event.CreatedAt).Seconds())
		log.Debug("event delivered")
		return nil
	}
	if ctx.Err() != nil {
		// Shutting down: the lease ends and the delivery is tried again,
		// without counting this as the sink's failure.
		return nil
	}
	msg := truncate(sendErr.Error(), 1024)
	if !ok || now.Sub(dl.CreatedAt) >= d.cfg.Retry.GiveUpAfter {
		if err := d.cfg.Outbox.BuryDelivery(ctx, dl.ID, now, msg); err != nil {
			return fmt.Errorf("bury delivery %d: %w", dl.ID, err)
		}
		d.metrics.dead.WithLabelValues(dl.Sink).Inc()
		log.Warn("event delivery given up: a dead letter now", "err", msg)
		return nil
	}
	due := now.Add(d.backoff(dl.Attempts))
	if err := d.cfg.Outbox.RetryDelivery(ctx, dl.ID, due, msg); err != nil {
		return fmt.Errorf("retry delivery %d: %w", dl.ID, err)
	}
	d.metrics.retried.WithLabelValues(dl.Sink).Inc()
	log.Info("event delivery failed, will retry", "err", msg, "due", due)
	return nil
}

// backoff is the wait after the attempts-th failure: uniform in
// [0, min(Max, Initial·2^(attempts-1))] (full jitter).
func (d *Dispatcher) backoff(attempts int) time.Duration {
	return jitter(d.cfg.Retry, attempts, d.rand)
}

func jitter(r Retry, attempts int, rnd func(int64) int64) time.Duration {
	bound := r.Initial
	for i := 1; i < attempts && bound < r.Max; i++ {
		bound *= 2
	}
	bound = min(bound, r.Max)
	if bound <= 0 {
		return 0
	}
	return time.Duration(rnd(int64(bound) + 1))
}

// Prune removes events whose deliveries all finished more than Keep ago,
// in batches, and returns how many it removed.
func (d *Dispatcher) Prune(ctx context.Context) (int, error) {
	before := d.cfg.Now().Add(-d.cfg.Keep)
	total := 0
	for range 100 {
		n, err := d.cfg.Outbox.PruneOutbox(ctx, before, 1000)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune outbox: %w", err)
		}
		if n < 1000 {
			break
		}
	}
	return total, nil
}

// RefreshBacklog sets the backlog gauges from the store.
func (d *Dispatcher) RefreshBacklog(ctx context.Context) error {
	unrouted, pending, oldest, err := d.cfg.Outbox.OutboxBacklog(ctx)
	if err != nil {
		return fmt.Errorf("outbox backlog: %w", err)
	}
	d.metrics.backlog.WithLabelValues("unrouted").Set(float64(unrouted))
	d.metrics.backlog.WithLabelValues("pending").Set(float64(pending))
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, d.cfg.Now().Sub(oldest).Seconds())
	}
	d.metrics.oldest.Set(age)
	return nil
}

// truncate cuts s to at most n bytes of valid UTF-8, as the stores keep
// it in a text column.
func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}
