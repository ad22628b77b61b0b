package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at link time to override what the build info says, e.g.
// go build -ldflags "-X main.version=v1.2.3 -X main.commit=abc1234" ./cmd/presignd
var (
	version string
	commit  string
)

// buildVersion returns the version, commit and Go version of this binary:
// the -ldflags values when set, else the module version and VCS stamp that
// "go build" records ("(devel)" and "unknown" when neither says more).
func buildVersion() (ver, rev, goVersion string) {
	ver, rev, goVersion = version, commit, runtime.Version()
	info, ok := debug.ReadBuildInfo()
	if ok {
		if ver == "" {
			ver = info.Main.Version
		}
		if rev == "" {
			var modified bool
			for _, s := range info.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value == "true"
				}
			}
			if rev != "" && modified {
				rev += " (modified)"
			}
		}
	}
	if ver == "" {
		ver = "(devel)"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev, goVersion
}

const versionUsage = `Usage:
  presignd version

Prints the version, the commit it was built from and the Go version.
`

func versionCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", versionUsage, args, stdout, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("version takes no arguments, got %q", fs.Args())
	}
	ver, rev, goVersion := buildVersion()
	fmt.Fprintf(stdout, "presignd %s\ncommit: %s\ngo: %s\n", ver, rev, goVersion)
	return nil
}
