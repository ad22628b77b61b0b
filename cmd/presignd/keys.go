package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/presignd/presignd/auth"
	"github.com/presignd/presignd/config"
	"github.com/presignd/presignd/store"
)

const keysUsage = `Usage:
  presignd keys create --tenant T --scopes S[,S...] [--expires 720h] [--categories a,b]
  presignd keys list   --tenant T
  presignd keys revoke --tenant T ID

Keys work on the store the configuration names (SQLite under the data dir by
default), so run them where "presignd serve" runs, with the same --config and
--data-dir. The secret is printed once, by create, and stored only as a hash.
"presignd keys COMMAND --help" describes a command's flags.
`

// keysSubUsage is each keys command's usage.
var keysSubUsage = map[string]string{
	"create": `Usage:
  presignd keys create --tenant T --scopes S[,S...] [--expires DURATION] [--categories C[,C...]]

Creates an API key for tenant T and prints its ID and its secret, once.
`,
	"list": `Usage:
  presignd keys list --tenant T

Lists tenant T's API keys (never their secrets).
`,
	"revoke": `Usage:
  presignd keys revoke --tenant T ID

Revokes tenant T's API key ID at once on this replica; others stop
accepting it within auth.api_key_cache_ttl.
`,
}

// keysCommand manages API keys directly in the configured store.
func keysCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return errUsage
	}
	sub := args[0]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	text, ok := keysSubUsage[sub]
	if !ok {
		fmt.Fprint(stderr, keysUsage)
		return fmt.Errorf("unknown keys command %q", sub)
	}
	fs := newFlagSet("keys "+sub, text, args[1:], stdout, stderr)
	var (
		configPath = fs.String("config", "", "YAML configuration `file` (default: built-in defaults)")
		dataDir    = fs.String("data-dir", "", "`directory` of the SQLite database (default ./data)")
		tenant     = fs.String("tenant", "", "the key's `tenant` (required)")
		scopes     = new(string)
		categories = new(string)
		expires    = new(time.Duration)
	)
	if sub == "create" {
		fs.StringVar(scopes, "scopes", "", "comma-separated `scopes` the key grants: files:upload, files:read, files:delete, admin, owner:headers (required)")
		fs.StringVar(categories, "categories", "", "comma-separated `categories` the key is limited to (default: all)")
		fs.DurationVar(expires, "expires", 0, "the key expires after this `duration`, e.g. 720h (default: never)")
	}
	// Flags may come before or after the key ID.
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if *tenant == "" {
		fs.Usage()
		return errors.New("keys: --tenant is required")
	}
	// The same configuration serve would use: file < PRESIGND_* < flags.
	cfg, err := config.Build(config.Sources{File: *configPath, LookupEnv: os.LookupEnv, Override: func(c *config.Config) {
		if *dataDir != "" {
			c.DataDir = *dataDir
		}
	}})
	if err != nil {
		return err
	}

	switch sub {
	case "create", "list":
		if len(positional) > 0 {
			return fmt.Errorf("keys %s takes no arguments, got %q", sub, positional)
		}
	case "revoke":
		if len(positional) != 1 {
			return errors.New("keys revoke: name exactly one key ID")
		}
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
	case "create":
		secret, k, err := auth.NewAPIKey(auth.NewKeyOptions{
			Tenant: *tenant, Scopes: splitList(*scopes), Categories: splitList(*categories), TTL: *expires,
		})
		if err != nil {
			return fmt.Errorf("keys create: %w", err)
		}
		if err := st.CreateAPIKey(ctx, k); err != nil {
			return fmt.Errorf("keys create: %w", err)
		}
		fmt.Fprintf(stdout, "id:      %s\ntenant:  %s\nscopes:  %s\n", k.ID, k.Tenant, strings.Join(k.Scopes, ","))
		if len(k.Categories) > 0 {
			fmt.Fprintf(stdout, "categories: %s\n", strings.Join(k.Categories, ","))
		}
		if !k.ExpiresAt.IsZero() {
			fmt.Fprintf(stdout, "expires: %s\n", k.ExpiresAt.Format(time.RFC3339))
		}
		fmt.Fprintf(stdout, "secret:  %s\n(the secret is shown only now; store it safely)\n", secret)
		return nil
	case "list":
		keys, err := st.ListAPIKeys(ctx, *tenant)
		if err != nil {
			return fmt.Errorf("keys list: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPREFIX\tSCOPES\tCATEGORIES\tCREATED BY\tCREATED\tEXPIRES\tREVOKED")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, strings.Join(k.Scopes, ","),
				orDash(strings.Join(k.Categories, ",")), createdBy(k), when(k.CreatedAt), when(k.ExpiresAt), when(k.RevokedAt))
		}
		return tw.Flush()
	default: // revoke
		k, err := st.RevokeAPIKey(ctx, *tenant, positional[0], time.Now().UTC())
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("keys revoke: tenant %q has no key %q", *tenant, positional[0])
		}
		if err != nil {
			return fmt.Errorf("keys revoke: %w", err)
		}
		fmt.Fprintf(stdout, "revoked %s (%s…) at %s, and every key it created\n", k.ID, k.Prefix, k.RevokedAt.Format(time.RFC3339))
		return nil
	}
}

// createdBy names the credential that created k: its parent key's ID, the
// JWT's issuer and subject, or "-" for a key made by the operator.
func createdBy(k *store.APIKey) string {
	switch {
	case k.ParentID != "":
		return k.ParentID
	case k.CreatorIssuer != "" || k.CreatorSubject != "":
		return fmt.Sprintf("jwt %s %s", orDash(k.CreatorIssuer), orDash(k.CreatorSubject))
	}
	return "-"
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
