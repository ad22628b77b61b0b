// Package e2e drives the real presignd binary over REST and gRPC.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/presignd/presignd/auth/authtest"
	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
)

// binary is the presignd binary built once for the package, with the race
// detector when the tests run with it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "presignd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "presignd")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/presignd")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build presignd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is one running presignd process.
type instance struct {
	HTTPURL  string // http://127.0.0.1:PORT
	GRPCAddr string // 127.0.0.1:PORT
	APIKey   string
	DataDir  string
	cmd      *exec.Cmd
	output   *syncBuffer
	issuer   *authtest.Issuer // a trusted JWT issuer, when configured
}

type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

var listenLine = regexp.MustCompile(`presignd: (http|grpc) listening on (\S+)`)

// start runs presignd on free loopback ports with a fresh data dir and
// waits until it serves. Extra flags are appended to "serve".
func start(t *testing.T, extraArgs ...string) *instance {
	t.Helper()
	return startBinary(t, binary, extraArgs...)
}

// startBinary is start with another executable, such as a build without
// the race detector or a script that execs presignd under other limits.
func startBinary(t *testing.T, binary string, extraArgs ...string) *instance {
	t.Helper()
	inst := &instance{DataDir: t.TempDir(), APIKey: "e2e-" + strings.ReplaceAll(t.Name(), "/", "-"), output: &syncBuffer{mu: make(chan struct{}, 1)}}
	args := append([]string{"serve", "--data-dir", inst.DataDir, "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"}, extraArgs...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "PRESIGND_DEV_API_KEY="+inst.APIKey)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = inst.output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inst.cmd = cmd
	t.Cleanup(func() {
		inst.stop(t)
		if t.Failed() {
			t.Logf("presignd output:\n%s", inst.output)
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			inst.output.Write([]byte(sc.Text() + "\n"))
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
	for inst.HTTPURL == "" || inst.GRPCAddr == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("presignd exited before listening:\n%s", inst.output)
			}
			if m := listenLine.FindStringSubmatch(line); m != nil {
				if m[1] == "http" {
					inst.HTTPURL = "http://" + m[2]
				} else {
					inst.GRPCAddr = m[2]
				}
			}
		case <-deadline:
			t.Fatalf("presignd did not start within 60s:\n%s", inst.output)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return inst
}

// stop sends SIGTERM and expects a clean, graceful exit.
func (inst *instance) stop(t *testing.T) {
	if inst.cmd.ProcessState != nil {
		return
	}
	_ = inst.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- inst.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("presignd exited with %v after SIGTERM:\n%s", err, inst.output)
		}
	case <-time.After(20 * time.Second):
		_ = inst.cmd.Process.Kill()
		t.Errorf("presignd did not stop within 20s of SIGTERM:\n%s", inst.output)
	}
	if strings.Contains(inst.output.String(), "DATA RACE") {
		t.Errorf("race detected in presignd:\n%s", inst.output)
	}
}

// grpcClient dials the instance's gRPC port.
func (inst *instance) grpcClient(t *testing.T) presigndv1.FileServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(inst.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return presigndv1.NewFileServiceClient(conn)
}

// rest sends a JSON request with the instance's API key and decodes the
// JSON answer into a generic map.
func (inst *instance) rest(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return inst.restWithKey(t, inst.APIKey, method, path, body)
}

func (inst *instance) restWithKey(t *testing.T, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return inst.restWithHeaders(t, key, method, path, body, nil)
}

// restWithHeaders is restWithKey with more request headers.
func (inst *instance) restWithHeaders(t *testing.T, key, method, path string, body any, headers map[string]string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, inst.HTTPURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d with a body that is not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// field walks a decoded JSON value along a dotted path.
func field(v any, path string) any {
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	return v
}

func str(v any, path string) string {
	s, _ := field(v, path).(string)
	return s
}

// violatedFields lists the field names in a REST error's BadRequest detail.
func violatedFields(body map[string]any) []string {
	var out []string
	details, _ := body["details"].([]any)
	for _, d := range details {
		fvs, _ := field(d, "field_violations").([]any)
		for _, fv := range fvs {
			out = append(out, str(fv, "field"))
		}
	}
	return out
}

// eventually calls cond until it reports done, and fails t with cond's
// last description of the state when timeout passes first. It waits a
// little between calls, longer as they go on.
func eventually(t *testing.T, timeout time.Duration, cond func() (done bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := 10 * time.Millisecond
	for {
		done, state := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done after %s: %s", timeout, state)
		}
		time.Sleep(pause)
		pause = min(2*pause, 250*time.Millisecond)
	}
}
