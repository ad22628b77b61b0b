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

// CommitCollectors are the metrics of a driver's group commit of
// CreateFiles: presignd_<driver>_create_commits_total and
// presignd_<driver>_created_files_total, read from stats (see
// groupcommit.Writer.Stats).
func CommitCollectors(driver, title string, stats func() (commits, files int64)) Collectors {
	commits := "presignd_" + driver + "_create_commits_total"
	return Collectors{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: commits,
			Help: title + " transactions that committed a group of CreateFiles.",
		}, func() float64 { c, _ := stats(); return float64(c) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "presignd_" + driver + "_created_files_total",
			Help: "Files stored by those transactions; over " + commits + ", the mean number of creates sharing a COMMIT.",
		}, func() float64 { _, f := stats(); return float64(f) }),
	}
}
