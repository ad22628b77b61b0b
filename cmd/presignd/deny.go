package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"text/tabwriter"
	"time"

	"github.com/presignd/presignd/config"
	"github.com/presignd/presignd/policy"
	"github.com/presignd/presignd/store"
)

const denyUsage = `Usage:
  presignd deny add    --tenant T --category C --field F --value V [--reason TEXT]
  presignd deny remove --tenant T --category C --field F --value V
  presignd deny list   --tenant T [--category C]

A deny entry refuses tenant T's callers every file of category C whose owner
field F is V (a blacklisted customer): CreateUpload, ListFiles, CheckName and
GetUsage naming it are PermissionDenied, calls on its stored files NotFound.
The commands work on the store the configuration names, like "presignd
keys"; running replicas apply a change within 5 seconds (their deny-list
cache). The AdminService's AddDenyEntry, RemoveDenyEntry and
ListDenyEntries do the same over the API.
"presignd deny COMMAND --help" describes a command's flags.
`

var denySubUsage = map[string]string{
	"add": `Usage:
  presignd deny add --tenant T --category C --field F --value V [--reason TEXT]

Denies owner.F = V in category C to tenant T's callers.
`,
	"remove": `Usage:
  presignd deny remove --tenant T --category C --field F --value V

Lifts the entry denying owner.F = V in category C to tenant T.
`,
	"list": `Usage:
  presignd deny list --tenant T [--category C]

Lists tenant T's deny entries.
`,
}

var ownerFieldName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// denyCommand manages deny entries directly in the configured store.
func denyCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, denyUsage)
		return errUsage
	}
	sub := args[0]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, denyUsage)
		return nil
	}
	text, ok := denySubUsage[sub]
	if !ok {
		fmt.Fprint(stderr, denyUsage)
		return fmt.Errorf("unknown deny command %q", sub)
	}
	fs := newFlagSet("deny "+sub, text, args[1:], stdout, stderr)
	var (
		configPath = fs.String("config", "", "YAML configuration `file` (default: built-in defaults)")
		dataDir    = fs.String("data-dir", "", "`directory` of the SQLite database (default ./data)")
		tenant     = fs.String("tenant", "", "the entry's `tenant` (required)")
		category   = fs.String("category", "", "the `category` whose files the entry denies")
		field      = new(string)
		value      = new(string)
		reason     = new(string)
	)
	if sub != "list" {
		fs.StringVar(field, "field", "", "the owner `field`, such as customer_id (required)")
		fs.StringVar(value, "value", "", "the denied `value` of the field (required)")
	}
	if sub == "add" {
		fs.StringVar(reason, "reason", "", "a `note` for people, such as why")
	}
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return fmt.Errorf("deny %s takes no arguments, got %q", sub, positional)
	}
	switch {
	case *tenant == "":
		fs.Usage()
		return errors.New("deny: --tenant is required")
	case sub != "list" && (*category == "" || *field == "" || *value == ""):
		fs.Usage()
		return fmt.Errorf("deny %s: --category, --field and --value are required", sub)
	case sub != "list" && !ownerFieldName.MatchString(*field):
		return fmt.Errorf("deny %s: --field %q is not an owner field name (%s)", sub, *field, ownerFieldName)
	case len(*value) > 256 || len(*reason) > 1024:
		return fmt.Errorf("deny %s: --value is at most 256 bytes and --reason 1024", sub)
	}
	cfg, err := config.Build(config.Sources{File: *configPath, LookupEnv: os.LookupEnv, Override: func(c *config.Config) {
		if *dataDir != "" {
			c.DataDir = *dataDir
		}
	}})
	if err != nil {
		return err
	}
	if _, ok := cfg.Categories[*category]; sub == "add" && !ok && *category != policy.DefaultCategory {
		return fmt.Errorf("deny add: the configuration has no category %q", *category)
	}
	if cfg.Store.Driver == "sqlite" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	st, err := openStore(ctx, cfg, newLogger(cfg.Log, stderr))
	if err != nil {
		return err
	}
	defer st.Close()

	switch sub {
	case "add":
		e := &store.DenyEntry{Tenant: *tenant, Category: *category, Field: *field, Value: *value, Reason: *reason, CreatedAt: time.Now().UTC()}
		err := st.AddDenyEntry(ctx, e)
		if errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("deny add: category %q of tenant %q already denies owner.%s %q", *category, *tenant, *field, *value)
		}
		if err != nil {
			return fmt.Errorf("deny add: %w", err)
		}
		fmt.Fprintf(stdout, "denied owner.%s %q in category %q of tenant %q (running replicas apply it within 5s)\n", *field, *value, *category, *tenant)
		return nil
	case "remove":
		err := st.RemoveDenyEntry(ctx, *tenant, *category, *field, *value)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("deny remove: category %q of tenant %q has no entry for owner.%s %q", *category, *tenant, *field, *value)
		}
		if err != nil {
			return fmt.Errorf("deny remove: %w", err)
		}
		fmt.Fprintf(stdout, "removed the entry denying owner.%s %q in category %q of tenant %q\n", *field, *value, *category, *tenant)
		return nil
	default: // list
		list, err := st.ListDenyEntries(ctx, *tenant)
		if err != nil {
			return fmt.Errorf("deny list: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CATEGORY\tFIELD\tVALUE\tCREATED\tREASON")
		for _, e := range list {
			if *category == "" || e.Category == *category {
				fmt.Fprintf(tw, "%s\t%s\t%q\t%s\t%s\n", e.Category, e.Field, e.Value, when(e.CreatedAt), orDash(e.Reason))
			}
		}
		return tw.Flush()
	}
}
