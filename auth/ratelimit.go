package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter is a token bucket per tenant: PerSecond tokens a second, up
// to Burst at once. The zero limit (PerSecond 0) allows everything. It is
// safe for concurrent use.
type RateLimiter struct {
	op    string
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	tenants map[string]*rate.Limiter
}

// maxLimitedTenants bounds the limiter map; past it, limiters whose
// bucket has refilled (and so hold no state worth keeping) are dropped.
const maxLimitedTenants = 10000

// NewRateLimiter returns a limiter for op (named in errors). A burst
// below 1 is 1; now is the clock, time.Now when nil.
func NewRateLimiter(op string, perSecond float64, burst int, now func() time.Time) *RateLimiter {
	if burst < 1 {
		burst = 1
	}
	if now == nil {
		now = time.Now
	}
	return &RateLimiter{op: op, limit: rate.Limit(perSecond), burst: burst, now: now, tenants: map[string]*rate.Limiter{}}
}

// Allow takes one token from tenant's bucket, or returns a
// *RateLimitError saying when the next token will be there.
func (l *RateLimiter) Allow(tenant string) error {
	if l == nil || l.limit <= 0 {
		return nil
	}
	now := l.now()
	l.mu.Lock()
	lim, ok := l.tenants[tenant]
	if !ok {
		if len(l.tenants) >= maxLimitedTenants {
			for t, tl := range l.tenants {
				if tl.TokensAt(now) >= float64(l.burst) {
					delete(l.tenants, t)
				}
			}
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.tenants[tenant] = lim
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return &RateLimitError{Op: l.op, RetryAfter: d}
	}
	return nil
}
