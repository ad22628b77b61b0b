// Command presignd runs the presignd storage-signing service.
//
//	presignd serve [--config FILE] [--data-dir DIR] [--http-addr ADDR] [--grpc-addr ADDR] [--public-url URL]
//	presignd keys create|list|revoke --tenant T [...]
//	presignd config check FILE
//	presignd upload FILE [--category C] | presignd download ID [--output PATH]
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
	"syscall"
	"time"

	"github.com/presignd/presignd/config"
)

const usage = `presignd hands out presigned upload and download URLs and keeps the file records.

Usage:
  presignd serve [flags]         run the service (see "presignd serve -h")
  presignd keys create|list|revoke  manage API keys (see "presignd keys")
  presignd config check FILE     validate a configuration file and exit
  presignd upload FILE           upload a file through a running presignd (see "presignd upload -h")
  presignd download ID           download a file through a running presignd
  presignd healthcheck [--url U] exit 0 when U (default http://127.0.0.1:8080/readyz) answers 200
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "presignd:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serveCommand(ctx, args[1:], stdout, stderr)
	case "keys":
		return keysCommand(context.Background(), args[1:], stdout, stderr)
	case "upload", "download":
		return transferCommand(args, stdout, stderr)
	case "config":
		if len(args) != 3 || args[1] != "check" {
			return fmt.Errorf("usage: presignd config check FILE")
		}
		// What serve would run: the file with the PRESIGND_* variables.
		if _, err := config.Build(config.Sources{File: args[2], LookupEnv: os.LookupEnv}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: ok\n", args[2])
		return nil
	case "healthcheck":
		return healthcheck(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// healthcheck probes a readiness URL, for container health checks in images
// without a shell or curl.
func healthcheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080/readyz", "readiness `URL` to probe")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this `duration`")
	if err := fs.Parse(args); err != nil {
		return err
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
