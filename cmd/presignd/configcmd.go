package main

import (
	"fmt"
	"io"
	"os"

	"github.com/presignd/presignd/config"
)

const configUsage = `Usage:
  presignd config check FILE

check reads FILE with the PRESIGND_* environment variables applied, as
"presignd serve --config FILE" would, and reports every problem at once,
each with its key, its line in FILE and, for an unknown key, the key meant.
Every setting is described in docs/config.md.
`

func configCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return errUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, configUsage)
		return nil
	case "check":
	default:
		fmt.Fprint(stderr, configUsage)
		return fmt.Errorf("unknown config command %q", args[0])
	}
	fs := newFlagSet("config check", configUsage, args[1:], stdout, stderr)
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		fs.Usage()
		return fmt.Errorf("config check takes exactly one FILE")
	}
	// What serve would run: the file with the PRESIGND_* variables.
	cfg, err := config.Build(config.Sources{File: positional[0], LookupEnv: os.LookupEnv})
	if err != nil {
		return err
	}
	if _, err := cfg.Events.WebhookSecrets(os.LookupEnv); err != nil {
		return fmt.Errorf("config %s: %w", positional[0], err)
	}
	fmt.Fprintf(stdout, "%s: ok\n", positional[0])
	return nil
}
