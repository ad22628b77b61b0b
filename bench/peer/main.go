// Command peer is presignd's peer-style benchmark: the measurements and
// goals of the performance issue, taken the way the peer comparison was
// taken. wrk (HTTP/1.1 keep-alive, -t threads) drives, in interleaved
// rounds at each connection count:
//
//	do-nothing node:http                 a node:http server answering {"status":"ok"}
//	do-nothing Go net/http JSON          a net/http handler encoding {"status":"SERVING"} with encoding/json
//	presignd REST echo                   GET /v1/health (SQLite store)
//	presignd REST CreateUpload, SQLite   POST /v1/uploads, a new file name per request
//	presignd REST CreateUpload, PostgreSQL  the same on a fresh schema (with -postgres-uri)
//
// Each server is its own process. For every run it reads, from /proc, the
// CPU time (utime+stime) the server process spent, and for the PostgreSQL
// rows that of the database: presignd's pool backends (found by their
// application_name in pg_stat_activity) plus the instance's auxiliary
// processes (WAL writer, checkpointer, background writer, autovacuum),
// which serve every client of the instance, so run it on a quiet machine.
// It reads p50 and p99 from wrk's latency distribution, counts socket
// errors and non-2xx answers (a run with any fails the benchmark), and
// reads each server's RSS at idle (after start) and its peak (VmHWM).
//
// With -loadtest it also runs bench/loadtest's gRPC CreateUpload and its
// validate_only twin on each store, for the gRPC CPU goal.
//
// It prints one Markdown table of the runs and one of the goals, each
// with its ratio and whether it is met. bench/peer.sh builds everything
// and runs it:
//
//	bash bench/peer.sh -d 20s -rounds 2
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/presignd/presignd/bench/internal/proc"
)

const (
	apiKey = "bench-peer-api-key-not-secret"
	// pgAppName names presignd's PostgreSQL sessions, to find their
	// backend processes.
	pgAppName = "presignd-peer-bench"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-serve-go-json" {
		serveGoJSON(os.Args[2])
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

// serveGoJSON is the do-nothing Go baseline: a plain net/http JSON
// handler.
func serveGoJSON(addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Status string `json:"status"`
		}{"SERVING"})
	})
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, "peer: go json server:", err)
		os.Exit(1)
	}
}

// nodeServer is the do-nothing node:http baseline; argv[1] is the port.
const nodeServer = `require('http').createServer((req, res) => {
  res.writeHead(200, {'Content-Type': 'application/json'});
  res.end('{"status":"ok"}');
}).listen(+process.argv[1], '127.0.0.1');`

// createScript is wrk's Lua for REST CreateUpload: a new file name per
// request (thread id and counter; args[1] keeps runs apart).
const createScript = `
local n = 0
function setup(thread)
  n = n + 1
  thread:set("tid", n)
end
function init(args)
  prefix = args[1] or "run"
  count = 0
end
function request()
  count = count + 1
  return wrk.format("POST", nil, nil, string.format(
    '{"filename": "doc-%s-%d-%d.pdf", "content_type": "application/pdf", "size_bytes": 654321}', prefix, tid, count))
end
`

type options struct {
	binary, loadtest, postgresURI string
	duration, warmup              time.Duration
	rounds, threads               int
	conns                         []int
	loadtestN                     int
	keep                          bool
}

func run() error {
	var o options
	var conns string
	flag.StringVar(&o.binary, "binary", "", "presignd `binary` (required)")
	flag.StringVar(&o.loadtest, "loadtest", "", "bench/loadtest `binary`: also measure gRPC CreateUpload against its validate_only twin")
	flag.IntVar(&o.loadtestN, "loadtest-n", 20000, "requests per loadtest scenario")
	flag.StringVar(&o.postgresURI, "postgres-uri", os.Getenv("PRESIGND_TEST_POSTGRES_URI"), "PostgreSQL `URI` for the PostgreSQL rows (a fresh schema is made); empty skips them")
	flag.DurationVar(&o.duration, "d", 20*time.Second, "`duration` of each wrk run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "wrk warm-up of each scenario before the rounds")
	flag.IntVar(&o.rounds, "rounds", 2, "interleaved `rounds`")
	flag.IntVar(&o.threads, "t", 2, "wrk threads")
	flag.StringVar(&conns, "c", "16,64", "wrk connection `counts`, comma-separated; the goals read the largest")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (configs, server logs)")
	flag.Parse()
	if o.binary == "" {
		return errors.New("-binary is required (bench/peer.sh builds it)")
	}
	for _, c := range strings.Split(conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < o.threads {
			return fmt.Errorf("-c %q: want connection counts of at least -t", conns)
		}
		o.conns = append(o.conns, n)
	}
	if o.rounds < 1 || o.duration < time.Second {
		return errors.New("need -rounds >= 1 and -d >= 1s")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed (apt-get install wrk; bench/peer.sh does)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("node is not installed")
	}

	dir, err := os.MkdirTemp("", "presignd-peer-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "peer: temp dir", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	script := filepath.Join(dir, "create.lua")
	if err := os.WriteFile(script, []byte(createScript), 0o600); err != nil {
		return err
	}

	var procs []*process
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	start := func(p *process, err error) (*process, error) {
		if p != nil {
			procs = append(procs, p)
		}
		return p, err
	}
	node, err := start(startBaseline(dir, "node", "node", "-e", nodeServer))
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	goJSON, err := start(startBaseline(dir, "go-json", self, "-serve-go-json"))
	if err != nil {
		return err
	}
	sqlite, err := start(startPresignd(o, dir, "sqlite", nil))
	if err != nil {
		return err
	}
	var pg *process
	var pgDB *postgres
	if o.postgresURI != "" {
		pgDB, err = openPostgres(o.postgresURI)
		if err != nil {
			return err
		}
		defer pgDB.close()
		if pg, err = start(startPresignd(o, dir, "postgres", pgDB)); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(os.Stderr, "peer: no -postgres-uri (PRESIGND_TEST_POSTGRES_URI): skipping the PostgreSQL rows")
	}
	time.Sleep(time.Second) // let start-up garbage settle
	for _, p := range procs {
		p.idle = p.memory()
	}

	scenarios := []*scenario{
		{name: "do-nothing node:http", proc: node, url: node.url + "/"},
		{name: "do-nothing Go net/http JSON", proc: goJSON, url: goJSON.url + "/"},
		{name: "presignd REST echo (/v1/health)", proc: sqlite, url: sqlite.url + "/v1/health"},
		{name: "presignd REST CreateUpload, SQLite", proc: sqlite, url: sqlite.url + "/v1/uploads", script: script},
	}
	if pg != nil {
		scenarios = append(scenarios, &scenario{name: "presignd REST CreateUpload, PostgreSQL", proc: pg, url: pg.url + "/v1/uploads", script: script, db: pgDB})
	}
	for _, s := range scenarios {
		s.runs = map[int][]wrkRun{}
		fmt.Fprintf(os.Stderr, "peer: warm-up %s\n", s.name)
		if _, err := s.run(o, o.conns[0], o.warmup, "warmup"); err != nil {
			return err
		}
	}
	for round := range o.rounds {
		for _, c := range o.conns {
			for _, s := range scenarios {
				r, err := s.run(o, c, o.duration, fmt.Sprintf("r%dc%d", round, c))
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "peer: round %d c=%-3d %-40s %9.0f req/s  p99 %-9v server %5.0fµs/req  db %5.0fµs/req\n",
					round+1, c, s.name, r.rps, r.p99, r.serverCPUPerReq(), r.dbCPUPerReq())
				s.runs[c] = append(s.runs[c], r)
				if r.errors > 0 {
					return fmt.Errorf("%s at %d connections: %d errors (socket errors or non-2xx answers)", s.name, c, r.errors)
				}
			}
		}
	}
	for _, p := range procs {
		p.peak = p.memory()
	}

	var grpcGoals []grpcTwin
	if o.loadtest != "" {
		stores := []string{"sqlite"}
		if o.postgresURI != "" {
			stores = append(stores, "postgres")
		}
		for _, st := range stores {
			g, err := runLoadtest(o, st)
			if err != nil {
				return err
			}
			grpcGoals = append(grpcGoals, g)
		}
	}
	printReport(os.Stdout, o, scenarios, procs, grpcGoals)
	return nil
}

// process is one server under test.
type process struct {
	name       string
	cmd        *exec.Cmd
	url        string
	idle, peak proc.Memory
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func (p *process) cpu() time.Duration { return proc.CPU(p.cmd.Process.Pid) }

func (p *process) memory() proc.Memory { return proc.ReadMemory(p.cmd.Process.Pid) }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startBaseline starts a do-nothing server: args and then its port.
func startBaseline(dir, name string, args ...string) (*process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if name == "node" {
		args = append(args, strconv.Itoa(port))
	} else {
		args = append(args, addr)
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, url: "http://" + addr}
	if err := waitOK(p.url+"/", 30*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// startPresignd starts presignd with its default configuration on the
// given store (a fresh schema of db for postgres), logging to a file.
func startPresignd(o options, dir, store string, db *postgres) (*process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	grpcPort, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := ""
	if store == "postgres" {
		cfg = fmt.Sprintf("store: {driver: postgres, postgres: {uri: %q, schema: %q}}\n", db.uri, db.schema)
	}
	name := "presignd-" + store
	cfgPath := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(o.binary, "serve", "--config", cfgPath, "--data-dir", filepath.Join(dir, name+"-data"),
		"--http-addr", addr, "--grpc-addr", fmt.Sprintf("127.0.0.1:%d", grpcPort))
	cmd.Env = append(os.Environ(), "PRESIGND_DEV_API_KEY="+apiKey)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, url: "http://" + addr}
	if err := waitOK(p.url+"/readyz", 60*time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s (log in %s with -keep): %w", name, logf.Name(), err)
	}
	return p, nil
}

// waitOK polls url until it answers 200.
func waitOK(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %s (last error %v)", url, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// postgres is the database of the PostgreSQL rows: a fresh schema, and a
// session of this program to find presignd's backends.
type postgres struct {
	conn        *pgx.Conn
	uri, schema string
}

func openPostgres(uri string) (*postgres, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("-postgres-uri: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	q := u.Query()
	q.Set("application_name", pgAppName)
	u.RawQuery = q.Encode()
	return &postgres{conn: conn, uri: u.String(), schema: fmt.Sprintf("bench_peer_%d", time.Now().UnixNano())}, nil
}

func (p *postgres) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{p.schema}.Sanitize()+" CASCADE"); err != nil {
		fmt.Fprintln(os.Stderr, "peer: drop schema:", err)
	}
	_ = p.conn.Close(ctx)
}

// auxProcess matches the command lines of the instance's auxiliary
// processes that do work for every writer.
var auxProcess = regexp.MustCompile(`^postgres: (?:.*\s)?(walwriter|checkpointer|background writer|autovacuum)`)

// cpuByPID reads the CPU time of presignd's backends and of the
// instance's auxiliary processes.
func (p *postgres) cpuByPID() (map[int]time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := p.conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", pgAppName)
	if err != nil {
		return nil, err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, err
	}
	out := map[int]time.Duration{}
	for _, pid := range pids {
		out[int(pid)] = proc.CPU(int(pid))
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && auxProcess.Match(cmdline) {
			out[pid] = proc.CPU(pid)
		}
	}
	return out, nil
}

// cpuSince sums what the processes of after spent since before (all of
// it for a process that is new).
func cpuSince(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range after {
		d += t - before[pid]
	}
	return d
}

// scenario is one server and request under test.
type scenario struct {
	name   string
	proc   *process
	url    string
	script string
	db     *postgres
	runs   map[int][]wrkRun // by connection count, one per round
}

type wrkRun struct {
	requests, errors int64
	rps              float64
	p50, p99         time.Duration
	serverCPU, dbCPU time.Duration
}

func (r wrkRun) serverCPUPerReq() float64 {
	return float64(r.serverCPU.Microseconds()) / float64(max(r.requests, 1))
}

func (r wrkRun) dbCPUPerReq() float64 {
	return float64(r.dbCPU.Microseconds()) / float64(max(r.requests, 1))
}

func (s *scenario) run(o options, conns int, d time.Duration, tag string) (wrkRun, error) {
	args := []string{"-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())),
		"--latency", "-H", "Authorization: Bearer " + apiKey}
	if s.script != "" {
		args = append(args, "-H", "Content-Type: application/json", "-s", s.script, s.url, "--", tag)
	} else {
		args = append(args, s.url)
	}
	var dbBefore map[int]time.Duration
	if s.db != nil {
		var err error
		if dbBefore, err = s.db.cpuByPID(); err != nil {
			return wrkRun{}, err
		}
	}
	cpu0 := s.proc.cpu()
	out, err := exec.Command("wrk", args...).CombinedOutput()
	cpu1 := s.proc.cpu()
	if err != nil {
		return wrkRun{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return wrkRun{}, fmt.Errorf("%s: %w\n%s", s.name, err, out)
	}
	r.serverCPU = cpu1 - cpu0
	if s.db != nil {
		after, err := s.db.cpuByPID()
		if err != nil {
			return wrkRun{}, err
		}
		r.dbCPU = cpuSince(dbBefore, after)
	}
	return r, nil
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkLatency  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// parseWrk reads wrk --latency output.
func parseWrk(out string) (wrkRun, error) {
	var r wrkRun
	m := wrkRequests.FindStringSubmatch(out)
	rps := wrkRPS.FindStringSubmatch(out)
	if m == nil || rps == nil {
		return r, errors.New("no request count or rate in wrk's output")
	}
	r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	r.rps, _ = strconv.ParseFloat(rps[1], 64)
	for _, l := range wrkLatency.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(l[2], 64)
		unit := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9}[l[3]]
		d := time.Duration(v * unit)
		if l[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if r.p50 == 0 || r.p99 == 0 {
		return r, errors.New("no latency distribution in wrk's output (--latency)")
	}
	if s := wrkSocket.FindStringSubmatch(out); s != nil {
		for _, n := range s[1:] {
			v, _ := strconv.ParseInt(n, 10, 64)
			r.errors += v
		}
	}
	if s := wrkNon2xx.FindStringSubmatch(out); s != nil {
		v, _ := strconv.ParseInt(s[1], 10, 64)
		r.errors += v
	}
	if r.requests == 0 {
		return r, errors.New("wrk made no request")
	}
	return r, nil
}

// grpcTwin is bench/loadtest's gRPC CreateUpload and validate_only CPU
// per request (server) on one store.
type grpcTwin struct {
	store              string
	create, validateOK time.Duration
}

// runLoadtest runs bench/loadtest's gRPC CreateUpload and its
// validate_only twin and reads their server CPU per request from its
// table.
func runLoadtest(o options, store string) (grpcTwin, error) {
	args := []string{"-binary", o.binary, "-store", store, "-only", "gRPC CreateUpload", "-n", strconv.Itoa(o.loadtestN),
		"-rounds", strconv.Itoa(min(max(o.rounds, 2), o.loadtestN))}
	if store == "postgres" {
		args = append(args, "-postgres-uri", o.postgresURI)
	}
	fmt.Fprintf(os.Stderr, "peer: loadtest %s\n", strings.Join(args, " "))
	cmd := exec.Command(o.loadtest, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return grpcTwin{}, fmt.Errorf("loadtest: %w", err)
	}
	g := grpcTwin{store: store}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 9 {
			continue
		}
		name := strings.TrimSpace(cells[1])
		serverCPU, _, _ := strings.Cut(strings.TrimSpace(cells[7]), " + ")
		d, err := time.ParseDuration(serverCPU)
		if err != nil {
			continue
		}
		switch name {
		case "gRPC CreateUpload":
			g.create = d
		case "gRPC CreateUpload validate_only":
			g.validateOK = d
		}
	}
	if g.create == 0 || g.validateOK == 0 {
		return g, fmt.Errorf("loadtest's table lacks the gRPC CreateUpload rows:\n%s", out)
	}
	return g, nil
}

// median of xs (not empty).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread formats the median of xs and, with more than one, their range.
func spread(xs []float64, format string) string {
	if len(xs) == 1 {
		return fmt.Sprintf(format, xs[0])
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", median(xs), slices.Min(xs), slices.Max(xs))
}

func collect(runs []wrkRun, f func(wrkRun) float64) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = f(r)
	}
	return out
}

// ratios are a/b round by round.
func ratios(a, b []wrkRun, f func(wrkRun) float64) []float64 {
	out := make([]float64, 0, len(a))
	for i := range min(len(a), len(b)) {
		out = append(out, f(a[i])/f(b[i]))
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printReport(w io.Writer, o options, scenarios []*scenario, procs []*process, grpc []grpcTwin) {
	fmt.Fprintf(w, "wrk -t%d, %d rounds of %s at %v connections (interleaved), %d CPUs, %s\n\n",
		o.threads, o.rounds, o.duration, o.conns, runtime.NumCPU(), runtime.Version())
	fmt.Fprintln(w, "| scenario | conns | req/s | p50 ms | p99 ms | server CPU µs/req | PostgreSQL CPU µs/req | RSS idle / peak MB |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	for _, c := range o.conns {
		for _, s := range scenarios {
			runs := s.runs[c]
			db := "—"
			if s.db != nil {
				db = spread(collect(runs, wrkRun.dbCPUPerReq), "%.0f")
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %.1f / %.1f |\n", s.name, c,
				spread(collect(runs, func(r wrkRun) float64 { return r.rps }), "%.0f"),
				spread(collect(runs, func(r wrkRun) float64 { return ms(r.p50) }), "%.2f"),
				spread(collect(runs, func(r wrkRun) float64 { return ms(r.p99) }), "%.2f"),
				spread(collect(runs, wrkRun.serverCPUPerReq), "%.0f"), db,
				mb(s.proc.idle.RSS), mb(s.proc.peak.HWM))
		}
	}

	// The goals, at the largest connection count, round by round.
	c := slices.Max(o.conns)
	byName := map[string]*scenario{}
	for _, s := range scenarios {
		byName[s.name] = s
	}
	node, goJSON, echo := byName["do-nothing node:http"].runs[c], byName["do-nothing Go net/http JSON"].runs[c], byName["presignd REST echo (/v1/health)"].runs[c]
	type goal struct {
		name, measured, target, met string
	}
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	var goals []goal
	add := func(name string, xs []float64, target float64, atLeast bool) {
		m := median(xs)
		met := m <= target
		op := "≤"
		if atLeast {
			met, op = m >= target, "≥"
		}
		goals = append(goals, goal{name, spread(xs, "%.2f×"), fmt.Sprintf("%s %.2f×", op, target), yes(met)})
	}
	rps := func(r wrkRun) float64 { return r.rps }
	p99 := func(r wrkRun) float64 { return float64(r.p99) }
	totalCPU := func(r wrkRun) float64 { return r.serverCPUPerReq() + r.dbCPUPerReq() }
	for _, store := range []string{"SQLite", "PostgreSQL"} {
		s := byName["presignd REST CreateUpload, "+store]
		if s == nil {
			continue
		}
		runs := s.runs[c]
		add(fmt.Sprintf("REST CreateUpload, %s: throughput vs node:http @%d", store, c), ratios(runs, node, rps), 0.34, true)
		add(fmt.Sprintf("REST CreateUpload, %s: server + database CPU/req vs node:http's", store), ratios(runs, node, totalCPU), 4.7, false)
		add(fmt.Sprintf("REST CreateUpload, %s: p99 @%d vs node:http's", store, c), ratios(runs, node, p99), 2, false)
	}
	add("REST echo: CPU/req vs Go net/http JSON's", ratios(echo, goJSON, wrkRun.serverCPUPerReq), 1.5, false)
	for _, g := range grpc {
		r := g.create.Seconds() / g.validateOK.Seconds()
		goals = append(goals, goal{fmt.Sprintf("gRPC CreateUpload, %s: server CPU/req vs validate_only's (bench/loadtest)", g.store),
			fmt.Sprintf("%.2f× (%v vs %v)", r, g.create, g.validateOK), "≤ 1.50×", yes(r <= 1.5)})
	}
	if len(grpc) == 0 {
		goals = append(goals, goal{"gRPC CreateUpload: server CPU/req vs validate_only's", "not measured (run with -loadtest)", "≤ 1.50×", "—"})
	}
	for _, p := range procs {
		if !strings.HasPrefix(p.name, "presignd") {
			continue
		}
		idle, peak := mb(p.idle.RSS), mb(p.peak.HWM)
		goals = append(goals,
			goal{p.name + ": idle RSS", fmt.Sprintf("%.1f MB", idle), "≤ 40 MB", yes(idle <= 40)},
			goal{p.name + ": peak RSS under load", fmt.Sprintf("%.1f MB", peak), "≤ 100 MB", yes(peak <= 100)})
	}
	fmt.Fprintf(w, "\nGoals (ratios per round at %d connections: median (range)):\n\n", c)
	fmt.Fprintln(w, "| goal | measured | target | met |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	for _, g := range goals {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", g.name, g.measured, g.target, g.met)
	}
}
