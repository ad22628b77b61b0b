package sqlfiles

import "github.com/prometheus/client_golang/prometheus"

// Collectors is several collectors as one.
type Collectors []prometheus.Collector

// Describe sends the descriptors of every collector.
func (cs Collectors) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range cs {
		c.Describe(ch)
	}
}

// Collect sends the metrics of every collector.
func (cs Collectors) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		c.Collect(ch)
	}
}

// GroupCommit is what CommitCollectors reads from a driver's group commit
// of CreateFiles (a groupcommit.Writer).
type GroupCommit interface {
	Stats() (commits, items int64)
	Anticipated() int
}

// CommitCollectors are the metrics of a driver's group commit of
// CreateFiles: presignd_<driver>_create_commits_total,
// presignd_<driver>_created_files_total and
// presignd_<driver>_announced_creates (authenticated CreateUploads
// announced to the store that have neither queued their CreateFile nor
// ended: each may hold a batch open, so it is 0 whenever no create is in
// flight).
func CommitCollectors(driver, title string, gc GroupCommit) Collectors {
	commits := "presignd_" + driver + "_create_commits_total"
	return Collectors{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: commits,
			Help: title + " transactions that committed a group of CreateFiles.",
		}, func() float64 { c, _ := gc.Stats(); return float64(c) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "presignd_" + driver + "_created_files_total",
			Help: "Files stored by those transactions; over " + commits + ", the mean number of creates sharing a COMMIT.",
		}, func() float64 { _, f := gc.Stats(); return float64(f) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "presignd_" + driver + "_announced_creates",
			Help: "CreateUploads announced to the " + title + " group commit that have not queued their CreateFile yet; each may hold a group open, so it stays near 0 when no create is in flight.",
		}, func() float64 { return float64(gc.Anticipated()) }),
	}
}
