// Command pgcreate measures the PostgreSQL store's CreateFile under
// concurrency, without the server: -n creates (files with names, no
// quota) from -g goroutines on a new schema of the server -uri names
// (default $PRESIGND_TEST_POSTGRES_URI), after 500 to warm up. It prints
// the wall time per create, the CPU the store's PostgreSQL backends spent
// per create (read from /proc, so the server must run on this machine)
// and the mean number of creates per COMMIT. -old puts the word index and
// the READY-bytes trigger back as they were before migration 0009, to
// measure what it saves. The schema is dropped at the end.
//
//	go run ./bench/pgcreate -n 10000 -g 32
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presignd/presignd/bench/internal/proc"
	"github.com/presignd/presignd/store"
	"github.com/presignd/presignd/store/postgres"
)

const revert = `ALTER INDEX files_name_words SET (fastupdate = off);
DROP TRIGGER files_ready_bytes_insert ON files; DROP TRIGGER files_ready_bytes_delete ON files; DROP TRIGGER files_ready_bytes_update ON files;
CREATE TRIGGER files_ready_bytes AFTER INSERT OR DELETE OR UPDATE OF tenant, scope, state, size_bytes ON files FOR EACH ROW EXECUTE FUNCTION files_ready_bytes();`

// cpuOf sums the user and system CPU of pids.
func cpuOf(pids []int) time.Duration {
	var sum time.Duration
	for _, p := range pids {
		sum += proc.CPU(p)
	}
	return sum
}

func main() {
	old := flag.Bool("old", false, "undo migration 0009 on the new schema")
	n := flag.Int("n", 20000, "creates")
	g := flag.Int("g", 32, "goroutines")
	base := flag.String("uri", os.Getenv("PRESIGND_TEST_POSTGRES_URI"), "PostgreSQL URI, with a query string")
	flag.Parse()
	if *base == "" || !strings.Contains(*base, "?") {
		fmt.Fprintln(os.Stderr, "pgcreate: -uri (or PRESIGND_TEST_POSTGRES_URI) must be a PostgreSQL URI with a query string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		os.Exit(2)
	}
	ctx := context.Background()
	schema := fmt.Sprintf("pgcpu_%d", time.Now().UnixNano())
	app := schema
	conn, err := pgx.Connect(ctx, *base)
	if err != nil {
		panic(err)
	}
	defer conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
	s, err := postgres.Open(ctx, postgres.Config{URI: *base + "&application_name=" + app, Schema: schema})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	if *old {
		if _, err := conn.Exec(ctx, `SET search_path TO `+schema+`; `+revert); err != nil {
			panic(err)
		}
	}
	var next atomic.Int64
	create := func() error {
		i := next.Add(1)
		id := fmt.Sprintf("f-%08d", i)
		f := &store.File{ID: id, Tenant: "t" + strconv.Itoa(int(i%4)), Category: "default", Filename: id + ".pdf",
			Key: "t/" + id, Backend: "local", State: store.StatePending, SizeBytes: 100,
			DisplayName: fmt.Sprintf("Quarterly report %d invoice-%d scan", i%97, i), ContentType: "application/pdf",
			UploadExpires: time.Now().Add(time.Hour)}
		return s.CreateFile(ctx, f, store.Quota{})
	}
	for range 500 { // warm up: connections, prepared statements
		if err := create(); err != nil {
			panic(err)
		}
	}
	var pids []int
	rows, _ := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
	pids, err = pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		panic(err)
	}
	c0 := cpuOf(pids)
	t0 := time.Now()
	var wg sync.WaitGroup
	per := *n / *g
	for range *g {
		wg.Go(func() {
			for range per {
				if err := create(); err != nil {
					panic(err)
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(t0)
	rows, _ = conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
	after, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		panic(err)
	}
	c1 := cpuOf(after) // backends started during the run count from zero
	pids = after
	total := per * *g
	commits, files := s.CreateCommits()
	fmt.Printf("old=%v creates=%d wall=%.0fµs/create pg_cpu=%.1fµs/create (%d backends) creates/commit=%.1f\n",
		*old, total, float64(el.Microseconds())/float64(total), float64((c1-c0).Microseconds())/float64(total), len(pids), float64(files)/float64(commits))
}
