// Command loadtest measures presignd end to end: it builds (or takes) the
// real binary, starts it on free loopback ports with a fresh data dir, and
// drives, one after the other and with the same request count and
// concurrency:
//
//	grpc echo           grpc.health.v1.Health/Check on the gRPC port: the bare
//	                    baseline (full interceptor chain, no credential, no store)
//	grpc CreateUpload   presignd.v1.FileService/CreateUpload
//	rest echo           GET /v1/health: the same Check through the REST
//	                    gateway (HTTP, JSON, dispatched in process)
//	rest CreateUpload   POST /v1/uploads
//	grpc GetFile        GetFile of files created above
//	grpc ListFiles      ListFiles, 20 per page
//
// and, when -only names them, "gRPC CreateUpload validate_only" and "REST
// CreateUpload validate_only": the CreateUploads above with validate_only
// set, every check and no signing or write, which bound the ratio any
// store could reach.
//
// It prints a Markdown table of throughput, p50 and p99 latency and the
// ratio of each to its echo baseline (gRPC to the gRPC echo, REST to the
// REST echo), the CPU time the server and this client spent per request
// (and its ratio to the baseline's: steadier than throughput on a shared
// machine), and the server's resident memory (VmRSS) at idle and its peak
// (VmHWM) under load, read from /proc. Everything runs on loopback; the
// client shares the machine with the server.
//
//	go run ./bench/loadtest -n 20000 -c 64
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"

	"github.com/presignd/presignd/bench/internal/proc"
)

const apiKey = "bench-api-key-not-secret"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

type options struct {
	binary      string
	n           int
	concurrency int
	conns       int
	store       string
	postgresURI string
	keyCache    time.Duration
	keep        bool
	debugAddr   string
	profileDir  string
	rounds      int
	only        string
}

func run() error {
	var o options
	flag.StringVar(&o.binary, "binary", "", "presignd `binary` to run (default: build ./cmd/presignd as the Dockerfile does)")
	flag.IntVar(&o.n, "n", 20000, "requests per scenario (after a warm-up of n/10)")
	flag.IntVar(&o.concurrency, "c", 64, "concurrent requests")
	flag.IntVar(&o.conns, "conns", 4, "gRPC connections the requests are spread over")
	flag.StringVar(&o.store, "store", "sqlite", "metadata store: sqlite or postgres")
	flag.StringVar(&o.postgresURI, "postgres-uri", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL `URI` with -store postgres")
	flag.DurationVar(&o.keyCache, "key-cache", 10*time.Second, "auth.api_key_cache_ttl of the server (0 looks every key up in the store)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (data, config, server log)")
	flag.StringVar(&o.debugAddr, "debug-addr", "", "serve the server's /debug/pprof on this loopback `address` (for go tool pprof while it runs)")
	flag.IntVar(&o.rounds, "rounds", 5, "split each scenario's requests into this many `rounds`, every round running all the scenarios in turn; a ratio is the median of the rounds' ratios, so a slow spell of the machine weighs on a baseline and its scenario alike")
	flag.StringVar(&o.only, "only", "", "run only the scenarios whose names match this `regexp` (and their echo baselines), e.g. 'gRPC CreateUpload'")
	flag.StringVar(&o.profileDir, "profile", "", "write CPU profiles of each measured scenario to `dir`: <scenario>.server.pprof (the server, through its debug address) and <scenario>.client.pprof (this load generator)")
	flag.Parse()
	if o.n < 1 || o.concurrency < 1 || o.concurrency > 1024 || o.conns < 1 || o.rounds < 1 || o.rounds > o.n {
		return errors.New("need n >= 1, 1 <= c <= 1024, conns >= 1, 1 <= rounds <= n")
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
		if o.debugAddr == "" {
			addr, err := freeAddr()
			if err != nil {
				return err
			}
			o.debugAddr = addr
		}
	}

	dir, err := os.MkdirTemp("", "presignd-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "loadtest: temp dir", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if o.binary == "" {
		o.binary = filepath.Join(dir, "presignd")
		fmt.Fprintln(os.Stderr, "loadtest: building presignd (CGO_ENABLED=0, -trimpath)")
		build := exec.Command("go", "build", "-trimpath", "-o", o.binary, "./cmd/presignd")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	// Run a copy: the file the linker just wrote sits in the page cache
	// as the linker's mmap left it, and the kernel maps about 2 MB more of
	// it into the process than of the same bytes written by a copy or read
	// from disk, which is how an image layer or an install puts it there.
	run := filepath.Join(dir, "presignd-run")
	if err := copyExecutable(o.binary, run); err != nil {
		return err
	}
	o.binary = run
	srv, err := startServer(o, dir)
	if err != nil {
		return err
	}
	defer srv.stop()

	time.Sleep(2 * time.Second) // let start-up garbage settle
	idle := srv.memory()

	b, err := newBench(o, srv)
	if err != nil {
		return err
	}
	defer b.close()

	var results []*result
	byName := map[string]*result{}
	runScenario := func(round int, name, baseline string, op func(ctx context.Context, i int) error) error {
		n := o.n / o.rounds
		if round == o.rounds-1 {
			n = o.n - n*(o.rounds-1)
		}
		commits0, files0 := b.createCommits()
		r, err := b.measure(name, op, n, round == 0)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		commits1, files1 := b.createCommits()
		r.commits, r.committedFiles = commits1-commits0, files1-files0
		fmt.Fprintf(os.Stderr, "loadtest: round %d %-18s %8.0f req/s  errors %d\n", round+1, name, float64(n)/r.elapsed.Seconds(), r.errors)
		total := byName[name]
		if total == nil {
			total = &result{name: name, baseline: baseline}
			byName[name] = total
			results = append(results, total)
		}
		total.add(r)
		return nil
	}
	type scenario struct {
		name, baseline string
		op             func(ctx context.Context, i int) error
		// onRequest: run only when -only names it.
		onRequest bool
	}
	scenarios := []scenario{
		{"gRPC echo", "", b.grpcEcho, false},
		{"gRPC CreateUpload", "gRPC echo", b.grpcCreateUpload, false},
		{"REST echo", "", b.restEcho, false},
		{"REST CreateUpload", "REST echo", b.restCreateUpload, false},
		{"gRPC GetFile", "gRPC echo", b.grpcGetFile, false},
		{"gRPC ListFiles", "gRPC echo", b.grpcListFiles, false},
		// The same CreateUploads with validate_only: every check of a
		// create (credential, protovalidate, category policy, name and
		// quota reads) but no signing and no write, so an answer without
		// an upload target. No store can make a CreateUpload cheaper than
		// that: its ratio bounds what any store could reach.
		{"gRPC CreateUpload validate_only", "gRPC echo", b.grpcValidateOnly, true},
		{"REST CreateUpload validate_only", "REST echo", b.restValidateOnly, true},
	}
	if o.only == "" {
		scenarios = slices.DeleteFunc(scenarios, func(s scenario) bool { return s.onRequest })
	} else {
		re, err := regexp.Compile(o.only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		keep := map[string]bool{}
		for _, s := range scenarios {
			if re.MatchString(s.name) {
				keep[s.name], keep[s.baseline] = true, true
				if s.name == "gRPC GetFile" { // reads the files it creates
					keep["gRPC CreateUpload"] = true
				}
			}
		}
		scenarios = slices.DeleteFunc(scenarios, func(s scenario) bool { return !keep[s.name] })
		if len(scenarios) == 0 {
			return fmt.Errorf("-only %q matches no scenario", o.only)
		}
	}
	var peak memory
	for round := range o.rounds {
		for _, s := range scenarios {
			stopSampling := srv.sampleRSS(&peak)
			err := runScenario(round, s.name, s.baseline, s.op)
			stopSampling()
			if err != nil {
				return err
			}
		}
	}
	for _, r := range results {
		r.finish()
		fmt.Fprintf(os.Stderr, "loadtest: %-18s %8.0f req/s  p50 %-9s p99 %-9s errors %d\n", r.name, r.rps, r.p50, r.p99, r.errors)
	}
	final := srv.memory()
	printReport(os.Stdout, o, results, idle, peak, final)
	return nil
}

// server is the presignd process under test.
type server struct {
	cmd      *exec.Cmd
	httpURL  string
	grpcAddr string
	log      *os.File
}

var listenLine = regexp.MustCompile(`presignd: (http|grpc) listening on (\S+)`)

func startServer(o options, dir string) (*server, error) {
	cfg := fmt.Sprintf("log: {level: info, format: text}\nauth: {api_key_cache_ttl: %s}\n", o.keyCache)
	if o.debugAddr != "" {
		cfg += fmt.Sprintf("debug_addr: %q\n", o.debugAddr)
	}
	if o.store == "postgres" {
		schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
		cfg += fmt.Sprintf("store: {driver: postgres, postgres: {uri: %q, schema: %q}}\n", o.postgresURI, schema)
	} else if o.store != "sqlite" {
		return nil, fmt.Errorf("unknown store %q", o.store)
	}
	cfgPath := filepath.Join(dir, "presignd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.binary, "serve", "--config", cfgPath, "--data-dir", filepath.Join(dir, "data"),
		"--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "PRESIGND_DEV_API_KEY="+apiKey)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, log: logf}
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				if m[1] == "http" {
					s.httpURL = "http://" + m[2]
				} else {
					s.grpcAddr = m[2]
				}
				if s.httpURL != "" && s.grpcAddr != "" {
					close(found)
				}
			}
		}
	}()
	select {
	case <-found:
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, errors.New("presignd did not start within 60s (see server.log with -keep)")
	}
	for range 100 { // and until it is ready
		if resp, err := http.Get(s.httpURL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("presignd never became ready")
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
	}
	s.log.Close()
}

// cpu is the CPU time (user and system) the server process has used.
func (s *server) cpu() time.Duration { return proc.CPU(s.cmd.Process.Pid) }

// selfCPU is the CPU time (user and system) this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memory is a reading of the server's resident memory, in bytes: rss in
// all, file of it the binary's own mapped pages, hwm the peak so far.
type memory = proc.Memory

// copyExecutable writes a copy of the executable src to dst.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

func (s *server) memory() memory { return proc.ReadMemory(s.cmd.Process.Pid) }

// sampleRSS records the largest VmRSS seen into peak until stopped.
func (s *server) sampleRSS(peak *memory) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			m := s.memory()
			peak.RSS = max(peak.RSS, m.RSS)
			peak.HWM = max(peak.HWM, m.HWM)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// bench holds the clients and what the scenarios share.
type bench struct {
	o       options
	srv     *server
	conns   []*grpc.ClientConn
	files   []presigndv1.FileServiceClient
	health  []healthpb.HealthClient
	http    *http.Client
	ctx     context.Context // carries the API key
	mu      sync.Mutex
	created []string // file ids, for GetFile
}

func newBench(o options, srv *server) (*bench, error) {
	b := &bench{o: o, srv: srv, ctx: metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+apiKey)}
	for range o.conns {
		conn, err := grpc.NewClient(srv.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		b.conns = append(b.conns, conn)
		b.files = append(b.files, presigndv1.NewFileServiceClient(conn))
		b.health = append(b.health, healthpb.NewHealthClient(conn))
	}
	b.http = &http.Client{Transport: &http.Transport{MaxIdleConns: o.concurrency, MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency}}
	return b, nil
}

func (b *bench) close() {
	for _, c := range b.conns {
		c.Close()
	}
}

// createCommits reads the server's presignd_<store>_create_commits_total
// and presignd_<store>_created_files_total (0 with a store without them).
func (b *bench) createCommits() (commits, files float64) {
	resp, err := b.http.Get(b.srv.httpURL + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(name, "presignd_") && strings.HasSuffix(name, "_create_commits_total"):
			commits, _ = strconv.ParseFloat(value, 64)
		case strings.HasPrefix(name, "presignd_") && strings.HasSuffix(name, "_created_files_total"):
			files, _ = strconv.ParseFloat(value, 64)
		}
	}
	return commits, files
}

func (b *bench) grpcEcho(ctx context.Context, i int) error {
	_, err := b.health[i%len(b.health)].Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func (b *bench) createRequest(i int) *presigndv1.CreateUploadRequest {
	return &presigndv1.CreateUploadRequest{Filename: fmt.Sprintf("photo-%d.jpg", i), ContentType: "image/jpeg", SizeBytes: 123456}
}

func (b *bench) grpcCreateUpload(ctx context.Context, i int) error {
	resp, err := b.files[i%len(b.files)].CreateUpload(b.ctx, b.createRequest(i))
	if err != nil {
		return err
	}
	if i%8 == 0 {
		b.mu.Lock()
		b.created = append(b.created, resp.GetFile().GetFileId())
		b.mu.Unlock()
	}
	return nil
}

func (b *bench) restDo(method, path string, body []byte, auth bool) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, b.srv.httpURL+path, rd)
	if err != nil {
		return err
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return nil
}

func (b *bench) restEcho(ctx context.Context, i int) error {
	return b.restDo(http.MethodGet, "/v1/health", nil, false)
}

func (b *bench) restCreateUpload(ctx context.Context, i int) error {
	return b.restCreate(i, false)
}

// restCreate POSTs the i-th CreateUpload's JSON body.
func (b *bench) restCreate(i int, validateOnly bool) error {
	body := fmt.Appendf(nil, `{"filename": "doc-%d.pdf", "content_type": "application/pdf", "size_bytes": 654321, "validate_only": %t}`, i, validateOnly)
	return b.restDo(http.MethodPost, "/v1/uploads", body, true)
}

func (b *bench) grpcValidateOnly(ctx context.Context, i int) error {
	req := b.createRequest(i)
	req.ValidateOnly = true
	_, err := b.files[i%len(b.files)].CreateUpload(b.ctx, req)
	return err
}

func (b *bench) restValidateOnly(ctx context.Context, i int) error {
	return b.restCreate(i, true)
}

func (b *bench) grpcGetFile(ctx context.Context, i int) error {
	b.mu.Lock()
	id := b.created[i%len(b.created)]
	b.mu.Unlock()
	_, err := b.files[i%len(b.files)].GetFile(b.ctx, &presigndv1.GetFileRequest{FileId: id})
	return err
}

func (b *bench) grpcListFiles(ctx context.Context, i int) error {
	resp, err := b.files[i%len(b.files)].ListFiles(b.ctx, &presigndv1.ListFilesRequest{PageSize: 20})
	if err == nil && len(resp.GetFiles()) != 20 {
		err = fmt.Errorf("ListFiles returned %d files, want 20", len(resp.GetFiles()))
	}
	return err
}

// result is one scenario's measurement: of one round (measure), or of all
// of them (add, then finish).
type result struct {
	name, baseline string
	n, errors      int
	firstErr       error
	elapsed        time.Duration
	lat            []time.Duration // each request's latency
	roundRPS       []float64       // throughput of each round
	rps            float64
	p50, p99       time.Duration
	// serverCPU and clientCPU are the CPU time (user and system) the
	// server process and this load generator spent on the measured
	// requests: on a shared machine they vary much less than throughput.
	serverCPU, clientCPU time.Duration
	// commits and committedFiles are how many SQLite write transactions
	// committed CreateFiles during the scenario (warm-up included), and
	// how many files they stored (the server's metrics).
	commits, committedFiles float64
}

// add counts the round r into the total.
func (t *result) add(r *result) {
	t.n += r.n
	t.errors += r.errors
	if t.firstErr == nil {
		t.firstErr = r.firstErr
	}
	t.elapsed += r.elapsed
	t.serverCPU += r.serverCPU
	t.clientCPU += r.clientCPU
	t.commits += r.commits
	t.committedFiles += r.committedFiles
	t.lat = append(t.lat, r.lat...)
	t.roundRPS = append(t.roundRPS, float64(r.n)/r.elapsed.Seconds())
}

// finish computes the throughput and latency percentiles of all rounds.
func (t *result) finish() {
	t.rps = float64(t.n) / t.elapsed.Seconds()
	slices.Sort(t.lat)
	t.p50, t.p99 = t.lat[len(t.lat)/2], t.lat[len(t.lat)*99/100]
}

// cpuPerRequest is the CPU time, server and client, per request of r.
func cpuPerRequest(r *result) time.Duration {
	return (r.serverCPU + r.clientCPU) / time.Duration(max(r.n, 1))
}

// ratio is the median, minimum and maximum over the rounds of r's
// throughput over base's in the same round.
func ratio(r, base *result) (median, lo, hi float64) {
	rs := make([]float64, len(r.roundRPS))
	for i := range rs {
		rs[i] = r.roundRPS[i] / base.roundRPS[i]
	}
	slices.Sort(rs)
	median = rs[len(rs)/2]
	if len(rs)%2 == 0 {
		median = (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
	}
	return median, rs[0], rs[len(rs)-1]
}

// measure runs op n/10 times to warm up, then n times at the configured
// concurrency, and records every latency; with profile set, it profiles
// the measured requests (when a profile directory is set).
func (b *bench) measure(name string, op func(ctx context.Context, i int) error, n int, profile bool) (*result, error) {
	runN := func(n int, lat []time.Duration) (time.Duration, int, error) {
		var next atomic.Int64
		var errs atomic.Int64
		var firstErr atomic.Value
		var wg sync.WaitGroup
		start := time.Now()
		for range b.o.concurrency {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					t0 := time.Now()
					err := op(context.Background(), i)
					if lat != nil {
						lat[i] = time.Since(t0)
					}
					if err != nil {
						if errs.Add(1) == 1 {
							firstErr.Store(err)
						}
					}
				}
			})
		}
		wg.Wait()
		var err error
		if v := firstErr.Load(); v != nil {
			err = v.(error)
		}
		return time.Since(start), int(errs.Load()), err
	}
	warmUp, errs, err := runN(max(n/10, 1), nil)
	if errs > 0 {
		return nil, fmt.Errorf("warm-up: %d errors, first: %w", errs, err)
	}
	runtime.GC()
	stopProfiles := func() error { return nil }
	if profile && b.o.profileDir != "" {
		var err error
		if stopProfiles, err = b.startProfiles(name, 8*warmUp); err != nil {
			return nil, err
		}
	}
	lat := make([]time.Duration, n)
	server0, client0 := b.srv.cpu(), selfCPU()
	elapsed, errs, firstErr := runN(n, lat)
	server1, client1 := b.srv.cpu(), selfCPU()
	if err := stopProfiles(); err != nil {
		return nil, fmt.Errorf("profiles: %w", err)
	}
	r := &result{name: name, n: n, errors: errs, firstErr: firstErr, elapsed: elapsed, lat: lat,
		serverCPU: server1 - server0, clientCPU: client1 - client0}
	if errs > 0 {
		return r, fmt.Errorf("%d errors, first: %w", errs, firstErr)
	}
	return r, nil
}

func printReport(w io.Writer, o options, results []*result, idle, peak, final memory) {
	byName := map[string]*result{}
	for _, r := range results {
		byName[r.name] = r
	}
	fmt.Fprintf(w, "%d requests per scenario in %d rounds (each after a warm-up of a tenth), %d concurrent, %d gRPC connections, store %s, api_key_cache_ttl %s, %d CPUs, %s\n\n",
		o.n, o.rounds, o.concurrency, o.conns, o.store, o.keyCache, runtime.NumCPU(), runtime.Version())
	fmt.Fprintln(w, "| scenario | req/s | p50 | p99 | errors | throughput vs echo (median of rounds, range) | CPU per request: server + client | CPU vs echo |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		rel, cpuRel := "baseline", "baseline"
		if base := byName[r.baseline]; base != nil {
			m, lo, hi := ratio(r, base)
			rel = fmt.Sprintf("%.2f× %s (%.2f–%.2f)", m, r.baseline, lo, hi)
			cpuRel = fmt.Sprintf("%.2f×", cpuPerRequest(r).Seconds()/cpuPerRequest(base).Seconds())
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %d | %s | %s + %s | %s |\n", r.name, r.rps, round(r.p50), round(r.p99), r.errors, rel,
			(r.serverCPU / time.Duration(r.n)).Round(time.Microsecond), (r.clientCPU / time.Duration(r.n)).Round(time.Microsecond), cpuRel)
	}
	mb := func(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
	fmt.Fprintf(w, "\nServer memory: RSS %s at idle (after start; %s of it the binary's own mapped pages), peak RSS %s under load (VmHWM %s), RSS %s after the run.\n",
		mb(idle.RSS), mb(idle.File), mb(peak.RSS), mb(max(peak.HWM, final.HWM)), mb(final.RSS))
	var groups []string
	for _, r := range results {
		if r.commits > 0 {
			groups = append(groups, fmt.Sprintf("%s %.1f", r.name, r.committedFiles/r.commits))
		}
	}
	if len(groups) > 0 {
		fmt.Fprintf(w, "SQLite creates per COMMIT (mean): %s.\n", strings.Join(groups, ", "))
	}
	goal := func(name string, ok bool, format string, args ...any) {
		mark := "met"
		if !ok {
			mark = "MISSED"
		}
		fmt.Fprintf(w, "- %s: %s (%s)\n", name, fmt.Sprintf(format, args...), mark)
	}
	fmt.Fprintln(w, "\nGoals:")
	if g, e := byName["gRPC CreateUpload"], byName["gRPC echo"]; g != nil && e != nil {
		m, _, _ := ratio(g, e)
		goal("gRPC CreateUpload ≥ 0.4× gRPC echo", m >= 0.4, "%.2f×", m)
	}
	if g, e := byName["REST CreateUpload"], byName["REST echo"]; g != nil && e != nil {
		m, _, _ := ratio(g, e)
		goal("REST CreateUpload ≥ 0.6× REST echo", m >= 0.6, "%.2f×", m)
	}
	goal("RSS at idle ≤ 40 MB", idle.RSS <= 40<<20, "%s", mb(idle.RSS))
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// startProfiles starts CPU profiles of the server (through its debug
// address, for about d: the server's profile endpoint takes a duration,
// and the measured run lasts about ten warm-ups) and of this process, for
// the scenario name. stop ends this process's profile, waits for the
// server's and writes both to the profile directory.
func (b *bench) startProfiles(name string, d time.Duration) (stop func() error, err error) {
	base := filepath.Join(b.o.profileDir, strings.ReplaceAll(name, " ", "-"))
	client, err := os.Create(base + ".client.pprof")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(client); err != nil {
		client.Close()
		return nil, err
	}
	secs := max(int(d.Seconds()), 1)
	served := make(chan error, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.o.debugAddr, secs))
		if err != nil {
			served <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			served <- fmt.Errorf("server profile: %s", resp.Status)
			return
		}
		f, err := os.Create(base + ".server.pprof")
		if err != nil {
			served <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		served <- errors.Join(err, f.Close())
	}()
	return func() error {
		pprof.StopCPUProfile()
		return errors.Join(client.Close(), <-served)
	}, nil
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
