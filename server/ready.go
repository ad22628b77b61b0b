package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/presignd/presignd/signer"
)

// ReadinessProbeKey is the object key readiness checks Stat on every
// backend. It is never written: a backend that answers "not found" (or,
// by chance, describes an object) is reachable and authorized.
const ReadinessProbeKey = "presignd-readiness-probe/missing"

// readyTimeout bounds each dependency check of Ready.
const readyTimeout = 3 * time.Second

// NotReadyError is the error of a failed readiness check. Its message
// carries every failure's detail (driver errors, addresses) for the log;
// Public is what may be shown to anyone.
type NotReadyError struct {
	// Down names each dependency that failed, sorted: "backend NAME",
	// "store".
	Down []string
	// Detail is each failure, for the log.
	Detail error
}

func (e *NotReadyError) Error() string { return e.Detail.Error() }
func (e *NotReadyError) Unwrap() error { return e.Detail }

// Public says which dependencies are down and nothing else:
// "backend s3main unavailable; store unavailable".
func (e *NotReadyError) Public() string {
	parts := make([]string, len(e.Down))
	for i, d := range e.Down {
		parts[i] = d + " unavailable"
	}
	return strings.Join(parts, "; ")
}

// ProbeCacheTTL is how long Ready keeps a backend's Checker.Probe answer
// (success or failure), so that frequent /readyz probes do not each call
// the backend.
const ProbeCacheTTL = 10 * time.Second

// cachedProbe is a backend's last Probe answer and when it came.
type cachedProbe struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// get returns the cached answer while it is fresh, else asks check.
func (c *cachedProbe) get(ctx context.Context, check func(context.Context) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < ProbeCacheTTL {
		return c.err
	}
	err := check(ctx)
	if ctx.Err() != nil && err != nil {
		// The caller gave up: not the backend's answer, keep none.
		return err
	}
	c.at, c.err = time.Now(), err
	return err
}

// Ready returns a readiness check for /readyz: ping answers (the store is
// reachable) and every backend is reachable. A backend with a Checker (in
// checkers, by name) answers its Probe (credentials accepted, bucket
// reachable), kept for ProbeCacheTTL; another answers a Stat of
// ReadinessProbeKey with an object or signer.ErrNotFound. Checks run
// concurrently, each for at most a few seconds; a failure is a
// *NotReadyError naming every dependency that failed.
func Ready(ping func(context.Context) error, backends map[string]signer.Signer, checkers map[string]signer.Checker) func(context.Context) error {
	cache := make(map[string]*cachedProbe, len(checkers))
	for name := range checkers {
		cache[name] = &cachedProbe{}
	}
	return func(ctx context.Context) error {
		var (
			mu   sync.Mutex
			down []string
			errs []string
			wg   sync.WaitGroup
		)
		check := func(name string, f func(context.Context) error) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, readyTimeout)
			defer cancel()
			if err := f(cctx); err != nil {
				mu.Lock()
				down = append(down, name)
				errs = append(errs, fmt.Sprintf("%s: %v", name, err))
				mu.Unlock()
			}
		}
		if ping != nil {
			wg.Add(1)
			go check("store", ping)
		}
		for name, b := range backends {
			wg.Add(1)
			if c := checkers[name]; c != nil {
				go check("backend "+name, func(ctx context.Context) error {
					return cache[name].get(ctx, func(ctx context.Context) error {
						_, err := c.Probe(ctx)
						return err
					})
				})
				continue
			}
			go check("backend "+name, func(ctx context.Context) error {
				_, err := b.Stat(ctx, ReadinessProbeKey)
				if err == nil || errors.Is(err, signer.ErrNotFound) {
					return nil
				}
				return err
			})
		}
		wg.Wait()
		if len(errs) == 0 {
			return nil
		}
		sort.Strings(down)
		sort.Strings(errs)
		return &NotReadyError{Down: down, Detail: errors.New(RedactSecrets(strings.Join(errs, "; ")))}
	}
}
