package e2e

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/internal/testenv"
)

// readmeBlocks returns the ```sh blocks of the README section with the given
// heading, in order.
func readmeBlocks(t *testing.T, heading string) []string {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var (
		blocks    []string
		inSection bool
		inBlock   bool
		cur       strings.Builder
	)
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case inBlock && line == "```":
			blocks = append(blocks, cur.String())
			cur.Reset()
			inBlock = false
		case inBlock:
			cur.WriteString(line + "\n")
		case strings.HasPrefix(line, "## "):
			inSection = line == "## "+heading
		case inSection && line == "```sh":
			inBlock = true
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("README has no sh blocks under %q", heading)
	}
	return blocks
}

// grpcurlHint says how to get the grpcurl pinned in tools/go.mod.
const grpcurlHint = "build the pinned one with 'go -C tools build -o ../bin/ github.com/fullstorydev/grpcurl/cmd/grpcurl' and put bin/ on PATH (README: Walk-through with grpcurl)"

var exportKey = regexp.MustCompile(`export PRESIGND_DEV_API_KEY=(\S+)`)

// TestREADMEWalkthroughs runs the README's curl and grpcurl walk-throughs,
// exactly as written, against the binary started as the README says (no
// flags, default ports, ./data in a fresh directory).
func TestREADMEWalkthroughs(t *testing.T) {
	for _, tool := range []struct{ name, hint string }{
		{"bash", "install bash"},
		{"curl", "install curl (Debian: apt-get install curl)"},
		{"jq", "install jq (Debian: apt-get install jq)"},
	} {
		testenv.Tool(t, tool.name, tool.hint)
	}
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:8081"} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			testenv.Missing(t, addr+" is already in use (a presignd started from the README?); the README walk-through needs the default ports: stop what listens there")
		}
	}
	curlBlocks := readmeBlocks(t, "Walk-through with curl")
	if len(curlBlocks) != 3 || !strings.Contains(curlBlocks[0], "go run ./cmd/presignd serve") {
		t.Fatalf("unexpected README curl walk-through shape: %d blocks", len(curlBlocks))
	}
	m := exportKey.FindStringSubmatch(curlBlocks[0])
	if m == nil {
		t.Fatal("README does not export PRESIGND_DEV_API_KEY before starting the service")
	}

	dir := t.TempDir()
	cmd := exec.Command(binary, "serve") // what "go run ./cmd/presignd serve" runs
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PRESIGND_DEV_API_KEY="+m[1])
	out := &syncBuffer{mu: make(chan struct{}, 1)}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inst := &instance{cmd: cmd, output: out}
	t.Cleanup(func() { inst.stop(t) })
	waitForPort(t, "127.0.0.1:8080", out)
	waitForPort(t, "127.0.0.1:8081", out)

	runShell := func(t *testing.T, script string) string {
		t.Helper()
		sh := exec.Command("bash", "-euo", "pipefail", "-c", script)
		sh.Dir = dir
		res, err := sh.CombinedOutput()
		if err != nil {
			t.Fatalf("README block failed: %v\n--- script\n%s--- output\n%s--- server\n%s", err, script, res, out)
		}
		return string(res)
	}

	t.Run("curl", func(t *testing.T) {
		got := runShell(t, curlBlocks[1])
		for _, want := range []string{"FILE_STATE_READY", "hello, presignd", `"storage_uri": "local://`, "\n404\n"} {
			if !strings.Contains(got, want) {
				t.Errorf("curl walk-through output lacks %q:\n%s", want, got)
			}
		}
		bad := runShell(t, curlBlocks[1][:strings.Index(curlBlocks[1], "printf")]+curlBlocks[2])
		for _, want := range []string{`"filename"`, `"size_bytes"`, `"content_type"`} {
			if !strings.Contains(bad, want) {
				t.Errorf("bad-input example does not name %s:\n%s", want, bad)
			}
		}
	})

	t.Run("grpcurl", func(t *testing.T) {
		testenv.Tool(t, "grpcurl", grpcurlHint)
		grpcBlocks := readmeBlocks(t, "Walk-through with grpcurl")
		got := runShell(t, grpcBlocks[0])
		for _, want := range []string{"FILE_STATE_READY", "hello, presignd"} {
			if !strings.Contains(got, want) {
				t.Errorf("grpcurl walk-through output lacks %q:\n%s", want, got)
			}
		}
	})
}

func waitForPort(t *testing.T, addr string, out *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after 60s:\n%s", addr, out)
}
