package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/presignd/presignd/config"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/signer"
)

const doctorUsage = `Usage:
  presignd doctor [--config FILE] [--origin ORIGIN ...] [--timeout D]

Checks every S3, GCS and Azure backend of the configuration (the built-in
defaults, then FILE, then the PRESIGND_* variables, as serve reads them)
before serving from it, and prints PASS, FAIL or SKIP per check:

  credentials   the credentials are accepted and the bucket is reachable
  clock         the backend's clock (its Date header) is within a minute
                of this host's: a larger skew breaks every signature
  CORS          the bucket's CORS rules (an Azure account's) let each browser origin
                (browser_origins, and --origin) PUT with the headers
                presignd signs, and POST for POST categories
  round trip    a signed upload of a small object, then stat and delete

Local backends have nothing to check here. The exit status is 1 when a
check fails.
`

// maxSkew is the largest clock skew doctor passes: V4 signatures are
// refused beyond about 15 minutes, and any skew shortens or lengthens
// every URL's life, so a minute already wants fixing.
const maxSkew = time.Minute

// doctorObjectBody is the object the round trip uploads.
var doctorObjectBody = []byte("presignd doctor round trip\n")

// errChecksFailed is doctor's failure: its report is printed already.
var errChecksFailed = errors.New("doctor: checks failed")

func doctorCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("doctor", doctorUsage, args, stdout, stderr)
	var origins []string
	configPath := fs.String("config", "", "YAML configuration `file` (default: built-in defaults)")
	fs.Func("origin", "browser `origin` (scheme://host[:port]) to check CORS for, besides browser_origins; repeatable", func(v string) error {
		origins = append(origins, v)
		return nil
	})
	timeout := fs.Duration("timeout", 30*time.Second, "how long each backend's checks may take in all")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("doctor takes no arguments, got %q", fs.Args())
	}
	cfg, err := config.Build(config.Sources{File: *configPath, LookupEnv: os.LookupEnv, Override: func(c *config.Config) {
		c.BrowserOrigins = append(c.BrowserOrigins, origins...)
	}})
	if err != nil {
		return err
	}
	ctx := context.Background()
	// Only remote backends: opening a local one would create its folder.
	remote := *cfg
	remote.Backends = make(map[string]config.Backend, len(cfg.Backends))
	var names []string
	for name, b := range cfg.Backends {
		names = append(names, name)
		if b.Driver != "local" {
			remote.Backends[name] = b
		}
	}
	sort.Strings(names)
	backends, _, err := openBackends(ctx, &remote, nil)
	defer closeBackends(capabilitiesOf(backends))
	if err != nil {
		return err
	}
	failed := 0
	for _, name := range names {
		b := cfg.Backends[name]
		s := backends[name]
		if s == nil {
			fmt.Fprintf(stdout, "backend %s (%s)\n  SKIP  nothing to check for a %s backend\n", name, b.Driver, b.Driver)
			continue
		}
		fmt.Fprintf(stdout, "backend %s (%s, bucket %s)\n", name, b.Driver, bucketOf(b))
		bctx, cancel := context.WithTimeout(ctx, *timeout)
		for _, r := range runChecks(bctx, cfg, name, s, signer.CapabilitiesOf(s).Checker) {
			fmt.Fprintf(stdout, "  %-4s  %-12s %s\n", r.status, r.name, r.detail)
			if r.status == "FAIL" {
				failed++
			}
		}
		cancel()
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "doctor: %d check(s) failed\n", failed)
		return errChecksFailed
	}
	fmt.Fprintln(stdout, "doctor: every check passed")
	return nil
}

func bucketOf(b config.Backend) string {
	switch b.Driver {
	case "gcs":
		return b.GCS.Bucket
	case "azure":
		return b.Azure.Container
	}
	return b.S3.Bucket
}

// checkResult is one line of doctor's report.
type checkResult struct {
	status, name, detail string
}

func pass(name, format string, args ...any) checkResult {
	return checkResult{"PASS", name, fmt.Sprintf(format, args...)}
}

func fail(name, format string, args ...any) checkResult {
	return checkResult{"FAIL", name, fmt.Sprintf(format, args...)}
}

func skip(name, format string, args ...any) checkResult {
	return checkResult{"SKIP", name, fmt.Sprintf(format, args...)}
}

// runChecks runs doctor's checks on backend name.
func runChecks(ctx context.Context, cfg *config.Config, name string, s signer.Signer, c signer.Checker) []checkResult {
	var out []checkResult
	if c == nil {
		return append(out, skip("credentials", "the %s driver has no preflight checks", cfg.Backends[name].Driver))
	}
	probe, err := c.Probe(ctx)
	if err != nil {
		out = append(out, fail("credentials", "%v", err))
		return append(out, skip("clock", "backend unreachable"), skip("CORS", "backend unreachable"), skip("round trip", "backend unreachable"))
	}
	out = append(out, pass("credentials", "bucket reachable with the configured credentials"))
	out = append(out, clockCheck(probe))
	out = append(out, corsChecks(ctx, cfg, name, s, c)...)
	return append(out, roundTrip(ctx, s))
}

// clockCheck fails a skew over maxSkew, stating it.
func clockCheck(p signer.Probe) checkResult {
	skew, ok := p.Skew()
	switch {
	case !ok:
		return skip("clock", "the backend sent no Date header")
	case skew > maxSkew:
		return fail("clock", "the backend's clock is %s ahead of this host's (more than %s breaks signatures); sync this host's clock (NTP)", skew, maxSkew)
	case -skew > maxSkew:
		return fail("clock", "the backend's clock is %s behind this host's (more than %s breaks signatures); sync this host's clock (NTP)", -skew, maxSkew)
	}
	return pass("clock", "skew %s (within %s)", skew, maxSkew)
}

// corsChecks checks, for every browser origin, that the bucket lets it
// PUT with the headers presignd signs for each category on the backend,
// and POST for POST categories.
func corsChecks(ctx context.Context, cfg *config.Config, name string, s signer.Signer, c signer.Checker) []checkResult {
	if len(cfg.BrowserOrigins) == 0 {
		return []checkResult{skip("CORS", "no browser_origins configured (or --origin given)")}
	}
	// A backend without a per-bucket CORS API has no rules to judge:
	// ruleCheck asks it what a browser asks, a preflight.
	rules, err := c.CORS(ctx)
	noRulesAPI := errors.Is(err, signer.ErrUnsupported)
	if err != nil && !noRulesAPI {
		return []checkResult{fail("CORS", "reading the bucket's CORS rules: %v", err)}
	}
	var needs []need
	seen := map[string]bool{}
	add := func(n need) {
		k := n.method + " " + strings.Join(n.headers, ",")
		if !seen[k] {
			seen[k] = true
			needs = append(needs, n)
		}
	}
	for _, catName := range sortedCategoryNames(cfg) {
		cat := cfg.Categories[catName]
		if cat.Backend != name {
			continue
		}
		if cat.Method == policy.MethodPost {
			n := need{method: http.MethodPost}
			if pp := signer.CapabilitiesOf(s).PostPolicy; pp != nil {
				if t, err := pp.SignPostUpload(ctx, sampleUpload(cat)); err == nil {
					n.url = t.URL // for a preflight
				}
			}
			add(n)
			continue
		}
		target, headers, err := signedHeaders(ctx, s, cat)
		if err != nil {
			return []checkResult{fail("CORS", "signing a sample upload for category %s: %v", catName, err)}
		}
		add(need{method: http.MethodPut, headers: headers, url: target})
	}
	if len(needs) == 0 {
		return []checkResult{skip("CORS", "no category uploads to this backend")}
	}
	var out []checkResult
	for _, o := range cfg.BrowserOrigins {
		for _, n := range needs {
			out = append(out, ruleCheck(ctx, rules, noRulesAPI, o, n))
		}
	}
	return out
}

// ruleCheck judges the bucket's CORS rules for origin and n (none to
// judge when noRulesAPI). Rules that fall short are checked against a
// preflight, as a browser asks it: a server-wide CORS setting (MinIO's,
// which keeps no bucket rules) may allow what the rules do not.
func ruleCheck(ctx context.Context, rules []signer.CORSRule, noRulesAPI bool, origin string, n need) checkResult {
	miss := "the backend has no per-bucket CORS rules"
	if !noRulesAPI {
		miss = signer.MissingCORS(rules, origin, n.method, n.headers)
	}
	if miss == "" {
		return pass("CORS", "origin %s may %s with %s", origin, n.method, headerList(n.headers))
	}
	if n.url == "" {
		return fail("CORS", "%s", miss)
	}
	pm, err := preflightCORS(ctx, n.url, origin, n.method, n.headers)
	switch {
	case err != nil:
		return fail("CORS", "%s (and a browser's preflight could not be sent: %v)", miss, err)
	case pm != "":
		return fail("CORS", "%s (and the answer to a browser's preflight %s)", miss, pm)
	}
	return pass("CORS", "origin %s may %s with %s (the answer to a browser's preflight allows it; the bucket's own rules do not, so a server-wide setting does)",
		origin, n.method, headerList(n.headers))
}

// need is what a browser upload to a backend asks of its CORS setup: the
// method, the headers it sends, and a sample target URL (PUT only).
type need struct {
	method  string
	headers []string
	url     string
}

// preflightCORS sends the preflight a browser sends before it sends
// method with headers to target from origin, and says what the answer
// does not allow ("" when it allows all of it). An error is a failure
// to ask.
func preflightCORS(ctx context.Context, target, origin, method string, headers []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, target, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if len(headers) > 0 {
		req.Header.Set("Access-Control-Request-Headers", strings.ToLower(strings.Join(headers, ",")))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return preflightMissing(resp.StatusCode, resp.Header, origin, method, headers), nil
}

// preflightMissing says what a preflight answer (status, header) does not
// allow of origin sending method with headers, as a browser judges it; ""
// when it allows all of it.
func preflightMissing(status int, h http.Header, origin, method string, headers []string) string {
	if status/100 != 2 {
		return fmt.Sprintf("is status %d, not 2xx", status)
	}
	switch o := h.Get("Access-Control-Allow-Origin"); {
	case o == "":
		return "allows no origin (no Access-Control-Allow-Origin)"
	case o != "*" && !strings.EqualFold(o, origin):
		return fmt.Sprintf("allows origin %s, not %s", o, origin)
	}
	list := func(name string) []string {
		var out []string
		for _, v := range h.Values(name) {
			for item := range strings.SplitSeq(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					out = append(out, item)
				}
			}
		}
		return out
	}
	methods := list("Access-Control-Allow-Methods")
	if !slices.ContainsFunc(methods, func(m string) bool { return m == "*" || m == method }) {
		return fmt.Sprintf("does not allow method %s (Access-Control-Allow-Methods: %s)", method, strings.Join(methods, ", "))
	}
	allowed := list("Access-Control-Allow-Headers")
	var missing []string
	for _, want := range headers {
		if !slices.ContainsFunc(allowed, func(a string) bool { return a == "*" || strings.EqualFold(a, want) }) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		return "does not allow headers " + strings.Join(missing, ", ")
	}
	return ""
}

func headerList(h []string) string {
	if len(h) == 0 {
		return "no extra headers"
	}
	return strings.Join(h, ", ")
}

func sortedCategoryNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Categories))
	for n := range cfg.Categories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// signedHeaders returns the URL of a sample PUT target of cat, signed as
// CreateUpload signs one, and the headers a browser sends with it.
func signedHeaders(ctx context.Context, s signer.Signer, cat config.Category) (string, []string, error) {
	target, err := s.SignUpload(ctx, sampleUpload(cat))
	if err != nil {
		return "", nil, err
	}
	var names []string
	for k := range target.Headers {
		if !strings.EqualFold(k, "Content-Length") {
			names = append(names, http.CanonicalHeaderKey(k))
		}
	}
	sort.Strings(names)
	return target.URL, slices.Compact(names), nil
}

// sampleUpload is a one-byte upload of cat, as CreateUpload signs one.
func sampleUpload(cat config.Category) signer.UploadRequest {
	req := signer.UploadRequest{
		Key: "presignd-doctor/sample", ContentType: "application/octet-stream", Size: 1, MaxSize: 1,
		Expires:  time.Now().Add(time.Minute),
		Checksum: sampleChecksum(cat.RequireChecksum),
	}
	if cat.ContentDisposition != "" {
		req.ContentDisposition = policy.ContentDisposition(cat.ContentDisposition, "sample.bin")
	}
	return req
}

func sampleChecksum(alg string) signer.Checksum {
	switch alg {
	case signer.SHA256:
		sum := sha256.Sum256([]byte("x"))
		return signer.Checksum{Algorithm: alg, Value: base64.StdEncoding.EncodeToString(sum[:])}
	case signer.MD5:
		sum := md5.Sum([]byte("x"))
		return signer.Checksum{Algorithm: alg, Value: base64.StdEncoding.EncodeToString(sum[:])}
	case signer.CRC32C:
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], crc32.Checksum([]byte("x"), crc32.MakeTable(crc32.Castagnoli)))
		return signer.Checksum{Algorithm: alg, Value: base64.StdEncoding.EncodeToString(b[:])}
	}
	return signer.Checksum{}
}

// roundTrip signs an upload of a small object, sends it as a client
// would, stats it and deletes it.
func roundTrip(ctx context.Context, s signer.Signer) checkResult {
	var id [8]byte
	_, _ = rand.Read(id[:])
	key := "presignd-doctor/" + hex.EncodeToString(id[:])
	sum := md5.Sum(doctorObjectBody)
	target, err := s.SignUpload(ctx, signer.UploadRequest{
		Key: key, ContentType: "text/plain", Size: int64(len(doctorObjectBody)), MaxSize: int64(len(doctorObjectBody)),
		Checksum: signer.Checksum{Algorithm: signer.MD5, Value: base64.StdEncoding.EncodeToString(sum[:])},
		Expires:  time.Now().Add(5 * time.Minute),
	})
	if err != nil {
		return fail("round trip", "signing an upload: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, target.Method, target.URL, bytes.NewReader(doctorObjectBody))
	if err != nil {
		return fail("round trip", "building the upload: %v", err)
	}
	for k, v := range target.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fail("round trip", "uploading to the signed URL: %v", err)
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fail("round trip", "the signed upload was refused: %s %s", resp.Status, strings.TrimSpace(string(answer)))
	}
	info, err := s.Stat(ctx, key)
	if err != nil {
		_ = s.Delete(ctx, key)
		return fail("round trip", "stat of the uploaded object: %v", err)
	}
	if info.Size != int64(len(doctorObjectBody)) {
		_ = s.Delete(ctx, key)
		return fail("round trip", "the uploaded object has %d bytes, want %d", info.Size, len(doctorObjectBody))
	}
	if err := s.Delete(ctx, key); err != nil {
		return fail("round trip", "deleting %s: %v", key, err)
	}
	return pass("round trip", "signed PUT of %d bytes, stat, delete", len(doctorObjectBody))
}
