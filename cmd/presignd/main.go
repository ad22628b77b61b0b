// Command presignd runs the presignd storage-signing service.
//
//	presignd serve [--config FILE] [--data-dir DIR] [--http-addr ADDR] [--grpc-addr ADDR] [--public-url URL]
//	presignd keys create|list|revoke --tenant T [...]
//	presignd config check FILE
//	presignd doctor [--config FILE] [--origin ORIGIN ...]
//	presignd upload FILE [--category C] | presignd download ID [--output PATH]
//	presignd healthcheck [--url URL]
//	presignd version
//
// Every command and subcommand prints its usage and exits 0 on -h, --help
// or "presignd help COMMAND".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/presignd/presignd/internal/suggest"
)

// command is one top-level command of presignd.
type command struct {
	name    string
	args    string // what follows the name in the usage line
	summary string
	// subcommands, for help and for the test that walks every command.
	subcommands []string
	run         func(args []string, stdout, stderr io.Writer) error
}

// commands lists every top-level command, in the order usage shows them.
var commands = []command{
	{name: "serve", args: "[flags]", summary: "run the service", run: func(args []string, stdout, stderr io.Writer) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serveCommand(ctx, args, stdout, stderr)
	}},
	{name: "keys", args: "create|list|revoke", summary: "manage API keys in the configured store", subcommands: []string{"create", "list", "revoke"},
		run: func(args []string, stdout, stderr io.Writer) error {
			return keysCommand(context.Background(), args, stdout, stderr)
		}},
	{name: "deny", args: "add|remove|list", summary: "manage the owner values denied per category", subcommands: []string{"add", "remove", "list"},
		run: func(args []string, stdout, stderr io.Writer) error {
			return denyCommand(context.Background(), args, stdout, stderr)
		}},
	{name: "config", args: "check FILE", summary: "validate a configuration file and exit", subcommands: []string{"check"}, run: configCommand},
	{name: "doctor", args: "[--config FILE]", summary: "check every S3, GCS and Azure backend: credentials, clock, CORS, a round trip", run: doctorCommand},
	{name: "upload", args: "FILE", summary: "upload a file through a running presignd", run: func(args []string, stdout, stderr io.Writer) error {
		return transferCommand(append([]string{"upload"}, args...), stdout, stderr)
	}},
	{name: "download", args: "ID", summary: "download a file through a running presignd", run: func(args []string, stdout, stderr io.Writer) error {
		return transferCommand(append([]string{"download"}, args...), stdout, stderr)
	}},
	{name: "healthcheck", args: "[--url URL]", summary: "exit 0 when the readiness URL answers 200", run: healthcheck},
	{name: "version", summary: "print the version, commit and Go version", run: versionCommand},
}

func usage() string {
	var b strings.Builder
	b.WriteString("presignd hands out presigned upload and download URLs and keeps the file records.\n\nUsage:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  presignd %-30s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	b.WriteString("\n\"presignd COMMAND --help\" describes a command and its flags.\n")
	return b.String()
}

// errUsage reports a wrong invocation after its usage was printed.
var errUsage = errors.New("usage")

func main() {
	os.Exit(exitCode(run(os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// exitCode prints err (unless it only reports printed usage) and returns
// the process's exit code: 0 for success and for help that was asked for,
// 2 for anything else.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errChecksFailed):
		// The report says what failed.
		return 1
	default:
		fmt.Fprintln(stderr, "presignd:", err)
		return 2
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return errUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage())
		return nil
	case "help": // "presignd help keys create" is "presignd keys create --help"
		if len(args) == 1 {
			fmt.Fprint(stdout, usage())
			return nil
		}
		return run(append(args[1:], "--help"), stdout, stderr)
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprint(stderr, usage())
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	if s := suggest.Closest(args[0], names); s != "" {
		return fmt.Errorf("unknown command %q; did you mean %q?", args[0], s)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// wantsHelp reports whether args ask for help: -h, -help or --help before
// any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// newFlagSet returns a flag set whose usage is text followed by the flags'
// descriptions. The usage goes to stdout when args ask for help (parsing
// then returns flag.ErrHelp, which exits 0) and to stderr otherwise.
func newFlagSet(name, text string, args []string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	out := stderr
	if wantsHelp(args) {
		out = stdout
	}
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, text)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(out, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

const healthcheckUsage = `Usage:
  presignd healthcheck [--url URL] [--timeout DURATION]

Probes a readiness URL and exits 0 when it answers 200, for container
health checks in images without a shell or curl.
`

// healthcheck probes a readiness URL, for container health checks in images
// without a shell or curl.
func healthcheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", healthcheckUsage, args, stdout, stderr)
	url := fs.String("url", "http://127.0.0.1:8080/readyz", "readiness `URL` to probe")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this `duration`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("healthcheck takes no arguments, got %q", fs.Args())
	}
	client := &http.Client{Timeout: *timeout}
	resp, err := client.Get(*url)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", *url, resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
