package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/presignd/presignd/internal/testenv"
)

// The clients outside Go live at the repository root, one level up.
const repoRoot = ".."

// python is the interpreter Debian's python3-grpcio is installed for.
const python = "/usr/bin/python3"

// clientFlows are the whole-flow tests each client passes against a running
// instance, on whatever backend the instance uses.
var clientFlows = []struct {
	name string
	run  func(t *testing.T, inst *instance, backend string)
}{
	{"go", runGoExample},
	{"python", runPythonExample},
	{"typescript", runTypeScriptExample},
	{"cli", runCLI},
	{"browser", runBrowser},
}

// TestClients runs every client's full flow (create, upload to the target,
// complete, download) against the real binary on the local backend.
func TestClients(t *testing.T) {
	t.Parallel()
	inst := start(t, "--config", clientsConfig(t, nil))
	for _, c := range clientFlows {
		t.Run(c.name, func(t *testing.T) { c.run(t, inst, "local") })
	}
}

// TestClientsOnS3 runs the same flows on MinIO: the upload targets, and the
// page's XMLHttpRequests, go to another origin than presignd's.
func TestClientsOnS3(t *testing.T) {
	t.Parallel()
	inst := start(t, "--config", clientsConfig(t, map[string]any{"s3": s3Backend(t)}))
	for _, c := range clientFlows {
		t.Run(c.name, func(t *testing.T) { c.run(t, inst, "s3") })
	}
}

// TestClientsOnAzure runs the generated clients' examples on Azurite, PUT
// and MULTIPART (Azure has no form POST): Azure's parts have no ETag, so
// the examples complete them without naming them. The page needs a CORS
// rule on the account, which Azurite keeps account-wide while other tests
// change it, and the CLI's multipart uploads are TestCLIMultipartUpload's.
func TestClientsOnAzure(t *testing.T) {
	t.Parallel()
	inst := start(t, "--config", clientsConfig(t, map[string]any{"azure": azureBackend(t)}))
	for _, c := range clientFlows {
		if c.name == "cli" || c.name == "browser" {
			continue
		}
		t.Run(c.name, func(t *testing.T) { c.run(t, inst, "azure") })
	}
}

// TestBrowserOnAzure runs the upload page in Chromium against an Azurite
// of its own, whose account allows the page's origin by CORS (Azurite
// keeps CORS account-wide, and other tests change the shared one's): a PUT
// (stored without a whole-file checksum, which Azure cannot bind) and
// multipart uploads whose parts have no ETag, reloaded, paused and
// cancelled midway.
func TestBrowserOnAzure(t *testing.T) {
	t.Parallel()
	bin := testenv.Get(t, "PRESIGND_TEST_AZURITE_BIN", "the azurite-blob binary; .ci/azurite.sh's azurite_start sets it")
	backend := ownAzurite(t, bin)
	inst := start(t, "--config", clientsConfig(t, map[string]any{"azure": backend}))
	runBrowser(t, inst, "azure")
}

// exampleMethods are the upload methods the examples use on backend.
func exampleMethods(backend string) []string {
	if backend == "azure" {
		return []string{"PUT", "MULTIPART"}
	}
	return []string{"PUT", "POST", "MULTIPART"}
}

// largeCategory is the category of the clients' instances whose uploads
// are MULTIPART from 16 MiB on, so that a client leaving the method to the
// server gets one with a file of a few parts.
const largeCategory = "large"

// clientsConfig writes the configuration of the clients' instances: the
// backends given (none: the local one), the default category and
// largeCategory. It returns the file's path.
func clientsConfig(t *testing.T, backends map[string]any) string {
	t.Helper()
	cfg := map[string]any{"categories": map[string]any{
		"default":     map[string]any{},
		largeCategory: map[string]any{"multipart": map[string]any{"threshold": "16MiB"}},
	}}
	if backends != nil {
		cfg["backends"] = backends
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runExample runs one client example command in the repository root with
// the instance's addresses and key, and checks that it reports the flow
// done: READY, and the bytes downloaded back identical.
func runExample(t *testing.T, inst *instance, method string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(),
		"PRESIGND_API_KEY="+inst.APIKey,
		"PRESIGND_GRPC_ADDR="+inst.GRPCAddr,
		"PRESIGND_METHOD="+method,
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s (method %q): %v\n%s", name, strings.Join(args, " "), method, err, out)
	}
	for _, want := range []string{"READY", "bytes: identical", "file_id="} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("%s (method %q) output lacks %q:\n%s", name, method, want, out)
		}
	}
	return string(out)
}

func runGoExample(t *testing.T, inst *instance, backend string) {
	bin := filepath.Join(t.TempDir(), "example")
	if out, err := exec.Command("go", "build", "-o", bin, "../clients/go/example").CombinedOutput(); err != nil {
		t.Fatalf("build the Go example: %v\n%s", err, out)
	}
	for _, method := range exampleMethods(backend) {
		var args []string
		if method == "MULTIPART" {
			args = []string{exampleFile(t, method)}
		}
		out := runExample(t, inst, method, bin, args...)
		if !strings.Contains(out, "UPLOAD_METHOD_"+method) {
			t.Errorf("Go example did not use %s:\n%s", method, out)
		}
		checkMultipartExample(t, "Go", method, out)
	}
}

// requirePython skips unless Debian's python3 with grpcio is present.
func requirePython(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import grpc, grpc_tools").CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("%s with grpcio and grpc_tools is missing (apt-get install python3-grpcio python3-grpc-tools; .ci/run installs them): %v %s", python, err, bytes.TrimSpace(out)))
	}
}

func runPythonExample(t *testing.T, inst *instance, backend string) {
	requirePython(t)
	for _, method := range exampleMethods(backend) {
		out := runExample(t, inst, method, python, "clients/python/example.py", exampleFile(t, method))
		if !strings.Contains(out, "UPLOAD_METHOD_"+method) {
			t.Errorf("Python example did not use %s:\n%s", method, out)
		}
		checkMultipartExample(t, "Python", method, out)
	}
}

// exampleFile is the file an example uploads with method: the README,
// or for MULTIPART a random file of 9MiB and a few bytes, which the
// default 8MiB part size cuts into two parts.
func exampleFile(t *testing.T, method string) string {
	t.Helper()
	if method != "MULTIPART" {
		return "README.md"
	}
	path, _ := randomFile(t, t.TempDir(), "multipart.bin", 9<<20+3)
	return path
}

var examplePartsLine = regexp.MustCompile(`uploaded \d+ bytes in 2 parts of 8388608 bytes \(2 sent, 0 already held\)`)

// checkMultipartExample checks that an example's MULTIPART run sent the
// file in its two parts.
func checkMultipartExample(t *testing.T, name, method, out string) {
	t.Helper()
	if method == "MULTIPART" && !examplePartsLine.MatchString(out) {
		t.Errorf("%s example did not send the file in 2 parts:\n%s", name, out)
	}
}

// requireNodeModules skips unless node and the npm packages of dir
// (relative to the repository root) are installed.
func requireNodeModules(t *testing.T, dir, probe string) {
	t.Helper()
	testenv.Tool(t, "node", "Debian: apt-get install nodejs")
	testenv.File(t, filepath.Join(repoRoot, dir, "node_modules", probe), "run npm ci in "+dir+" (.ci/run does)")
}

func runTypeScriptExample(t *testing.T, inst *instance, backend string) {
	requireNodeModules(t, "clients/typescript", ".bin/tsx")
	if backend == "local" {
		tsc := exec.Command("node_modules/.bin/tsc", "--noEmit", "-p", ".")
		tsc.Dir = filepath.Join(repoRoot, "clients/typescript")
		if out, err := tsc.CombinedOutput(); err != nil {
			t.Fatalf("the TypeScript example does not type-check: %v\n%s", err, out)
		}
	}
	for _, method := range exampleMethods(backend) {
		file := "clients/typescript/package.json"
		if method == "MULTIPART" {
			file = exampleFile(t, method)
		}
		out := runExample(t, inst, method, "clients/typescript/node_modules/.bin/tsx", "clients/typescript/example.ts", file)
		if !strings.Contains(out, "created ") || !strings.Contains(out, ": "+method+" upload") {
			t.Errorf("TypeScript example did not use %s:\n%s", method, out)
		}
		checkMultipartExample(t, "TypeScript", method, out)
	}
}

// artifactDir is where tests keep files for people to look at:
// $PRESIGND_ARTIFACTS, or presignd-artifacts in the temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PRESIGND_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "presignd-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// runBrowser drives the upload page (Uppy) in headless Chromium: a wrong
// key, a PUT through the file picker, a form POST by drag and drop, and a
// 20 MiB multipart upload in largeCategory that a reload interrupts once
// storage holds a part and that then resumes to READY, each download link
// fetched back; it keeps a screenshot.
func runBrowser(t *testing.T, inst *instance, backend string) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	testenv.File(t, chromium, "apt-get install chromium; .ci/run installs it; CHROMIUM names another")
	requireNodeModules(t, "web/test", "playwright-core")
	shot := filepath.Join(artifactDir(t), "upload-page-"+backend+".png")
	cmd := exec.Command("node", "upload.mjs")
	cmd.Dir = filepath.Join(repoRoot, "web/test")
	cmd.Env = append(os.Environ(),
		"PRESIGND_URL="+inst.HTTPURL,
		"PRESIGND_API_KEY="+inst.APIKey,
		"PRESIGND_SCREENSHOT="+shot,
		"CHROMIUM="+chromium,
		"PRESIGND_BACKEND="+backend,
		"PRESIGND_MULTIPART_CATEGORY="+largeCategory,
	)
	out, err := runWithTimeout(cmd, 6*time.Minute)
	t.Logf("screenshot of the upload page: %s", shot)
	if err != nil {
		t.Fatalf("upload page in Chromium: %v\n%s", err, out)
	}
	if !strings.Contains(out, "upload page: all checks passed") {
		t.Fatalf("upload page script did not finish:\n%s", out)
	}
	t.Logf("%s", out)
}

// runWithTimeout runs cmd and returns its combined output; it kills cmd
// after d.
func runWithTimeout(cmd *exec.Cmd, d time.Duration) (string, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("killed after %s", d)
	}
}

// cli runs the presignd binary as a client of inst in dir; it returns
// stdout, stderr and the error.
func cli(t *testing.T, inst *instance, dir string, env []string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PRESIGND_URL="+inst.HTTPURL, "PRESIGND_API_KEY="+inst.APIKey)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

var fileID = regexp.MustCompile(`^[0-9a-f-]{36}\n$`)

// runCLI runs "presignd upload" and "presignd download" against inst: the
// round trip is byte-exact, output is quiet off a terminal (stdout has the
// ID or the path, stderr nothing), and mistakes give clear errors.
func runCLI(t *testing.T, inst *instance, _ string) {
	dir := t.TempDir()
	data := make([]byte, 1<<20+3)
	_, _ = rand.Read(data)
	src := filepath.Join(dir, "photo.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		args  []string
		flags []string // for upload and download
		env   []string
	}{
		{name: "PUT with a SHA-256 checksum", args: []string{"upload", src, "--category", "default"}},
		{name: "form POST, with a checksum where the backend binds one", args: []string{"upload", "--method", "POST", src}},
		{name: "PUT with an MD5 checksum", args: []string{"upload", "--checksum", "md5", src}},
		{
			name: "PUT with the server and key as flags", args: []string{"upload", src},
			flags: []string{"--server", inst.HTTPURL, "--api-key", inst.APIKey},
			env:   []string{"PRESIGND_URL=http://127.0.0.1:1", "PRESIGND_API_KEY="},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := cli(t, inst, dir, tc.env, append(tc.args, tc.flags...)...)
			if err != nil {
				t.Fatalf("upload: %v\n%s", err, stderr)
			}
			if !fileID.MatchString(stdout) || stderr != "" {
				t.Fatalf("upload off a terminal: stdout %q (want the file ID alone), stderr %q (want nothing)", stdout, stderr)
			}
			id := strings.TrimSpace(stdout)
			out := filepath.Join(dir, "copy-"+id)
			stdout, stderr, err = cli(t, inst, dir, tc.env, append([]string{"download", id, "--output", out}, tc.flags...)...)
			if err != nil {
				t.Fatalf("download: %v\n%s", err, stderr)
			}
			if stdout != out+"\n" || stderr != "" {
				t.Fatalf("download off a terminal: stdout %q (want the path), stderr %q (want nothing)", stdout, stderr)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("downloaded %d bytes that differ from the %d uploaded", len(got), len(data))
			}
		})
	}

	t.Run("download names the file after the upload and never overwrites", func(t *testing.T) {
		stdout, stderr, err := cli(t, inst, dir, nil, "upload", src)
		if err != nil {
			t.Fatalf("upload: %v\n%s", err, stderr)
		}
		id := strings.TrimSpace(stdout)
		into := t.TempDir()
		if stdout, stderr, err = cli(t, inst, into, nil, "download", id); err != nil || stdout != "photo.bin\n" {
			t.Fatalf("download: stdout %q, err %v\n%s", stdout, err, stderr)
		}
		_, stderr, err = cli(t, inst, into, nil, "download", id)
		if err == nil || !strings.Contains(stderr, "photo.bin already exists") || !strings.Contains(stderr, "--output") {
			t.Fatalf("second download into the same place: err %v, stderr %q", err, stderr)
		}
		if stdout, _, err = cli(t, inst, into, nil, "download", id, "--output", "-"); err != nil || stdout != string(data) {
			t.Fatalf("download --output -: err %v, %d bytes on stdout", err, len(stdout))
		}
	})

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"a missing file", nil, []string{"upload", filepath.Join(dir, "nope.txt")}, []string{"presignd: upload:", "nope.txt", "no such file"}},
		{"an empty file", nil, []string{"upload", emptyFile(t, dir)}, []string{"empty"}},
		{"a directory", nil, []string{"upload", dir}, []string{"not a regular file"}},
		{"a wrong API key", []string{"PRESIGND_API_KEY=not-the-key"}, []string{"upload", src}, []string{"401", "check --api-key or PRESIGND_API_KEY"}},
		{"no API key", []string{"PRESIGND_API_KEY="}, []string{"upload", src}, []string{"no API key", "--api-key", "PRESIGND_API_KEY"}},
		{"an unreachable server", []string{"PRESIGND_URL=http://127.0.0.1:1"}, []string{"upload", src}, []string{"cannot reach presignd at http://127.0.0.1:1"}},
		{"a bad category", nil, []string{"upload", src, "--category", "No Such"}, []string{"400", "category"}},
		{"an unknown checksum", nil, []string{"upload", src, "--checksum", "sha1"}, []string{"--checksum", "SHA256, MD5, CRC32C or none"}},
		{"an unknown file ID", nil, []string{"download", "0000-nope"}, []string{"404", "not found"}},
		{"two files", nil, []string{"upload", src, src}, []string{"exactly one FILE"}},
	} {
		t.Run("clear error for "+tc.name, func(t *testing.T) {
			stdout, stderr, err := cli(t, inst, dir, tc.env, tc.args...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("want a non-zero exit, got %v (stdout %q)", err, stdout)
			}
			if stdout != "" {
				t.Errorf("stdout %q on failure, want nothing", stdout)
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
}

func emptyFile(t *testing.T, dir string) string {
	path := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGeneratedClientsAreFresh regenerates the Python and TypeScript
// clients from proto/ and fails when the committed code differs.
func TestGeneratedClientsAreFresh(t *testing.T) {
	t.Parallel()
	t.Run("python", func(t *testing.T) {
		requirePython(t)
		if out, err := exec.Command("bash", filepath.Join(repoRoot, "clients/python/generate.sh"), "--check").CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	})
	t.Run("typescript", func(t *testing.T) {
		testenv.Tool(t, "buf", "build the pinned tools with 'go -C tools build -o ../bin/ tool' and put bin/ on PATH (.ci/run does)")
		requireNodeModules(t, "clients/typescript", ".bin/protoc-gen-es")
		if out, err := exec.Command("bash", filepath.Join(repoRoot, "clients/typescript/generate.sh"), "--check").CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	})
}

var exportAPIKey = regexp.MustCompile(`export PRESIGND_API_KEY=(\S+)`)

// TestREADMEClients runs the README's "Use from ..." blocks as written,
// from the repository root, against a started instance: the only changes
// are the instance's key and addresses (through the clients' environment
// variables) and the built binary for "go run ./cmd/presignd".
func TestREADMEClients(t *testing.T) {
	t.Parallel()
	requirePython(t)
	requireNodeModules(t, "clients/typescript", ".bin/tsx")
	blocks := readmeBlocks(t, "Use from Go / Python / TypeScript / a browser / the shell")
	if len(blocks) != 4 {
		t.Fatalf("README section has %d sh blocks, want 4 (Go, Python, TypeScript, shell)", len(blocks))
	}
	inst := start(t)
	for i, want := range []string{"downloaded 25 bytes: identical", "bytes: identical", "bytes: identical", "identical"} {
		block := blocks[i]
		m := exportAPIKey.FindStringSubmatch(block)
		if m == nil {
			t.Fatalf("README block %d does not export PRESIGND_API_KEY:\n%s", i, block)
		}
		script := strings.ReplaceAll(block, m[1], inst.APIKey)
		script = strings.ReplaceAll(script, "go run ./cmd/presignd", binary)
		sh := exec.Command("bash", "-euo", "pipefail", "-c", script)
		sh.Dir = repoRoot
		sh.Env = append(os.Environ(),
			"PRESIGND_URL="+inst.HTTPURL,
			"PRESIGND_GRPC_ADDR="+inst.GRPCAddr,
		)
		out, err := sh.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("README block %d: %v; output lacks %q\n--- script\n%s--- output\n%s", i, err, want, block, out)
		}
	}
}
