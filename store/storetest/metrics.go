package storetest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/store"
)

// CheckCommitMetrics checks the collector of a store that counts its
// group commits: after n creates on a new store, the driver's
// presignd_<driver>_created_files_total is n and
// presignd_<driver>_create_commits_total between 1 and n; and, when the
// store is a store.CreateAnticipator, presignd_<driver>_announced_creates
// counts the announcements that have neither queued nor ended.
func CheckCommitMetrics(t *testing.T, s store.Store, c prometheus.Collector, driver string) {
	t.Helper()
	const n = 3
	for range n {
		mustCreate(t, s, newFile(tenantA))
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("Register: %v", err)
	}
	got := gather(t, reg)
	commits, files := "presignd_"+driver+"_create_commits_total", "presignd_"+driver+"_created_files_total"
	if got[files] != n {
		t.Errorf("%s = %v, want %d (all metrics: %v)", files, got[files], n, got)
	}
	if got[commits] < 1 || got[commits] > n {
		t.Errorf("%s = %v, want 1 to %d (all metrics: %v)", commits, got[commits], n, got)
	}
	a, ok := s.(store.CreateAnticipator)
	if !ok {
		return
	}
	announced := "presignd_" + driver + "_announced_creates"
	for _, tc := range []struct {
		name string
		act  func() func() // returns what ends the announcements it made
		want float64
	}{
		{"none", func() func() { return func() {} }, 0},
		{"two announced", func() func() {
			_, done1 := a.AnticipateCreate(t.Context())
			_, done2 := a.AnticipateCreate(t.Context())
			return func() { done1(); done2() }
		}, 2},
		{"announced and queued", func() func() {
			ctx, done := a.AnticipateCreate(t.Context())
			if err := s.CreateFile(ctx, newFile(tenantA), store.Quota{}); err != nil {
				t.Fatalf("CreateFile: %v", err)
			}
			return done
		}, 0},
	} {
		end := tc.act()
		if n, ok := gather(t, reg)[announced]; !ok || n != tc.want {
			t.Errorf("%s: %s = %v (exported: %v), want %v", tc.name, announced, n, ok, tc.want)
		}
		end()
		if n := gather(t, reg)[announced]; n != 0 {
			t.Errorf("%s: %s = %v once every announcement ended, want 0", tc.name, announced, n)
		}
	}
}

// gather reads every unlabelled counter and gauge of reg by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			got[f.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return got
}
