package storetest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presignd/presignd/store"
)

// CheckCommitMetrics checks the collector of a store that counts its
// group commits: after n creates on a new store, the driver's
// presignd_<driver>_created_files_total is n and
// presignd_<driver>_create_commits_total between 1 and n.
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
	commits, files := "presignd_"+driver+"_create_commits_total", "presignd_"+driver+"_created_files_total"
	if got[files] != n {
		t.Errorf("%s = %v, want %d (all metrics: %v)", files, got[files], n, got)
	}
	if got[commits] < 1 || got[commits] > n {
		t.Errorf("%s = %v, want 1 to %d (all metrics: %v)", commits, got[commits], n, got)
	}
}
