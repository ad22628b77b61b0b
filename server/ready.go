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

// Ready returns a readiness check for /readyz: ping answers (the store is
// reachable) and every backend answers a Stat of ReadinessProbeKey with an
// object or signer.ErrNotFound. Checks run concurrently, each for at most a
// few seconds; a failure is a *NotReadyError naming every dependency that
// failed.
func Ready(ping func(context.Context) error, backends map[string]signer.Signer) func(context.Context) error {
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
