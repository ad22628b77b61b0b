package main

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// commandPaths lists every command and subcommand of presignd, from the
// command table, so that a new command is walked without editing the test.
func commandPaths() [][]string {
	var out [][]string
	for _, c := range commands {
		out = append(out, []string{c.name})
		for _, sub := range c.subcommands {
			out = append(out, []string{c.name, sub})
		}
	}
	return out
}

func TestEveryCommandAnswersHelpWithUsageAndExitZero(t *testing.T) {
	for _, path := range commandPaths() {
		for _, help := range []string{"--help", "-h"} {
			args := append(append([]string(nil), path...), help)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				err := run(args, &stdout, &stderr)
				if code := exitCode(err, &stderr); code != 0 {
					t.Fatalf("presignd %s: exit %d (err %v), want 0\nstderr: %s", strings.Join(args, " "), code, err, stderr.String())
				}
				if !strings.Contains(stdout.String(), "Usage:") || !strings.Contains(stdout.String(), "presignd "+strings.Join(path, " ")) {
					t.Errorf("presignd %s printed no usage for %q on stdout:\n%s", strings.Join(args, " "), strings.Join(path, " "), stdout.String())
				}
				if stderr.Len() != 0 {
					t.Errorf("presignd %s wrote to stderr: %s", strings.Join(args, " "), stderr.String())
				}
			})
		}
	}
}

func TestEveryFlagHasADescription(t *testing.T) {
	for _, path := range commandPaths() {
		args := append(append([]string(nil), path...), "--help")
		var stdout, stderr bytes.Buffer
		_ = run(args, &stdout, &stderr)
		lines := strings.Split(stdout.String(), "\n")
		for i, line := range lines {
			// PrintDefaults puts each flag on a line starting "  -" and its
			// description on the next, indented with a tab.
			if !strings.HasPrefix(line, "  -") {
				continue
			}
			if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "    \t") || len(strings.TrimSpace(lines[i+1])) < 10 {
				t.Errorf("presignd %s: flag %q has no description", strings.Join(path, " "), strings.TrimSpace(line))
			}
		}
	}
}

func TestHelpCommandAndTopLevelUsage(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		wantCode int
		wantOut  string // on stdout for exit 0, on stderr otherwise
	}{
		{[]string{"--help"}, 0, "presignd version"},
		{[]string{"-h"}, 0, "presignd keys"},
		{[]string{"help"}, 0, "presignd config check FILE"},
		{[]string{"help", "keys", "create"}, 0, "--scopes"},
		{nil, 2, "Usage:"},
		{[]string{"keys"}, 2, "presignd keys create"},
		{[]string{"config"}, 2, "presignd config check FILE"},
		{[]string{"nope"}, 2, "unknown command"},
		{[]string{"serv"}, 2, `unknown command "serv"; did you mean "serve"?`},
		{[]string{"keys", "nope"}, 2, "unknown keys command"},
		{[]string{"serve", "--no-such-flag"}, 2, "flag provided but not defined"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := exitCode(run(tc.args, &stdout, &stderr), &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			out := stdout.String()
			if code != 0 {
				out = stderr.String()
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out)
			}
		})
	}
}

func TestVersionPrintsVersionCommitAndGo(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run([]string{"version"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "presignd ") || !strings.HasPrefix(lines[1], "commit: ") || lines[2] != "go: "+runtime.Version() {
		t.Fatalf("presignd version printed:\n%s", stdout.String())
	}

	version, commit = "v9.9.9", "0123abc"
	defer func() { version, commit = "", "" }()
	stdout.Reset()
	if err := run([]string{"version"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if want := "presignd v9.9.9\ncommit: 0123abc\ngo: " + runtime.Version() + "\n"; stdout.String() != want {
		t.Errorf("with -ldflags values: %q, want %q", stdout.String(), want)
	}
	if err := run([]string{"version", "extra"}, &stdout, &stderr); err == nil || errors.Is(err, errUsage) {
		t.Errorf("version extra: %v, want an error naming the argument", err)
	}
}

func TestRESTURLFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        map[string]string
		want       string
		deprecated bool
	}{
		{"default", nil, "http://localhost:8080", false},
		{"PRESIGND_URL", map[string]string{"PRESIGND_URL": "http://a:1"}, "http://a:1", false},
		{"PRESIGND_URL wins over the old name", map[string]string{"PRESIGND_URL": "http://a:1", "PRESIGND_SERVER": "http://b:2"}, "http://a:1", false},
		{"the old PRESIGND_SERVER still works, with a warning", map[string]string{"PRESIGND_SERVER": "http://b:2"}, "http://b:2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got := restURLFromEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }, &stderr)
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if warned := strings.Contains(stderr.String(), "PRESIGND_SERVER is deprecated, set PRESIGND_URL"); warned != tc.deprecated {
				t.Errorf("deprecation warning %v, want %v: %q", warned, tc.deprecated, stderr.String())
			}
		})
	}
}
