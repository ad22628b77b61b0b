package archtest

import (
	"go/build"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/presignd/presignd"

// grpcStatusPackages turn errors into gRPC statuses: only the server (and
// the programs and tests around it) may use them; everything below returns
// sentinel errors.
var grpcStatusPackages = []string{"google.golang.org/grpc/codes", "google.golang.org/grpc/status"}

// mayUseGRPCStatus are the folders whose code may import
// grpcStatusPackages.
var mayUseGRPCStatus = []string{"server", "gen", "cmd", "clients", "e2e", "bench"}

// driverFamilies are the folders whose subfolders are drivers of one
// interface: a driver imports its family's root and shared internal
// packages, never another driver, never the other family, the server or
// the generated API.
var driverFamilies = []string{"signer", "store"}

// consumers use the interfaces and must not reach for a driver.
var consumers = []string{"server", "sweeper", "events", "auth", "policy", "scanner", "thumbnail"}

// violations returns every broken rule in imports, which maps each
// package's path within the module ("signer/s3") to the packages its
// non-test files import (full import paths).
func violations(imports map[string][]string) []string {
	var out []string
	deps := func(pkg string) []string { // module packages pkg needs, directly or not
		seen := map[string]bool{}
		var walk func(p string)
		walk = func(p string) {
			for _, imp := range imports[p] {
				rel, ok := strings.CutPrefix(imp, module+"/")
				if !ok || seen[rel] {
					continue
				}
				seen[rel] = true
				walk(rel)
			}
		}
		walk(pkg)
		list := make([]string, 0, len(seen))
		for d := range seen {
			list = append(list, d)
		}
		sort.Strings(list)
		return list
	}
	under := func(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	pkgs := make([]string, 0, len(imports))
	for p := range imports {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		top := strings.SplitN(pkg, "/", 2)[0]
		allowed := false
		for _, dir := range mayUseGRPCStatus {
			allowed = allowed || top == dir
		}
		if !allowed {
			for _, imp := range imports[pkg] {
				for _, banned := range grpcStatusPackages {
					if imp == banned {
						out = append(out, pkg+" imports "+imp+": gRPC status codes belong in server/; return a sentinel error wrapped with %w")
					}
				}
			}
		}
		for _, family := range driverFamilies {
			parts := strings.Split(pkg, "/")
			if parts[0] != family || len(parts) < 2 || parts[1] == "internal" {
				continue
			}
			driver := family + "/" + parts[1]
			for _, dep := range deps(pkg) {
				switch {
				case under(dep, "server"), under(dep, "gen"):
					out = append(out, pkg+" depends on "+dep+": drivers must not import server/ or gen/")
				case dep == family, under(dep, family+"/internal"), under(dep, driver), under(dep, "internal"):
				case under(dep, family):
					out = append(out, pkg+" depends on "+dep+": a driver must not import another driver")
				}
				for _, other := range driverFamilies {
					if other != family && under(dep, other) {
						out = append(out, pkg+" depends on "+dep+": "+family+" drivers must not import "+other+"/")
					}
				}
			}
		}
		for _, c := range consumers {
			if !under(pkg, c) {
				continue
			}
			for _, dep := range deps(pkg) {
				for _, family := range driverFamilies {
					if under(dep, family) && dep != family && !strings.HasPrefix(dep, family+"/internal") {
						out = append(out, pkg+" depends on "+dep+": "+c+" uses the "+family+" interface, never a driver")
					}
				}
			}
		}
	}
	return out
}

// TestImportRulesCatchViolations shows each rule failing on a deliberate
// violation, so that the rules cannot pass by checking nothing.
func TestImportRulesCatchViolations(t *testing.T) {
	for _, tc := range []struct {
		name    string
		imports map[string][]string
		want    string
	}{
		{"a signer driver importing a store driver", map[string][]string{"signer/s3": {module + "/store/sqlite"}, "store/sqlite": {module + "/store"}}, "signer/s3 depends on store/sqlite"},
		{"a signer driver importing another", map[string][]string{"signer/gcs": {module + "/signer/local"}}, "a driver must not import another driver"},
		{"a store driver reaching server/ through a package", map[string][]string{"store/postgres": {module + "/internal/x"}, "internal/x": {module + "/server"}}, "store/postgres depends on server"},
		{"a store driver importing gen/", map[string][]string{"store/sqlite": {module + "/gen/presignd/v1"}}, "drivers must not import server/ or gen/"},
		{"gRPC codes below the server", map[string][]string{"store/sqlite": {"google.golang.org/grpc/codes"}}, "store/sqlite imports google.golang.org/grpc/codes"},
		{"gRPC status in policy/", map[string][]string{"policy": {"google.golang.org/grpc/status"}}, "policy imports google.golang.org/grpc/status"},
		{"the server importing a driver", map[string][]string{"server": {module + "/signer/s3"}}, "server uses the signer interface, never a driver"},
		{"the malware scanner importing a store driver", map[string][]string{"scanner": {module + "/store/postgres"}}, "scanner uses the store interface, never a driver"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(violations(tc.imports), "\n")
			if !strings.Contains(got, tc.want) {
				t.Errorf("violations = %q, want one containing %q", got, tc.want)
			}
		})
	}
	allowed := map[string][]string{
		"signer/gcs":           {module + "/signer", module + "/internal/bytesize"},
		"signer/gcs/gcstest":   {module + "/signer/gcs"},
		"store/sqlite":         {module + "/store", module + "/store/internal/migration"},
		"server":               {module + "/signer", module + "/store", "google.golang.org/grpc/codes"},
		"cmd/presignd":         {module + "/signer/s3", module + "/store/sqlite", module + "/server"},
		"clients/go/example":   {"google.golang.org/grpc/status"},
		"store/internal/words": nil,
	}
	if v := violations(allowed); len(v) != 0 {
		t.Errorf("allowed imports reported: %q", v)
	}
}

// TestImportRules checks the module's own packages (their non-test
// files).
func TestImportRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	imports := map[string][]string{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "third_party") {
			return filepath.SkipDir
		}
		if p != root {
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // another module (tools/)
			}
		}
		pkg, err := build.ImportDir(p, 0)
		if err != nil {
			return nil // no Go files, or only tests
		}
		rel, _ := filepath.Rel(root, p)
		imports[path.Clean(filepath.ToSlash(rel))] = pkg.Imports
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) < 20 {
		t.Fatalf("found only %d packages under %s; the walk is broken", len(imports), root)
	}
	for _, v := range violations(imports) {
		t.Error(v)
	}
}
